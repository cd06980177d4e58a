"""The event table in ClickHouse: the same columns as DuckDB's, ClickHouse types.

Used through chdb (ClickHouse in-process) by the tests and the report benchmark; the
scale-out backend will use the same DDL through clickhouse-connect.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from haina.store.events.schema import EVENT_COLUMNS

_TYPES = {
    "VARCHAR": "Nullable(String)",
    "JSON": "Nullable(String)",
    "TIMESTAMP": "Nullable(DateTime64(6, 'UTC'))",
    "BOOLEAN": "Nullable(Bool)",
}
# Sorting-key columns cannot be Nullable; every stored event has both.
_NOT_NULL = {"workspace_id": "String", "timestamp": "DateTime64(6, 'UTC')"}


def ddl(table: str = "events") -> str:
    cols = ", ".join(f"`{c}` {_NOT_NULL.get(c) or _TYPES[t]}" for c, t in EVENT_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ({cols}) "
        "ENGINE = MergeTree ORDER BY (workspace_id, timestamp)"
    )


def insert_arrow(session: Any, events: pa.Table, table: str = "events") -> None:
    """Insert an Arrow table of events (DuckDB's export shape: naive UTC timestamps)."""
    names = ", ".join(f"`{c}`" for c, _ in EVENT_COLUMNS)
    session.query(ddl(table))
    batch = events.select([c for c, _ in EVENT_COLUMNS])  # noqa: F841 (chdb reads it by name)
    session.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(batch)")
