"""The baseline for the ingest benchmark: a bare ASGI app that reads the body, parses the JSON
and answers 200 `{"success":true}` — served by uvicorn with the options `haina serve` uses.

Run: `python -m bench.bare_app --port 8001`.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_OK = b'{"success":true}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_OK))]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if body:
        _decode(body)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _OK})


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    # The same server options as `haina serve` (haina/cli.py).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", loop="uvloop",
                http="httptools", timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
