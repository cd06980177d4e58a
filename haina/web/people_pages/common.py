"""What the People pages share: their own routes next to the dashboard's, posted forms with
the dashboard's CSRF checks, the builder's choices, and showing people and times.

The page registry serves pages and GET fragments (`/dashboard/{slug}` and
`/dashboard/{slug}/{name}`). A profile lives at `/dashboard/profiles/{person_id}` and the
forms that change something (split a merge, save a segment, a tag rule or the scoring model)
POST, so these pages add their routes to the dashboard's router when their module is
imported (before the app includes it: `load_pages` runs first). A POST checks the CSRF token
and the login as the dashboard's own forms do, then redirects to a page (success) or renders
the page again with the form as sent and the problem next to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import duckdb
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import QueryParams

from haina.identity.rules import IdentityRules
from haina.identity.store import labels
from haina.profiles import tags as tag_service
from haina.query.engine import DuckDBEngine
from haina.web import dashboard
from haina.web.csrf import csrf_ok
from haina.web.pages import PageContext
from haina.web.people_pages.builder import Choices
from haina.web.report_filters import known_channels
from haina.web.report_pages import event_names
from haina.web.report_view import Numbers
from haina.web.session import read_session
from haina.web.viewer import Viewer, here, viewer_of
from haina.workspaces import workspace_settings

# The scoring model and tag rules are JSON that may be larger than the dashboard's small forms.
MAX_FORM_BYTES = 512 * 1024
Endpoint = Callable[..., Awaitable[Response]]


def add_route(path: str, endpoint: Endpoint, methods: list[str], *, first: bool = False) -> None:
    """Serve `endpoint` from the dashboard's router; `first` puts it before the registry's
    `/dashboard/{slug}/{fragment}`, which would otherwise answer a GET of the same shape."""
    router = dashboard.router
    router.add_api_route(path, endpoint, methods=methods, include_in_schema=False)
    if first:
        router.routes.insert(0, router.routes.pop())


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@dataclass(frozen=True, slots=True)
class Posted:
    """A POSTed dashboard form whose CSRF checks passed, and who sent it."""

    viewer: Viewer
    form: QueryParams


async def posted(request: Request) -> Posted | Response:
    """The form and viewer of a POST, or the response that refuses it (403 without a valid
    CSRF token or from another site, 413 when too large, the login when logged out)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return Response("form too large", status_code=413)
    form = QueryParams(body.decode("utf-8", "replace"))
    if not csrf_ok(request, read_session(request), {"csrf": form.get("csrf", "")}):
        return dashboard.refused(request)
    viewer = await viewer_of(request)
    if viewer is None:
        return see("/login?next=" + quote(here(request), safe="/"))
    return Posted(viewer, form)


@dataclass
class PageState:
    """What a POST hands the page it renders again: the form as sent, problems, a status."""

    form: Mapping[str, str]
    problems: dict[str, Any] = field(default_factory=dict)
    status: int = 200


async def render_again(
    request: Request, slug: str, form: Mapping[str, str], status: int = 422, **problems: Any
) -> Response:
    """The page `slug` in the layout, for the form as sent, with its problems shown."""
    request.state.people = PageState(form, problems, status)
    return await page_response(request, slug)


async def page_response(request: Request, slug: str) -> Response:
    """The dashboard's own page response for `slug` (login, layout, session), with the status
    a handler asked for (`set_status`)."""
    response = await dashboard.dashboard_page(request, slug)
    state = getattr(request.state, "people", None)
    if isinstance(state, PageState) and response.status_code == 200:
        response.status_code = state.status
    return response


def state_of(ctx: PageContext) -> PageState:
    """The POSTed form and its problems when a POST renders the page, else the query string."""
    state = getattr(ctx.request.state, "people", None)
    if isinstance(state, PageState):
        return state
    state = PageState(ctx.request.query_params)
    ctx.request.state.people = state
    return state


def set_status(ctx: PageContext, status: int) -> None:
    state_of(ctx).status = status


def identity_rules(ctx: PageContext) -> IdentityRules:
    return workspace_settings(ctx.meta, ctx.workspace_id).identity


async def in_thread(ctx: PageContext, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(conn, *args)` on a reader of the event store, off the event loop."""
    conn = await ctx.reader()
    return await asyncio.to_thread(fn, conn, *args)


async def choices(ctx: PageContext, rules: IdentityRules) -> Choices:
    """The builder's options: identifier types, event names of the last 28 days, tags."""
    names = await event_names.track_event_names(ctx)
    counts = await in_thread(ctx, tag_service.counts, ctx.workspace_id)
    return Choices(
        identity_types=rules.types,
        events=tuple(event_names.suggestions(names)),
        tags=tuple(dict.fromkeys(str(c["tag"]) for c in counts)),
        channels=known_channels(),
    )


def person_labels(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, people: list[str]
) -> dict[str, dict[str, str]]:
    """Each person's identifier for showing (the highest-priority one, as in reports)."""
    return labels(DuckDBEngine(conn), workspace_id, people)


def local_time(text: str | None, timezone: str) -> str:
    """An API time (`2026-11-01T08:00:01.000Z`) as `2026-11-01 16:00:01` in the workspace's
    time zone; '' for none."""
    if not text:
        return ""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """JSON for people to read (and edit): indented, Chinese as it is."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def render(ctx: PageContext, template: str, **values: Any) -> Markup:
    """`ctx.render` with what the People templates use: `num` (numbers for the language),
    `local` (API times in the workspace's zone) and `pretty` (JSON)."""
    return ctx.render(
        template,
        num=Numbers(ctx.lang),
        local=lambda text: local_time(text, ctx.workspace.timezone),
        pretty=pretty,
        tz=ctx.workspace.timezone,
        **values,
    )
