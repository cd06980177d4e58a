"""The setup page: how to send events to the workspace, and whether any have arrived."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import duckdb
from markupsafe import Markup
from sqlalchemy import select

from haina.store.meta import MetaStore, Source, WriteKey
from haina.web.pages import PageContext, register_page
from haina.web.snippet import snippet_html


@dataclass(frozen=True, slots=True)
class Arrivals:
    count: int
    newest: datetime | None

    @property
    def newest_text(self) -> str:
        return self.newest.isoformat(sep=" ", timespec="seconds") if self.newest else ""


def arrivals(conn: duckdb.DuckDBPyConnection, workspace_id: str) -> Arrivals:
    """How many events the workspace has stored, and when the newest was received (UTC)."""
    row = conn.execute(
        "SELECT count(*), max(received_at) FROM events WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    assert row is not None
    return Arrivals(int(row[0]), row[1])


@dataclass(frozen=True, slots=True)
class SourceKey:
    source_name: str
    source_kind: str
    key: str


def active_write_keys(meta: MetaStore, workspace_id: str) -> list[SourceKey]:
    """The workspace's active write keys with their sources, oldest first."""
    with meta.session() as s:
        rows = s.execute(
            select(WriteKey.key, Source.name, Source.kind)
            .join(Source, Source.id == WriteKey.source_id)
            .where(WriteKey.workspace_id == workspace_id, WriteKey.revoked_at.is_(None))
            .order_by(WriteKey.created_at)
        ).all()
    return [SourceKey(name, kind, key) for key, name, kind in rows]


async def _arrivals(ctx: PageContext) -> Arrivals:
    return await asyncio.to_thread(arrivals, await ctx.reader(), ctx.workspace_id)


async def setup(ctx: PageContext) -> Markup:
    keys = await asyncio.to_thread(active_write_keys, ctx.meta, ctx.workspace_id)
    base_url = str(ctx.request.base_url).rstrip("/")
    web_keys = [k.key for k in keys if k.source_kind == "web"]
    return ctx.render(
        "setup.html",
        status=await status(ctx),
        keys=keys,
        snippet=snippet_html(base_url, web_keys[0]) if web_keys else None,
        example_key=keys[0].key if keys else "WRITE_KEY",
        base_url=base_url,
    )


async def status(ctx: PageContext) -> Markup:
    """The "events received" panel; it polls itself every 5 s until the first event is in."""
    return ctx.render("setup_status.html", arrivals=await _arrivals(ctx))


register_page("setup", "nav.setup", setup, dated=False, fragments={"status": status})
