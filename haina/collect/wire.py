"""The wire: reading request bodies (size limits, gzip), JSON, and where the write key is."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode


@dataclass(slots=True)
class WireError(Exception):
    """A request-level error: answered with `status` and a JSON body naming the field."""

    status: int
    code: str
    message: str
    field: str = "body"
    limit: int | None = None

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.limit is not None:
            err["limit"] = self.limit
        return {"success": False, "code": self.code, "message": self.message, "error": err}


def gunzip(raw: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing to inflate past `limit` bytes (zip bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise WireError(
            400, "invalid_gzip", "the body is not valid gzip", "Content-Encoding"
        ) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise WireError(
            413, "body_too_large", f"the inflated body is larger than {limit} bytes", "body", limit
        )
    return out


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise WireError(400, "empty_body", "the request body is empty")
    try:
        return _decode(body)
    except msgspec.DecodeError as exc:
        raise WireError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def key_from_authorization(header: str | None) -> str | None:
    """Basic auth with the write key as user name (`key:` or just `key`)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = decoded.split(":", 1)[0].strip()
    return user or None


def key_from_body(data: Any) -> str | None:
    if isinstance(data, dict):
        key = data.get("writeKey")
        if isinstance(key, str) and key.strip():
            return key.strip()
    return None


def encoded_size(message: Any) -> int:
    """Size of one message as JSON, for the per-message limit."""
    try:
        return len(msgspec.json.encode(message))
    except (TypeError, OverflowError):
        return 0
