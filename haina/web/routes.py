"""What browsers fetch outside the dashboard: the start page, the tracker and static files."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from haina.web.dashboard import public_page
from haina.web.i18n import LANGS
from haina.web.render import STATIC
from haina.web.viewer import landing_path, viewer_of
from haina.workspaces import list_workspaces

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def _tracker() -> bytes:
    return (STATIC / "t.js").read_bytes()


@router.get("/t.js")
async def tracker() -> Response:
    return Response(
        _tracker(),
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/static/{name:path}")
async def static_file(name: str, v: str | None = None) -> Response:
    """Files under haina/web/static; vendored and versioned (`?v=`) ones are cached for a year."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    media_type = _MEDIA_TYPES.get(path.suffix)
    if media_type is None:
        raise HTTPException(404, f"no static file {name!r}")
    forever = v is not None or name.startswith("vendor/")
    cache = "public, max-age=31536000, immutable" if forever else "public, max-age=300"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})


_MEDIA_TYPES = {
    ".js": "application/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}


@router.get("/")
async def home(request: Request, lang: str | None = None) -> Response:
    """Logged in: the workspace's dashboard. Otherwise a bilingual start page with totals."""
    viewer = await viewer_of(request)
    if viewer is not None:
        return RedirectResponse(await landing_path(request, viewer.workspace.id), 303)
    state = request.app.state
    # Without a login the page shows totals, never workspace names.
    events, newest = await asyncio.to_thread(_totals, await state.writer.reader_async())
    workspaces = await asyncio.to_thread(list_workspaces, state.meta)
    return public_page(
        request,
        "home.html",
        lang=lang if lang in LANGS else None,
        workspaces=len(workspaces),
        events=events,
        newest=newest,
        base_url=str(request.base_url).rstrip("/"),
    )


def _totals(conn: Any) -> tuple[int, str | None]:
    n, newest = conn.execute("SELECT count(*), max(received_at) FROM events").fetchone()
    return int(n), newest.isoformat(sep=" ", timespec="seconds") if newest else None
