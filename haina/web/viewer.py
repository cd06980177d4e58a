"""Who is looking at the dashboard: the session's logins, checked again on every request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import select

from haina.store.meta import ApiToken, MetaStore, Workspace
from haina.web.i18n import LANGS, negotiate
from haina.web.pages import WorkspaceView, page
from haina.web.session import LANG_COOKIE, Login, Session, read_session
from haina.web.setup_page import arrivals
from haina.workspaces.keys import TokenInfo


@dataclass(frozen=True, slots=True)
class Viewer:
    """A session's logins whose tokens are still active, and the workspace being shown."""

    session: Session
    token: TokenInfo
    workspace: WorkspaceView
    workspaces: tuple[WorkspaceView, ...]
    # True when revoked logins were dropped, so the cookie should be written again.
    changed: bool


def active_tokens(meta: MetaStore, token_ids: list[str]) -> list[TokenInfo]:
    """The tokens among these ids that exist and are not revoked, in the order given."""
    with meta.session() as s:
        rows = s.scalars(
            select(ApiToken).where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None))
        ).all()
        found = {row.id: TokenInfo(row.id, row.workspace_id, row.role) for row in rows}
    return [found[i] for i in token_ids if i in found]


def _views(meta: MetaStore, infos: list[TokenInfo]) -> list[tuple[TokenInfo, WorkspaceView]]:
    with meta.session() as s:
        ids = [info.workspace_id for info in infos]
        rows = s.scalars(select(Workspace).where(Workspace.id.in_(ids))).all()
        views = {ws.id: WorkspaceView(ws.id, ws.name, ws.timezone) for ws in rows}
    return [(info, views[info.workspace_id]) for info in infos if info.workspace_id in views]


def _resolve(meta: MetaStore, session: Session) -> Viewer | None:
    infos = active_tokens(meta, [x.token_id for x in session.logins])
    views = _views(meta, infos)
    if not views:
        return None
    logins = tuple(Login(info.token_id, info.workspace_id) for info, _ in views)
    info, view = next((v for v in views if v[1].id == session.current), views[0])
    kept = replace(session, logins=logins, current=view.id)
    return Viewer(kept, info, view, tuple(v for _, v in views), kept != session)


async def viewer_of(request: Request) -> Viewer | None:
    """The logged-in viewer, or None. Token ids are looked up each time: revocation is immediate."""
    session = read_session(request)
    if session is None or not session.logins:
        return None
    return await asyncio.to_thread(_resolve, request.app.state.meta, session)


def request_lang(request: Request) -> str:
    """The language chosen before (cookie), else the one the browser prefers."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return str(chosen)
    return negotiate(request.headers.get("accept-language", ""))


def here(request: Request) -> str:
    """This request's path and query (without `lang`), for forms that come back here."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go to after a form, never another site (`//host`, `/\\host`, `http:`)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 for c in value):
        return default
    return value


async def landing_path(request: Request, workspace_id: str) -> str:
    """Setup until the workspace has events; then the overview, when that page exists."""
    if page("overview") is None:
        return "/dashboard/setup"
    conn = await request.app.state.writer.reader_async()
    got = await asyncio.to_thread(arrivals, conn, workspace_id)
    return "/dashboard/overview" if got.count else "/dashboard/setup"
