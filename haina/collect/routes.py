"""HTTP routes of the collection API (Segment HTTP Tracking API compatible)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from haina.collect.service import SINGLE_TYPES, Collector, RequestFacts
from haina.collect.wire import (
    WireError,
    decode_json,
    gunzip,
    key_from_authorization,
    key_from_body,
)
from haina.store.events.duckdb_store import StoreUnavailable

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    # X-Retry-Count: analytics.js adds it on retries; without it the browser blocks the retry.
    "Access-Control-Allow-Headers": (
        "Authorization, Content-Type, Content-Encoding, X-Write-Key, X-Retry-Count"
    ),
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "Retry-After",
}

router = APIRouter(tags=["collection"])

_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/plain": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "200": {"description": "Committed to disk (messages rejected are listed)"},
        "400": {"description": "Invalid body or every message invalid; kept in quarantine"},
        "401": {"description": "Unknown or revoked write key"},
        "413": {"description": "Over a size or count limit; kept in quarantine"},
        "503": {"description": "The store cannot commit; retry after Retry-After seconds"},
    },
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**CORS, **(headers or {})})


def _trusted(address: str | None, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(t, strict=False) for t in trusted)


def client_address(peer: str | None, forwarded: str | None, trusted: list[str]) -> str | None:
    """The peer address, or the client named by X-Forwarded-For when the peer is a trusted
    proxy (addresses or CIDR ranges in `trusted_proxies`): the right-most untrusted hop."""
    networks = _networks(tuple(trusted))
    if forwarded and _trusted(peer, networks):
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            if not _trusted(hop, networks):
                return hop
    return peer


async def read_body(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    if declared and declared.isdigit() and int(declared) > limit:
        raise WireError(
            413, "body_too_large", f"the body is larger than {limit} bytes", "body", limit
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise WireError(
                413, "body_too_large", f"the body is larger than {limit} bytes", "body", limit
            )
        parts.append(chunk)
    return b"".join(parts)


Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers


async def answer(
    state: Any,
    route_type: str | None,
    headers: Mapping[str, str],
    peer: str | None,
    chunks: AsyncIterator[bytes],
) -> Answer:
    """One collection request, whatever carried it (FastAPI's route or the fast path):
    `headers` has lower-case names."""
    collector: Collector = state.collector
    settings = state.settings
    facts = RequestFacts(
        route_type=route_type,
        client_ip=client_address(peer, headers.get("x-forwarded-for"), settings.trusted_proxies),
        user_agent=headers.get("user-agent"),
    )
    header_key = key_from_authorization(headers.get("authorization")) or (
        headers.get("x-write-key") or None
    )
    info = plan = None
    if header_key:
        info, plan = collector.key_info(header_key)
    body = b""
    try:
        body = await read_body(chunks, headers.get("content-length"), settings.max_body_bytes)
        if "gzip" in headers.get("content-encoding", "").lower():
            body = gunzip(body, settings.max_body_bytes)
        if info is not None and collector.offloads(route_type, len(body)):
            outcome = await collector.collect_raw(info, plan, body, facts)
            return outcome.status, outcome.body, {}
        data = decode_json(body)
        if info is None:
            key = key_from_body(data) if not header_key else None
            if key:
                info, plan = collector.key_info(key)
        if info is None:
            return 401, _unauthorised().body(), {}
        outcome = await collector.collect(info, plan, data, facts, len(body))
        return outcome.status, outcome.body, {}
    except WireError as err:
        if info is None:
            # Not attributable to a workspace: nothing is kept (no unauthenticated writes).
            if header_key:
                return 401, _unauthorised().body(), {}
            return err.status, err.body(), {}
        try:
            await collector.quarantine_request(info, facts, err, body)
        except StoreUnavailable as exc:
            return _unavailable(exc)
        return err.status, err.body(), {}
    except StoreUnavailable as exc:
        return _unavailable(exc)


async def _collect(request: Request, route_type: str | None) -> Response:
    status, body, headers = await answer(
        request.app.state,
        route_type,
        request.headers,
        request.client.host if request.client else None,
        request.stream(),
    )
    return _json(status, body, headers)


def _unauthorised() -> WireError:
    return WireError(401, "invalid_write_key", "unknown or revoked write key", "writeKey")


def _unavailable(exc: Exception) -> Answer:
    err = WireError(503, "store_unavailable", f"{exc}; nothing was stored, retry later", "store")
    return 503, err.body(), {"Retry-After": "5"}


@router.post("/v1/batch", openapi_extra=_DOC, summary="Send a batch of messages")
async def batch(request: Request) -> Response:
    return await _collect(request, None)


def _single(kind: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _collect(request, kind)

    endpoint.__name__ = f"collect_{kind}"
    return endpoint


for _kind in SINGLE_TYPES:
    router.add_api_route(
        f"/v1/{_kind}",
        _single(_kind),
        methods=["POST"],
        openapi_extra=_DOC,
        summary=f"Send one {_kind} message",
    )


# analytics.js (Segment's browser SDK) posts one event to {apiHost}/t, /p, /i, /a, /g, /s
# (the first letter of the type) and batches to {apiHost}/b; its apiHost ends in /v1.
SHORT_PATHS = {
    "t": "track",
    "p": "page",
    "i": "identify",
    "a": "alias",
    "g": "group",
    "s": "screen",
}
for _letter, _kind in SHORT_PATHS.items():
    router.add_api_route(
        f"/v1/{_letter}",
        _single(_kind),
        methods=["POST"],
        openapi_extra=_DOC,
        summary=f"Send one {_kind} message (analytics.js path)",
    )


@router.post("/v1/b", openapi_extra=_DOC, summary="Send a batch (analytics.js path)")
async def batch_short(request: Request) -> Response:
    return await _collect(request, None)


@router.get("/v1/projects/{write_key}/settings", summary="Settings for analytics.js")
async def analytics_js_settings(request: Request, write_key: str) -> Response:
    """What analytics.js loads from its `cdnURL`: send everything to this server's /v1."""
    info, _ = request.app.state.collector.key_info(write_key)
    if info is None:
        return _json(404, _unauthorised().body())
    host = request.headers.get("host") or request.url.netloc
    body = {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": request.url.scheme,
            }
        },
        "plan": {"track": {"__default": {"enabled": True}}},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
    }
    return _json(200, body)


@router.options("/v1/{path:path}", include_in_schema=False)
async def preflight(path: str) -> Response:
    return Response(status_code=204, headers=CORS)
