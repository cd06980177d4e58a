"""Tracking-plan API: read and replace the plan, and see its coverage."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.workspaces.coverage import coverage
from haina.workspaces.keys import SettingError, effective_settings, update_settings
from haina.workspaces.plans import plan_document, save_plan

router = APIRouter(prefix="/api/v1/tracking-plan", tags=["tracking plan"])
settings_router = APIRouter(prefix="/api/v1/settings", tags=["workspace"])


@settings_router.get("", summary="The workspace's settings in force")
async def get_settings(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    return effective_settings(request.app.state.meta, token.workspace_id)


@settings_router.patch("", summary="Change workspace settings (in force within seconds)")
async def patch_settings(
    request: Request, token: CurrentWorkspace, changes: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    try:
        update_settings(request.app.state.meta, token.workspace_id, changes)
    except SettingError as exc:
        raise HTTPException(
            422, {"code": "invalid_setting", "field": exc.name, "message": str(exc)}
        ) from exc
    return effective_settings(request.app.state.meta, token.workspace_id)


@router.get("", summary="The workspace's tracking plan")
async def get_plan(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    return plan_document(request.app.state.meta, token.workspace_id)


@router.put("", summary="Replace the tracking plan (takes effect within seconds)")
async def put_plan(
    request: Request, token: CurrentWorkspace, doc: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    try:
        n = save_plan(request.app.state.meta, token.workspace_id, doc)
    except ValueError as exc:
        raise HTTPException(
            422, {"code": "invalid_plan", "field": "events", "message": str(exc)}
        ) from exc
    return {"events": n}


@router.get("/coverage", summary="Planned events never seen, unplanned events, violations")
async def get_coverage(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    state = request.app.state
    doc = plan_document(state.meta, token.workspace_id)
    conn = await state.writer.reader_async()
    return await asyncio.to_thread(coverage, conn, token.workspace_id, doc)
