"""Exporting a workspace's raw events (NDJSON, CSV, Parquet)."""

from haina.export.service import FORMATS, export_to_file

__all__ = ["FORMATS", "export_to_file"]
