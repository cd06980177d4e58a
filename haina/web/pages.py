"""The registry of dashboard pages, and what a page's handler is given.

A page is one registration::

    register_page("overview", "nav.overview", overview)

    async def overview(ctx: PageContext) -> Markup:
        conn = await ctx.reader()
        rows = await asyncio.to_thread(run_overview, conn, ctx.workspace_id, ctx.period)
        return ctx.render("overview.html", rows=rows)

The dashboard lists registered pages in its navigation (in `NAV_ORDER`), checks the login,
builds the `PageContext` and puts the returned markup into the layout. Pages that are not
registered do not appear at all. Built-in pages register themselves when the modules in
`PAGE_MODULES` are imported; extensions do the same through the `haina.dashboard` entry-point
group.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib.metadata import entry_points
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

from haina.store.meta import MetaStore
from haina.web.i18n import Translator
from haina.web.render import render_template

# The navigation's order; pages registered under other slugs come just before "setup".
NAV_ORDER = (
    "overview",
    "sources",
    "pages",
    "paths",
    "funnels",
    "retention",
    "events",
    "realtime",
    "pagespeed",
    "setup",
)
# Modules that register built-in pages when imported (a report page adds its module here).
PAGE_MODULES = [
    "haina.web.setup_page",
    "haina.web.report_pages.overview",
    "haina.web.report_pages.sources",
    "haina.web.report_pages.pages",
    "haina.web.report_pages.pagespeed",
    "haina.web.report_pages.realtime",
    "haina.web.report_pages.paths",
    "haina.web.report_pages.funnels",
    "haina.web.report_pages.retention",
    "haina.web.report_pages.events",
    # The People group, after the reports (before setup): profiles, segments, tags, scoring.
    "haina.web.people_pages.profiles",
    "haina.web.people_pages.segments",
    "haina.web.people_pages.tag_rules",
    "haina.web.people_pages.scoring",
]
DEFAULT_DAYS = 28


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    id: str
    name: str
    timezone: str


@dataclass(frozen=True, slots=True)
class Period:
    """The dates a report covers, both included, in the workspace's time zone."""

    start: date
    end: date

    @classmethod
    def from_query(cls, params: Mapping[str, str], today: date) -> Period:
        """`?from=YYYY-MM-DD&to=YYYY-MM-DD`; missing or invalid parts fall back to the last 28
        days up to today."""
        try:
            end = date.fromisoformat(params["to"]) if params.get("to") else today
            start = (
                date.fromisoformat(params["from"])
                if params.get("from")
                else end - timedelta(days=DEFAULT_DAYS - 1)
            )
        except ValueError:
            end, start = today, today - timedelta(days=DEFAULT_DAYS - 1)
        return cls(min(start, end), max(start, end))

    @property
    def query(self) -> str:
        return f"from={self.start.isoformat()}&to={self.end.isoformat()}"


def today_in(timezone: str) -> date:
    try:
        return datetime.now(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.now(ZoneInfo("UTC")).date()


@dataclass(frozen=True, slots=True)
class PageContext:
    """Everything a page handler needs: the logged-in workspace, language and period.

    `workspace_id` is the only workspace the viewer may see; handlers query with it and
    nothing else.
    """

    request: Request
    workspace: WorkspaceView
    role: str
    lang: str
    t: Translator
    period: Period
    csrf: str
    slug: str

    @property
    def workspace_id(self) -> str:
        return self.workspace.id

    @property
    def meta(self) -> MetaStore:
        meta: MetaStore = self.request.app.state.meta
        return meta

    async def reader(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor on the event store, once every event acknowledged so far is loaded."""
        cursor: duckdb.DuckDBPyConnection = await self.request.app.state.writer.reader_async()
        return cursor

    def render(self, template: str, **values: Any) -> Markup:
        """Render a page template with `t`, `lang`, `ctx` and `csrf` in scope."""
        return render_template(
            template, t=self.t, lang=self.lang, ctx=self, csrf=self.csrf, **values
        )


PageResult = Markup | Response
PageHandler = Callable[[PageContext], Awaitable[PageResult]]


@dataclass(frozen=True, slots=True)
class PageEntry:
    slug: str
    title_key: str
    handler: PageHandler
    dated: bool = True
    fragments: Mapping[str, PageHandler] = field(default_factory=dict)
    group: str = "reports"  # the navigation heading it is listed under (`layout.<group>`)


_PAGES: dict[str, PageEntry] = {}


def register_page(
    slug: str,
    title_key: str,
    handler: PageHandler,
    *,
    dated: bool = True,
    fragments: Mapping[str, PageHandler] | None = None,
    group: str = "reports",
) -> PageEntry:
    """Add a page at `/dashboard/{slug}`, listed in the navigation under `t(title_key)`.

    `handler` returns the page's markup (put inside the layout) or a whole `Response`.
    `dated` pages get the period picker in the header. Each of `fragments` is served without
    the layout at `/dashboard/{slug}/{name}`, for htmx to swap in. `group` names the
    navigation heading the page is listed under (`t("layout." + group)`).
    """
    if slug in _PAGES:
        raise ValueError(f"a dashboard page {slug!r} is registered already")
    entry = PageEntry(slug, title_key, handler, dated, dict(fragments or {}), group)
    _PAGES[slug] = entry
    return entry


def unregister_page(slug: str) -> None:
    _PAGES.pop(slug, None)


def page(slug: str) -> PageEntry | None:
    return _PAGES.get(slug)


def pages() -> list[PageEntry]:
    """Registered pages in navigation order."""
    setup_at = NAV_ORDER.index("setup")

    def position(entry: PageEntry) -> float:
        return NAV_ORDER.index(entry.slug) if entry.slug in NAV_ORDER else setup_at - 0.5

    return sorted(_PAGES.values(), key=position)  # stable: registration order among equals


def load_pages() -> None:
    """Import the built-in page modules and extensions' `haina.dashboard` entry points."""
    for module in PAGE_MODULES:
        importlib.import_module(module)
    for entry_point in entry_points(group="haina.dashboard"):
        entry_point.load()
