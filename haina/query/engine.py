"""Where report SQL runs: DuckDB (the embedded store) or ClickHouse (chdb in-process).

Both engines take the SQL a report built for their dialect and its parameters, and return
rows as tuples of plain Python values (int, float, str, None, lists of those).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import duckdb
import pyarrow as pa

from haina.query.dialect import CLICKHOUSE, DUCKDB, Dialect

T = TypeVar("T")


class Engine(Protocol):
    dialect: Dialect

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """A statement (DDL, INSERT ... SELECT, DELETE): what keeps derived tables."""

    def arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        """A query's result as an Arrow table (large results, read column by column)."""


class QueryTooLarge(Exception):
    """A report query ran out of time or memory: narrow the range or the filters."""


class DuckDBEngine:
    """Runs on a DuckDB connection or cursor holding the `events` table.

    With `timeout` (seconds) a query that runs longer is interrupted; a query that needs more
    memory than DuckDB's `memory_limit` fails; both raise QueryTooLarge, so one heavy report
    cannot take the machine from collection."""

    dialect = DUCKDB

    def __init__(self, conn: duckdb.DuckDBPyConnection, timeout: float | None = None) -> None:
        self.conn = conn
        self.timeout = timeout

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._run(sql, params, lambda c, q, v: c.execute(q, v).fetchall())

    def arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        return self._run(sql, params, lambda c, q, v: c.sql(q, params=v).to_arrow_table())

    def _run(
        self, sql: str, params: dict[str, Any], fetch: Callable[[Any, str, dict[str, Any]], T]
    ) -> T:
        used = _used(sql, params)
        timer = threading.Timer(self.timeout, self.conn.interrupt) if self.timeout else None
        if timer is not None:
            timer.start()
        try:
            return fetch(self.conn, sql, used)
        except duckdb.InterruptException as exc:
            raise QueryTooLarge(
                f"the query ran longer than {self.timeout:g} s and was stopped; "
                "narrow the date range or add filters"
            ) from exc
        except duckdb.OutOfMemoryException as exc:
            raise QueryTooLarge(
                "the query needs more memory than the store may use "
                "(HAINA_DUCKDB_REPORT_MEMORY_LIMIT); narrow the date range or add filters"
            ) from exc
        finally:
            if timer is not None:
                timer.cancel()

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.conn.execute(sql, _used(sql, params or {}))


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters the text uses: DuckDB refuses others (a report may add one it then
    skips)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


class ChdbEngine:
    """Runs on a chdb session holding the `events` table (see store/events/clickhouse.py)."""

    dialect = CLICKHOUSE

    def __init__(self, session: Any) -> None:
        self.session = session

    def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        columns = [col.to_pylist() for col in self.arrow(sql, params).columns]
        return list(zip(*columns, strict=True)) if columns else []

    def arrow(self, sql: str, params: dict[str, Any]) -> pa.Table:
        text = {k: _ch_text(v) for k, v in params.items()}
        # Standard SQL outer joins (NULL, not the type's default, where nothing matched).
        table: pa.Table = self.session.query(
            sql + "\nSETTINGS join_use_nulls = 1", "ArrowTable", params=text
        )
        return table

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        text = {k: _ch_text(v) for k, v in (params or {}).items()}
        if sql.lstrip().upper().startswith(("INSERT", "CREATE TEMPORARY TABLE")):
            sql += "\nSETTINGS join_use_nulls = 1"  # their SELECT joins as SQL does
        self.session.query(sql, params=text)


def _ch_text(value: Any) -> str:
    """A parameter value as ClickHouse parses it for its declared type (data, not SQL)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_ch_element(v) for v in value) + "]"
    if isinstance(value, str):
        return _escaped(value)
    return str(value)


def _escaped(text: str) -> str:
    """ClickHouse reads parameter values in its escaped format: backslash, tab and newline
    must be escaped, or `a\\b` arrives as `ab` (or not at all)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _ch_element(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return _ch_text(value)
