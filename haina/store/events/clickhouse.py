"""The event table in ClickHouse: the same columns as DuckDB's, ClickHouse types.

Used through chdb (ClickHouse in-process) by the tests and the report benchmark; the
scale-out backend will use the same DDL through clickhouse-connect.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from haina.store.events.schema import DERIVED_TABLES, EVENT_COLUMNS, KEPT_TABLES

_TYPES = {
    "VARCHAR": "Nullable(String)",
    "JSON": "Nullable(String)",
    "TIMESTAMP": "Nullable(DateTime64(6, 'UTC'))",
    "BOOLEAN": "Nullable(Bool)",
    "BIGINT": "Nullable(Int64)",
    "DOUBLE": "Nullable(Float64)",
}
# Sorting-key columns cannot be Nullable; every stored event has both.
_NOT_NULL = {"workspace_id": "String", "timestamp": "DateTime64(6, 'UTC')"}


def ddl(table: str = "events") -> str:
    cols = ", ".join(f"`{c}` {_NOT_NULL.get(c) or _TYPES[t]}" for c, t in EVENT_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ({cols}) "
        "ENGINE = MergeTree ORDER BY (workspace_id, timestamp)"
    )


# Derived tables (haina/query/stored.py): their sorting keys.
_DERIVED_ORDER = {
    "stored_sessions": ("workspace_id", "start"),
    "session_events": ("workspace_id", "sstart"),
    "derive_queue": ("workspace_id",),
    "derive_moves": ("workspace_id",),
    "derive_people": ("workspace_id", "person"),
    "derive_state": ("workspace_id",),
    "identity_queue": ("workspace_id",),
    "identity_nodes": ("workspace_id", "id_type", "id_value"),
    "identity_edges": ("workspace_id", "edge"),
    "identity_merges": ("workspace_id", "person_id"),
    "identity_state": ("workspace_id",),
    "person_tags": ("workspace_id", "person_id"),
    "person_scores": ("workspace_id", "person_id"),
    "identity_blocks": ("workspace_id",),
    "segment_members": ("workspace_id", "segment_id"),
    "manual_tags": ("workspace_id", "id_type", "id_value"),
    "score_history": ("workspace_id", "person_id"),
}


def derived_ddl() -> list[str]:
    """The derived tables, sorting-key columns not Nullable."""
    out = []
    for name, cols in {**DERIVED_TABLES, **KEPT_TABLES}.items():
        key = _DERIVED_ORDER[name]
        typed = ", ".join(
            f"`{c}` " + (_TYPES[t].removeprefix("Nullable(")[:-1] if c in key else _TYPES[t])
            for c, t in cols
        )
        out.append(
            f"CREATE TABLE IF NOT EXISTS {name} ({typed}) "
            f"ENGINE = MergeTree ORDER BY ({', '.join(key)})"
        )
    return out


def ensure_derived(session: Any) -> None:
    """Create the derived tables; drop first any of an older layout (they are a cache of
    `events`, re-derived by the next refresh), as open_duckdb does for DuckDB."""
    for name, cols in DERIVED_TABLES.items():
        found = str(
            session.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() "
                f"AND table = '{name}' ORDER BY position",
                "CSV",
            )
        ).split()
        if found and [c.strip('"') for c in found] != [c for c, _ in cols]:
            session.query(f"DROP TABLE {name}")
            if name != "derive_state":
                session.query("DROP TABLE IF EXISTS derive_state")
    for statement in derived_ddl():
        session.query(statement)


def insert_arrow(session: Any, events: pa.Table, table: str = "events") -> None:
    """Insert an Arrow table of events (DuckDB's export shape: naive UTC timestamps)."""
    names = ", ".join(f"`{c}`" for c, _ in EVENT_COLUMNS)
    session.query(ddl(table))
    ensure_derived(session)
    batch = events.select([c for c, _ in EVENT_COLUMNS])  # noqa: F841 (chdb reads it by name)
    session.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(batch)")


def insert_table(session: Any, table: str, rows: pa.Table) -> None:
    """Insert an Arrow table into a table of the same column names (a derived one)."""
    names = ", ".join(f"`{c}`" for c in rows.column_names)
    batch = rows  # noqa: F841 (chdb reads it by name)
    session.query(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(batch)")
