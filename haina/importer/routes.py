"""POST /api/v1/import: one file's mapped rows, committed in one transaction."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from haina.auth.deps import CurrentWorkspace
from haina.collect.service import import_batch
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
