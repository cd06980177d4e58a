"""The profiles pages: find a person by any identifier or by a trait, and a person's profile —
identities and merges (with a split button), traits, computed traits, tags, the lead score
with its explanation and history, the lifecycle stage and the timeline, paged with htmx.

Everything comes from haina/profiles/service.py (`find_person`, `profile`, `timeline`), the
same calls as `GET /api/v1/profiles/...`, for the viewer's workspace. A trait search is a
segment definition with one trait condition, evaluated by haina/segments (no text of it
becomes SQL).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

import duckdb
from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup
from pydantic import ValidationError

from haina.identity.rules import IdentityRules
from haina.identity.store import SplitError, refresh, split
from haina.profiles.service import Person, ProfileError, find_person, profile, timeline
from haina.segments.definition import SegmentDefinition
from haina.segments.service import evaluate
from haina.web import dashboard
from haina.web.pages import PageContext, PageResult, page, register_page
from haina.web.people_pages.builder import Built
from haina.web.people_pages.common import (
    add_route,
    identity_rules,
    in_thread,
    page_response,
    person_labels,
    posted,
    render,
    render_again,
    see,
    set_status,
    state_of,
)
from haina.web.report_filters import known_channels
from haina.workspaces import workspace_settings
from haina.workspaces.keys import report_settings

TIMELINE_PAGE = 25
TRAIT_PEOPLE = 50
EVENT_TYPES = ("track", "page", "identify", "screen", "group", "alias")


async def profiles(ctx: PageContext) -> PageResult:
    person_id = ctx.request.path_params.get("person_id")
    if person_id:
        return await _profile(ctx, str(person_id))
    return await _search(ctx)


async def _search(ctx: PageContext) -> PageResult:
    """Look up by identifier (a hit goes to the profile) or list people by a trait."""
    params = state_of(ctx).form
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    kind, value = params.get("type", "email"), params.get("value", "")
    lookup_error: dict[str, str] | None = None
    not_found = False
    if "value" in params:
        try:
            person = await in_thread(ctx, _find, ctx.workspace_id, rules, kind, value)
        except ProfileError as exc:
            lookup_error = {"field": exc.field, "message": str(exc)}
        else:
            if person is not None:
                return see(f"/dashboard/profiles/{quote(person.person_id)}")
            not_found = True
    trait: dict[str, Any] | None = None
    if "trait_key" in params:
        wanted = params.get("trait_key", ""), params.get("trait_value", "")
        trait = await _by_trait(ctx, rules, *wanted)
    return render(
        ctx,
        "people/profiles.html",
        types=rules.types,
        kind=kind,
        value=value,
        lookup_error=lookup_error,
        not_found=not_found,
        trait_key=params.get("trait_key", ""),
        trait_value=params.get("trait_value", ""),
        trait=trait,
    )


def _find(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules, kind: str, value: str
) -> Person | None:
    return find_person(conn, workspace_id, rules, kind=kind, value=value.strip())


def trait_definition(key: str, value: str) -> dict[str, Any]:
    return {"conditions": [{"kind": "trait", "key": key.strip(), "op": "eq", "value": value}]}


async def _by_trait(ctx: PageContext, rules: IdentityRules, key: str, value: str) -> dict[str, Any]:
    """Up to 50 people whose trait `key` equals `value`, and how many there are."""
    raw = trait_definition(key, value)
    try:
        definition = SegmentDefinition.model_validate(raw)
    except ValidationError as exc:
        problem = Built(raw, 0, ()).problem_of(exc)
        return {"error": {"field": problem.field, "message": problem.message}}

    def run(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        with ctx.request.app.state.writer.report_memory():
            people = evaluate(conn, ctx.workspace_id, rules, definition)
        shown = people[:TRAIT_PEOPLE]
        named = person_labels(conn, ctx.workspace_id, shown)
        return {"total": len(people), "people": [(p, named.get(p)) for p in shown]}

    return dict(await in_thread(ctx, run))


def _timeline_params(ctx: PageContext) -> dict[str, str]:
    params = state_of(ctx).form
    return {name: params.get(name, "").strip() for name in ("channel", "type", "before")}


async def _profile(ctx: PageContext, person_id: str) -> PageResult:
    state = state_of(ctx)
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    settings = await asyncio.to_thread(report_settings, ctx.meta, ctx.workspace_id)
    filters = _timeline_params(ctx)

    def run(conn: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        person = find_person(conn, ctx.workspace_id, rules, person_id=person_id)
        if person is None:
            return None
        data = profile(
            conn,
            ctx.workspace_id,
            person,
            rules,
            conversion_events=settings.conversion_events,
            timezone=settings.timezone,
            session_timeout_minutes=settings.session_timeout_minutes,
        )
        label = person_labels(conn, ctx.workspace_id, [person.person_id]).get(person.person_id)
        return {
            "profile": data,
            "label": label,
            "events": _page(conn, ctx.workspace_id, person, filters),
        }

    found = await in_thread(ctx, run)
    if found is None:
        set_status(ctx, 404)
        return render(ctx, "people/profile_missing.html", person_id=person_id)
    params = state.form
    sides = [s for s in params.get("sides", "").split(",") if s]
    return render(
        ctx,
        "people/profile.html",
        p=found["profile"],
        label=found["label"],
        events=found["events"],
        filters=filters,
        channels=known_channels(),
        event_types=EVENT_TYPES,
        split_done=params.get("split", ""),
        split_sides=sides,
        split_error=state.problems.get("split_error"),
        more_url=lambda cursor: _more_url(found["profile"]["person_id"], filters, cursor),
        page_url=lambda cursor: _page_url(found["profile"]["person_id"], filters, cursor),
    )


def _page(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person: Person, filters: dict[str, str]
) -> dict[str, Any]:
    """A page of the timeline, or the service's message for a bad cursor."""
    try:
        return timeline(
            conn,
            workspace_id,
            person,
            limit=TIMELINE_PAGE,
            before=filters["before"] or None,
            channel=filters["channel"] or None,
            event_type=filters["type"] or None,
        )
    except ProfileError as exc:
        return {"person_id": person.person_id, "events": [], "next": None, "error": str(exc)}


