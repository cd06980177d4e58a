"""Tags API: counts, manual tags (one by one, for a segment's members, or from identifiers or
a CSV), tag rules; and recomputing tags, scores and dynamic segments now. (docs/tags.md)"""

# No `from __future__ import annotations`: FastAPI reads the handlers' types at runtime.

import asyncio
import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.identity.identifiers import ANONYMOUS_ID, USER_ID, BadIdentifier, normalise
from haina.profiles import tags
from haina.segments import service as segments
from haina.workspaces import workspace_settings
from haina.workspaces.keys import SettingError, effective_settings, update_settings

router = APIRouter(prefix="/api/v1/tags", tags=["tags"])
MAX_BULK = 100_000


def _bad(field: str, message: str, status: int = 422) -> HTTPException:
    code = "not_found" if status == 404 else "invalid_field"
    return HTTPException(status, {"code": code, "field": field, "message": message})


@router.get("", summary="Every tag with how many people carry it")
async def list_tags(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    return {"tags": await asyncio.to_thread(tags.counts, conn, token.workspace_id)}


def _identifiers(
    request: Request, workspace_id: str, conn: Any, body: dict[str, Any]
) -> list[tuple[str, str]]:
    """Whom a bulk request names: person ids, a segment's members, identifiers, or CSV text
    with columns type,value."""
    rules = workspace_settings(request.app.state.meta, workspace_id).identity
    people: list[str] = []
    if "person_ids" in body:
        if not isinstance(body["person_ids"], list) or not all(
            isinstance(p, str) for p in body["person_ids"]
        ):
            raise _bad("person_ids", "person_ids is a list of person ids")
        people += body["person_ids"]
    if "segment_id" in body:
        sid = str(body["segment_id"])
        try:
            segments.get(request.app.state.meta, workspace_id, sid)
        except segments.SegmentError as exc:
            raise _bad("segment_id", str(exc), 404) from exc
        total = segments.member_count(conn, workspace_id, sid)
        people += [
            m["person_id"]
            for m in segments.members(conn, workspace_id, sid, limit=total or 1, offset=0)
        ]
    found = tags.anchor_identifier(conn, workspace_id, people) if people else []
    given: list[tuple[Any, Any, str]] = []
    raw = body.get("identifiers", [])
    if not isinstance(raw, list):
        raise _bad("identifiers", "identifiers is a list of {type, value}")
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise _bad(f"identifiers.{i}", "an identifier is {type, value}")
        given.append((entry.get("type"), entry.get("value"), f"identifiers.{i}"))
    if "csv" in body:
        if not isinstance(body["csv"], str):
            raise _bad("csv", "csv is the text of a file with columns type,value")
        reader = csv.DictReader(io.StringIO(body["csv"]))
        if not reader.fieldnames or {"type", "value"} - set(reader.fieldnames):
            raise _bad("csv", "the CSV needs a header with the columns type and value")
        for line, row in enumerate(reader, start=2):
            given.append((row.get("type"), row.get("value"), f"csv line {line}"))
    for kind, value, where in given:
        if kind not in rules.types:
            raise _bad(where, f"unknown identifier type {kind!r}")
        try:
            if kind not in (USER_ID, ANONYMOUS_ID):
                value = normalise(kind, value, rules.phone_region)
        except BadIdentifier as exc:
            raise _bad(where, str(exc)) from exc
        if not isinstance(value, str) or not value:
            raise _bad(where, "give the identifier's value")
        found.append((kind, value))
    if len(found) > MAX_BULK:
        raise _bad("identifiers", f"at most {MAX_BULK} people at once")
    return found


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
        found = _identifiers(request, token.workspace_id, conn, body)
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
