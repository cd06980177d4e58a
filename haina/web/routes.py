"""Static pieces served to browsers: the tracker."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

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
