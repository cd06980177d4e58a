"""Export every stored field of a workspace's events for a time range.

DuckDB writes the file (COPY ... TO), so exports of millions of rows stream from disk without
holding them in Python. JSON columns (properties, traits, context, extra) come out as nested
JSON in NDJSON and Parquet-as-text / JSON text in CSV.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from haina.store.events.schema import EVENT_COLUMN_NAMES

FORMATS = {
    "ndjson": "(FORMAT json)",
    "csv": "(FORMAT csv, HEADER true)",
    "parquet": "(FORMAT parquet)",
}
MEDIA_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


def export_query(
    workspace_id: str, start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]]:
    cols = ", ".join(f'"{c}"' for c in EVENT_COLUMN_NAMES if c != "workspace_id")
    sql = f"SELECT {cols} FROM events WHERE workspace_id = ?"
    params: list[Any] = [workspace_id]
    if start is not None:
        sql += ' AND "timestamp" >= ?'
        params.append(start)
    if end is not None:
        sql += ' AND "timestamp" < ?'
        params.append(end)
    return sql + ' ORDER BY "timestamp", message_id', params


def export_to_file(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    fmt: str,
    dest: Path,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write the events to `dest` in `fmt`; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    sql, params = export_query(workspace_id, start, end)
    # COPY cannot take parameters inside its query: bind them through a temp view.
    conn.execute(f"CREATE OR REPLACE TEMP VIEW export_rows AS {_inline(sql, params)}")
    try:
        conn.execute(f"COPY export_rows TO '{_quote(str(dest))}' {FORMATS[fmt]}")
        row = conn.execute("SELECT count(*) FROM export_rows").fetchone()
    finally:
        conn.execute("DROP VIEW IF EXISTS export_rows")
    return int(row[0]) if row else 0


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _inline(sql: str, params: list[Any]) -> str:
    """Substitute ? with SQL literals (values are workspace ids and datetimes we built)."""
    out = sql
    for value in params:
        if isinstance(value, datetime):
            lit = f"TIMESTAMP '{value.replace(tzinfo=None).isoformat(sep=' ')}'"
        else:
            lit = f"'{_quote(str(value))}'"
        out = out.replace("?", lit, 1)
    return out
