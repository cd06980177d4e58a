"""POST /api/v1/import: one file's mapped rows, committed in one transaction."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.collect.service import import_batch
from haina.importer.mapping import Mapping, rows_to_messages
from haina.workspaces import source_by_name
from haina.workspaces.plans import load_plan

router = APIRouter(prefix="/api/v1", tags=["import"])


@router.post("/import", summary="Import mapped rows of one file atomically")
async def import_rows(
    request: Request,
    token: CurrentWorkspace,
    items: Annotated[list[tuple[int, dict[str, Any]]], Body(description="(line, message)")],
    errors: Annotated[list[dict[str, Any]], Body(description="rows that could not be mapped")],
    file_name: Annotated[str, Body()] = "upload",
    source: Annotated[str, Body(description="source name; created as kind import")] = "import",
) -> dict[str, Any]:
    state = request.app.state
    info = source_by_name(state.meta, token.workspace_id, source, "import")
    batch, report = await asyncio.to_thread(
        import_batch,
        state.collector,
        info,
        load_plan(state.meta, token.workspace_id),
        items,
        errors,
        file_name,
    )
    written = await asyncio.wrap_future(state.writer.submit(batch))
    return {
        "stored": written.stored,
        "duplicates": written.duplicates,
        "quarantined": len(report),
        "errors": report,
    }


@router.post("/contacts/import", summary="Import a contact list (CSV or NDJSON text)")
async def import_contacts(
    request: Request,
    token: CurrentWorkspace,
    data: Annotated[str, Body(description="the file's text: CSV with a header, or NDJSON")],
    mapping: Annotated[dict[str, Any], Body(description="message field → column")] = {},  # noqa: B006
    format: Annotated[str, Body(description="csv or ndjson")] = "csv",
    file_name: Annotated[str, Body()] = "contacts",
    source: Annotated[str, Body(description="source name; created as kind import")] = "contacts",
) -> dict[str, Any]:
    """Each row becomes an identify call of one person (docs/profiles.md#contact-import):
    rows merge into existing profiles by their identifiers; bad rows are quarantined and
    reported with their line numbers; the good rows land in one transaction."""
    try:
        m = Mapping.from_dict({**mapping, "contacts": True})
        good, bad = rows_to_messages(data.encode(), format, m, file_name)
    except ValueError as exc:
        raise HTTPException(
            422, {"code": "invalid_mapping", "field": "mapping", "message": str(exc)}
        ) from exc
    errors = [{"line": b.line, "field": b.field, "reason": b.reason, "row": b.row} for b in bad]
    return await import_rows(request, token, good, errors, file_name, source)
