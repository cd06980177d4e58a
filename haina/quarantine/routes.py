"""Quarantine API: list, show and replay a workspace's quarantined messages."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request

from haina.auth.deps import CurrentWorkspace
from haina.quarantine.service import discard, list_entries, replay, show_entry
from haina.workspaces import NotFound

router = APIRouter(prefix="/api/v1/quarantine", tags=["quarantine"])


@router.get("", summary="List quarantined messages, newest first")
async def list_quarantine(
    request: Request,
    token: CurrentWorkspace,
    status: Annotated[str | None, Query(pattern="^(new|replayed|discarded)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    entries = await asyncio.to_thread(
        list_entries, conn, token.workspace_id, status=status, limit=limit, offset=offset
    )
    return {"entries": [e.as_dict(with_payload=False) for e in entries]}


@router.get("/{entry_id}", summary="One quarantined message with its raw payload")
async def show_quarantine(
    request: Request, token: CurrentWorkspace, entry_id: str
) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    try:
        entry = await asyncio.to_thread(show_entry, conn, token.workspace_id, entry_id)
    except NotFound as exc:
        raise HTTPException(
            404, {"code": "not_found", "field": "entry_id", "message": str(exc)}
        ) from exc
    return entry.as_dict()


@router.post("/replay", summary="Re-run the pipeline on quarantined messages")
async def replay_quarantine(
    request: Request,
    token: CurrentWorkspace,
    ids: Annotated[list[str] | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    state = request.app.state
    try:
        report = await replay(
            state.collector, await state.writer.reader_async(), token.workspace_id, ids
        )
    except NotFound as exc:
        raise HTTPException(
            404, {"code": "not_found", "field": "ids", "message": str(exc)}
        ) from exc
    return report.as_dict()


@router.post("/discard", summary="Mark quarantined messages as discarded (never replayed)")
async def discard_quarantine(
    request: Request,
    token: CurrentWorkspace,
    ids: Annotated[list[str], Body(embed=True, min_length=1)],
) -> dict[str, Any]:
    state = request.app.state
    try:
        n = await discard(
            state.collector, await state.writer.reader_async(), token.workspace_id, ids
        )
    except NotFound as exc:
        raise HTTPException(
            404, {"code": "not_found", "field": "ids", "message": str(exc)}
        ) from exc
    return {"discarded": n}
