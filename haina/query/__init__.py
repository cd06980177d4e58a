"""The query layer every report (and later segments, scoring, journeys) reads through."""

from haina.query.dialect import CLICKHOUSE, DUCKDB, Dialect, Params
from haina.query.engine import ChdbEngine, DuckDBEngine, Engine
from haina.query.filters import Filter, FilterGroup, PropertyFilter
from haina.query.scope import ReportContext, ReportQuery, ReportSettings, Scope, resolve_range

__all__ = [
    "CLICKHOUSE",
    "DUCKDB",
    "ChdbEngine",
    "Dialect",
    "DuckDBEngine",
    "Engine",
    "Filter",
    "FilterGroup",
    "Params",
    "PropertyFilter",
    "ReportContext",
    "ReportQuery",
    "ReportSettings",
    "Scope",
    "resolve_range",
]