def _query(filters: dict[str, str], cursor: str) -> str:
    pairs = [(k, v) for k, v in filters.items() if v and k != "before"] + [("before", cursor)]
    return urlencode(pairs)


def _more_url(person_id: str, filters: dict[str, str], cursor: str) -> str:
    return f"/dashboard/profiles/timeline?person={quote(person_id)}&{_query(filters, cursor)}"


def _page_url(person_id: str, filters: dict[str, str], cursor: str) -> str:
    return f"/dashboard/profiles/{quote(person_id)}?{_query(filters, cursor)}#timeline"


async def timeline_rows(ctx: PageContext) -> Markup:
    """The next page of a timeline: its rows and the next "more" row, for htmx to swap in
    place of the "more" row that asked."""
    person_id = ctx.request.query_params.get("person", "")
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    filters = _timeline_params(ctx)

    def run(conn: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        person = find_person(conn, ctx.workspace_id, rules, person_id=person_id)
        return None if person is None else _page(conn, ctx.workspace_id, person, filters)

    events = await in_thread(ctx, run) if person_id else None
    return render(
        ctx,
        "people/timeline_rows.html",
        events=events or {"events": [], "next": None},
        more_url=lambda cursor: _more_url(person_id, filters, cursor),
        page_url=lambda cursor: _page_url(person_id, filters, cursor),
    )


async def person_page(request: Request, person_id: str) -> Response:
    """GET /dashboard/profiles/{person_id}: the profile in the layout (and the page's
    fragments, whose URLs have the same shape)."""
    entry = page("profiles")
    if entry is not None and person_id in entry.fragments:
        return await dashboard.dashboard_fragment(request, "profiles", person_id)
    return await page_response(request, "profiles")


async def split_merge(request: Request, person_id: str) -> Response:
    """POST /dashboard/profiles/{person_id} with `merge_id` (and a `reason`): undo a merge,
    as `POST /api/v1/profiles/merges/{merge_id}/split` does."""
    got = await posted(request)
    if isinstance(got, Response):
        return got
    workspace_id = got.viewer.workspace.id
    merge_id, reason = got.form.get("merge_id", ""), got.form.get("reason", "")
    state = request.app.state
    rules = await asyncio.to_thread(lambda: workspace_settings(state.meta, workspace_id).identity)
    conn = await state.writer.reader_async()

    def run() -> list[str]:
        refresh(conn, workspace_id, rules)
        by = got.viewer.token.token_id
        return split(conn, workspace_id, rules, merge_id, by=by, reason=reason)

    try:
        people = await asyncio.to_thread(run)
    except SplitError as exc:
        return await render_again(request, "profiles", {}, 404, split_error=str(exc))
    state.writer.touch(workspace_id)
    query = urlencode({"split": merge_id, "sides": ",".join(p for p in people if p)})
    return see(f"/dashboard/profiles/{quote(person_id)}?{query}")


add_route("/dashboard/profiles/{person_id}", person_page, ["GET"], first=True)
add_route("/dashboard/profiles/{person_id}", split_merge, ["POST"])
register_page(
    "profiles",
    "nav.profiles",
    profiles,
    dated=False,
    fragments={"timeline": timeline_rows},
    group="people",
)
