"""GET /api/v1/events/export: stream a workspace's events."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import duckdb
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from haina.auth.deps import CurrentWorkspace
from haina.export.service import MEDIA_TYPES, export_to_file

router = APIRouter(prefix="/api/v1", tags=["export"])


def _stream(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 16):
                yield chunk
    finally:
        path.unlink(missing_ok=True)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@router.get("/events/export", summary="Export raw events with every stored field")
async def export_events(
    request: Request,
    token: CurrentWorkspace,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
    format: Annotated[Literal["ndjson", "csv", "parquet"], Query()] = "ndjson",
) -> StreamingResponse:
    writer = request.app.state.writer
    fd, name = tempfile.mkstemp(prefix="haina-export-", suffix="." + format)
    os.close(fd)
    path = Path(name)
    start, end = _utc(from_), _utc(to)
    conn = await writer.reader_async()

    def run() -> int:
        # A whole workspace sorted by time needs more than collection's memory limit.
        with writer.report_memory():
            return export_to_file(conn, token.workspace_id, format, path, start, end)

    try:
        rows = await asyncio.to_thread(run)
    except duckdb.OutOfMemoryException as exc:
        path.unlink(missing_ok=True)
        raise HTTPException(
            503,
            {
                "code": "export_too_large",
                "field": "from",
                "message": f"the export does not fit in memory ({exc}); export a shorter "
                "range with from/to",
            },
            headers={"Retry-After": "60"},
        ) from exc
    return StreamingResponse(
        _stream(path),
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="events.{format}"',
            "X-Haina-Rows": str(rows),
        },
    )
