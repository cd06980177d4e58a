"""Tags API: counts, manual tags (one by one, for a segment's members, or from identifiers or
a CSV), tag rules; and recomputing tags, scores and dynamic segments now. (docs/tags.md)"""

# No `from __future__ import annotations`: FastAPI reads the handlers' types at runtime.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.profiles import tags
from haina.workspaces.keys import SettingError, effective_settings, update_settings

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])


def _bad(field: str, message: str, status: int = 422) -> HTTPException:
    code = "not_found" if status == 404 else "invalid_field"
    return HTTPException(status, {"code": code, "field": field, "message": message})


@router.get("", summary="Every tag with how many people carry it")
async def list_tags(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    return {"tags": await asyncio.to_thread(tags.counts, conn, token.workspace_id)}


@router.post("/manual", summary="Put a manual tag on people")
async def add_manual(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: `{"tag", "person_ids": [...]}`, or `"segment_id"`, `"identifiers": [{"type",
    "value"}]`, `"csv": "type,value\\n..."` (any mix)."""
    conn = await request.app.state.writer.reader_async()

    def run() -> int:
        try:
            tag = tags.check_tag(body.get("tag"))
        except tags.TagError as exc:
            raise _bad("tag", str(exc)) from exc
        try:
            found = tags.resolve_people(request.app.state.meta, conn, token.workspace_id, body)
        except tags.TagError as exc:
            status = 404 if exc.field == "segment_id" and "no segment" in str(exc) else 422
            raise _bad(exc.field, str(exc), status) from exc
        return tags.add_manual(conn, token.workspace_id, found, tag, by=token.token_id)

    n = await asyncio.to_thread(run)
    request.app.state.writer.touch(token.workspace_id)
    return {"tag": body.get("tag"), "tagged": n}


@router.post("/manual/remove", summary="Take a manual tag off people")
async def remove_manual(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: `{"tag", "person_ids": [...]}`."""
    people = body.get("person_ids")
    if not isinstance(people, list) or not all(isinstance(p, str) for p in people):
        raise _bad("person_ids", "person_ids is a list of person ids")
    conn = await request.app.state.writer.reader_async()

    def run() -> int:
        try:
            tag = tags.check_tag(body.get("tag"))
        except tags.TagError as exc:
            raise _bad("tag", str(exc)) from exc
        return sum(tags.remove_manual(conn, token.workspace_id, p, tag) for p in people)

    removed = await asyncio.to_thread(run)
    request.app.state.writer.touch(token.workspace_id)
    return {"tag": body.get("tag"), "removed": removed}


@router.get("/rules", summary="The workspace's tag rules")
async def get_rules(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    return {"rules": effective_settings(request.app.state.meta, token.workspace_id)["tag_rules"]}


@router.put("/rules", summary="Replace the tag rules (each a tag and a segment definition)")
async def put_rules(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: `{"rules": [{"tag", "description", "definition"}]}`."""
    try:
        update_settings(
            request.app.state.meta, token.workspace_id, {"tag_rules": body.get("rules")}
        )
    except SettingError as exc:
        raise _bad(exc.name.replace("tag_rules", "rules", 1), str(exc)) from exc
    return await get_rules(request, token)
