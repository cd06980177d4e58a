"""Importing offline behaviour (store visits, trials, sales calls, check-ins) from CSV/NDJSON."""

from haina.importer.mapping import Mapping, RowError, read_rows, rows_to_messages

__all__ = ["Mapping", "RowError", "read_rows", "rows_to_messages"]
