"""Profiles API: look a person up by any identifier, read their profile and timeline, and
split a wrong merge. (docs/profiles.md)"""

# No `from __future__ import annotations`: FastAPI reads the handlers' types at runtime.

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request

from haina.auth.deps import CurrentWorkspace
from haina.identity.store import SplitError, refresh, split
from haina.profiles.service import Person, ProfileError, find_person, profile, timeline
from haina.workspaces import workspace_settings
from haina.workspaces.keys import report_settings

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])


def _bad(exc: ProfileError) -> HTTPException:
    return HTTPException(422, {"code": "invalid_field", "field": exc.field, "message": str(exc)})


def _missing(what: str) -> HTTPException:
    return HTTPException(404, {"code": "not_found", "field": what, "message": "no such person"})


def _profile_of(request: Request, workspace_id: str, conn: Any, **find: Any) -> dict[str, Any]:
    meta = request.app.state.meta
    rules = workspace_settings(meta, workspace_id).identity
    person = find_person(conn, workspace_id, rules, **find)
    if person is None:
        raise _missing("value" if "value" in find else "person_id")
    rs = report_settings(meta, workspace_id)
    return profile(
        conn,
        workspace_id,
        person,
        rules,
        conversion_events=rs.conversion_events,
        timezone=rs.timezone,
        session_timeout_minutes=rs.session_timeout_minutes,
    )


@router.get("/lookup", summary="The profile of the person an identifier belongs to")
async def lookup(
    request: Request,
    token: CurrentWorkspace,
    type: Annotated[str, Query(description="identifier type: email, phone, user_id, ...")],
    value: Annotated[str, Query(description="the identifier's value (normalised as collected)")],
) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    try:
        return await asyncio.to_thread(
            _profile_of, request, token.workspace_id, conn, kind=type, value=value
        )
    except ProfileError as exc:
        raise _bad(exc) from exc


@router.get("/{person_id}", summary="A person's profile (a merged-away id gives the survivor)")
async def get_profile(request: Request, token: CurrentWorkspace, person_id: str) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()
    return await asyncio.to_thread(
        _profile_of, request, token.workspace_id, conn, person_id=person_id
    )


def _person(request: Request, workspace_id: str, conn: Any, person_id: str) -> Person:
    rules = workspace_settings(request.app.state.meta, workspace_id).identity
    person = find_person(conn, workspace_id, rules, person_id=person_id)
    if person is None:
        raise _missing("person_id")
    return person


@router.get("/{person_id}/timeline", summary="A person's events across channels, newest first")
async def get_timeline(
    request: Request,
    token: CurrentWorkspace,
    person_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    channel: Annotated[str | None, Query(description="only this channel")] = None,
    type: Annotated[str | None, Query(description="only this message type")] = None,
    event: Annotated[str | None, Query(description="only this event ($pageview for pages)")] = None,
) -> dict[str, Any]:
    conn = await request.app.state.writer.reader_async()

    def run() -> dict[str, Any]:
        person = _person(request, token.workspace_id, conn, person_id)
        return timeline(
            conn,
            token.workspace_id,
            person,
            limit=limit,
            before=before,
            channel=channel,
            event_type=type,
            event=event,
        )

    try:
        return await asyncio.to_thread(run)
    except ProfileError as exc:
        raise _bad(exc) from exc


@router.post("/merges/{merge_id}/split", summary="Undo a merge: its profiles stay apart")
async def split_merge(
    request: Request,
    token: CurrentWorkspace,
    merge_id: str,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    reason = (body or {}).get("reason", "")
    if not isinstance(reason, str):
        raise HTTPException(
            422, {"code": "invalid_field", "field": "reason", "message": "reason is text"}
        )
    conn = await request.app.state.writer.reader_async()
    rules = workspace_settings(request.app.state.meta, token.workspace_id).identity

    def run() -> list[str]:
        refresh(conn, token.workspace_id, rules)
        return split(conn, token.workspace_id, rules, merge_id, by=token.token_id, reason=reason)

    try:
        people = await asyncio.to_thread(run)
    except SplitError as exc:
        raise HTTPException(
            404, {"code": "not_found", "field": "merge_id", "message": str(exc)}
        ) from exc
    request.app.state.writer.touch(token.workspace_id)
    return {"merge_id": merge_id, "person_ids": people}
