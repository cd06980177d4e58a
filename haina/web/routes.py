"""Pages and static pieces served to browsers: the start page and the tracker."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader

from haina.workspaces import list_workspaces

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"


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


TEXT = {
    "en": {
        "title": "Haina is collecting",
        "intro": "Events sent to this server are committed to disk before they are "
        "acknowledged. Reports and the full dashboard arrive with the next release.",
        "workspaces": "Workspaces",
        "events": "Events stored",
        "newest": "Newest event received (UTC)",
        "none": "No workspace yet: run `haina workspace create NAME`.",
        "start": "Start collecting",
        "sdk": "Or point any Segment / RudderStack SDK at this address, or send JSON yourself:",
        "api": "HTTP API reference (OpenAPI)",
    },
    "zh": {
        "title": "海纳正在采集数据",
        "intro": "发送到本服务器的事件在确认之前已写入磁盘。"
        "报表和完整的仪表盘将在下一个版本中提供。",
        "workspaces": "工作空间",
        "events": "已存储事件",
        "newest": "最新接收时间（UTC）",
        "none": "还没有工作空间：请运行 `haina workspace create 名称`。",
        "start": "开始采集",
        "sdk": "也可以将任何 Segment / RudderStack SDK 指向此地址，或直接发送 JSON：",
        "api": "HTTP API 参考（OpenAPI）",
    },
}


@router.get("/")
async def home(request: Request, lang: str | None = None) -> HTMLResponse:
    """A bilingual start page: how much is stored, how fresh it is, how to send events."""
    if lang not in TEXT:
        accept = request.headers.get("accept-language", "")
        lang = "zh" if accept.lower().startswith("zh") else "en"
    state = request.app.state
    # No login yet (that comes with roles): the page shows totals, never workspace names.
    events, newest = await asyncio.to_thread(_totals, state.writer.reader())
    template = _templates().get_template("home.html")
    html = template.render(
        t=TEXT[lang],
        lang=lang,
        workspaces=len(list_workspaces(state.meta)),
        events=events,
        newest=newest,
        base_url=str(request.base_url).rstrip("/"),
    )
    return HTMLResponse(html)


def _totals(conn: Any) -> tuple[int, str | None]:
    n, newest = conn.execute("SELECT count(*), max(received_at) FROM events").fetchone()
    return int(n), newest.isoformat(sep=" ", timespec="seconds") if newest else None


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
    )
