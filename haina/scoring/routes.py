"""Lead-scoring API: the model, and recomputing tags, scores and segments now.
(docs/scoring.md)"""

# No `from __future__ import annotations`: FastAPI reads the handlers' types at runtime.

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.segments.refresher import PeopleRefresher
from haina.workspaces.keys import SettingError, effective_settings, update_settings

router = APIRouter(prefix="/api/v1/scoring", tags=["scoring"])


@router.get("/model", summary="The workspace's lead-scoring model")
async def get_model(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    model: dict[str, Any] = effective_settings(request.app.state.meta, token.workspace_id)[
        "scoring"
    ]
    return model


@router.put("/model", summary="Replace the lead-scoring model")
async def put_model(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    try:
        update_settings(request.app.state.meta, token.workspace_id, {"scoring": body})
    except SettingError as exc:
        field = exc.name.removeprefix("scoring.") if exc.name != "scoring" else "model"
        raise HTTPException(
            422, {"code": "invalid_model", "field": field, "message": str(exc)}
        ) from exc
    request.app.state.writer.touch(token.workspace_id)
    return await get_model(request, token)


@router.post("/refresh", summary="Recompute tags, scores and dynamic segments now")
async def refresh_now(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    """What the background refresher does every `people_refresh_seconds` for a workspace with
    new data: the changes it made."""
    state = request.app.state
    refresher: PeopleRefresher | None = state.people_refresher
    if refresher is None:
        refresher = PeopleRefresher(state.meta, state.writer, interval=1e9)
        try:
            done = await asyncio.to_thread(refresher.refresh, token.workspace_id)
        finally:
            refresher.close()
    else:
        done = await asyncio.to_thread(refresher.refresh, token.workspace_id)
    return asdict(done)
