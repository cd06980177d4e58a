"""The collection endpoints answered straight from ASGI, ahead of FastAPI.

Collection is the hot path: FastAPI's routing, middleware stack and response classes cost
about a third of a single-event request's CPU (py-spy, docs/benchmarks.md). `CollectionFastPath`
wraps the app and answers POSTs to the collection paths itself, through the same `answer()`
the FastAPI routes use (which stay, for the OpenAPI document and for anything that calls the
app without this wrapper). Everything else goes to the app unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from haina.collect.routes import CORS, SHORT_PATHS, answer
from haina.collect.service import SINGLE_TYPES

# path -> route type (None: a batch)
PATHS: dict[str, str | None] = {
    "/v1/batch": None,
    "/v1/b": None,
    **{f"/v1/{kind}": kind for kind in SINGLE_TYPES},
    **{f"/v1/{letter}": kind for letter, kind in SHORT_PATHS.items()},
}
_HEADERS = [
    (b"content-type", b"application/json"),
    *((k.lower().encode(), v.encode()) for k, v in CORS.items()),
]
_encode = msgspec.json.Encoder().encode


class CollectionFastPath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path in PATHS:
                await self._collect(PATHS[path], scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _collect(
        self, route_type: str | None, scope: dict[str, Any], receive: Any, send: Any
    ) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers.setdefault(key, text)  # repeated: the first, as Starlette's get()
        client = scope.get("client")

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        state = self.app.state
        status, body, extra = await answer(
            state, route_type, headers, client[0] if client else None, chunks()
        )
        payload = _encode(body)
        out = [*_HEADERS, (b"content-length", str(len(payload)).encode())]
        out += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})
