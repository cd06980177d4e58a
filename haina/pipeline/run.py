"""The ingest pipeline: normalise → enrich → tracking-plan check, over a batch of messages.

`process` is pure apart from the caches of its stages: it takes decoded messages and the
request's facts, and returns event rows (columnar, ready for the store) plus rejects, each with
the message's index, field, code and reason. Nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import msgspec

from haina.pipeline.channel import Acquisition, acquisition_for
from haina.pipeline.geo import GeoLookup
from haina.pipeline.identity import identities
from haina.pipeline.ip import anonymise_ip, is_valid_ip
from haina.pipeline.normalise import Invalid, Message, normalise
from haina.pipeline.plan import TrackingPlan
from haina.pipeline.sitesearch import site_search_keyword
from haina.pipeline.useragent import parse_user_agent
from haina.store.events.duckdb_store import Columns, empty_columns
from haina.store.events.schema import EVENT_COLUMN_NAMES
from haina.workspaces import WorkspaceSettings
from haina.workspaces.keys import CLIENT_SIDE_KINDS

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class IngestContext:
    """Facts about the request (or import, or replay) that the messages arrived in."""

    workspace_id: str
    source_id: str
    source_kind: str  # client-side (web, app) sources get the connection's IP, never a given one
    settings: WorkspaceSettings
    received_at_us: int
    client_ip: str | None = None
    header_user_agent: str | None = None
    batch_sent_at: Any = None
    batch_context: dict[str, Any] | None = None
    batch_integrations: dict[str, Any] | None = None
    route_type: str | None = None
    plan: TrackingPlan | None = None
    plan_mode: str = "flag"
    geo: GeoLookup | None = None
    cookieless_salt: bytes = b""


@dataclass(frozen=True, slots=True)
class Reject:
    index: int
    field: str
    code: str
    reason: str
    message: Any
    message_id: str | None = None


@dataclass(slots=True)
class Processed:
    rows: Columns = field(default_factory=empty_columns)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.rows["message_id"])


def process(
    messages: Sequence[Any], ctx: IngestContext, *, positions: Sequence[int] | None = None
) -> Processed:
    """Run the pipeline over `messages`. A reject's `index` is the message's position in
    `positions` (e.g. its place in the request, or its line in a file), else in `messages`."""
    out = Processed()
    rows: list[tuple[Any, ...]] = []
    places = range(len(messages)) if positions is None else positions
    for i, raw in zip(places, messages, strict=True):
        try:
            rows.append(_row(_prepare(raw, ctx), ctx))
        except Invalid as exc:
            out.rejects.append(Reject(i, exc.field, exc.code, exc.reason, raw, _mid(raw)))
        except Exception as exc:  # noqa: BLE001 - a bug in a stage must not lose the message
            reason = f"enrichment failed: {type(exc).__name__}: {exc}"
            out.rejects.append(
                Reject(i, "message", "enrichment_error", reason[:500], raw, _mid(raw))
            )
    if rows:
        # One transpose in C instead of an append per column and event.
        out.rows = dict(zip(EVENT_COLUMN_NAMES, map(list, zip(*rows, strict=True)), strict=True))
    return out


def _mid(raw: Any) -> str | None:
    if isinstance(raw, dict):
        mid = raw.get("messageId")
        if isinstance(mid, str):
            return mid[:100]
    return None


def _prepare(raw: Any, ctx: IngestContext) -> Message:
    if isinstance(raw, dict) and (ctx.batch_context or ctx.batch_integrations):
        raw = dict(raw)
        own = raw.get("context")
        if ctx.batch_context and own is None:
            raw["context"] = dict(ctx.batch_context)
        elif ctx.batch_context and isinstance(own, dict):
            raw["context"] = {**ctx.batch_context, **own}  # the message's own keys win
        if ctx.batch_integrations and "integrations" not in raw:
            raw["integrations"] = ctx.batch_integrations
    derived = None
    if isinstance(raw, dict):
        c = raw.get("context")
        if (
            isinstance(c, dict)
            and isinstance(c.get("haina"), dict)
            and c["haina"].get("cookieless")
        ):
            derived = _cookieless_id(ctx, _client_ip(c, ctx), _user_agent(c, ctx))
    return normalise(
        raw,
        received_at_us=ctx.received_at_us,
        batch_sent_at=ctx.batch_sent_at,
        route_type=ctx.route_type,
        derive_anonymous_id=derived,
    )


def _cookieless_id(ctx: IngestContext, ip: str | None, ua: str | None) -> str:
    """A visitor id without storage on the device: a hash that changes with the daily salt."""
    h = hashlib.blake2b(digest_size=12, key=ctx.cookieless_salt[:64])
    h.update(f"{ctx.workspace_id}|{ip or ''}|{ua or ''}".encode())
    return "ck_" + h.hexdigest()


def _client_ip(context: dict[str, Any], ctx: IngestContext) -> str | None:
    """The device's IP: the connection's for client-side sources; for server-side ones only
    what the message says (the connection is the server's, not the person's)."""
    if ctx.source_kind in CLIENT_SIDE_KINDS:
        return ctx.client_ip
    given = context.get("ip")
    return given if isinstance(given, str) and is_valid_ip(given) else None


def _user_agent(context: dict[str, Any], ctx: IngestContext) -> str | None:
    ua = context.get("userAgent")
    if isinstance(ua, str) and ua:
        return ua[:1000]
    return ctx.header_user_agent if ctx.source_kind in CLIENT_SIDE_KINDS else None


_Hashable = str | int | float | bool | None


def _acquisition(
    url: str | None, referrer: str | None, campaign: Any, own_hosts: tuple[str, ...]
) -> Acquisition:
    """acquisition_for, cached: pages, referrers and campaigns repeat across visitors."""
    if not isinstance(campaign, dict) or not campaign:
        return _acquisition_cached(url, referrer, (), own_hosts)
    items = tuple(campaign.items())
    if all(isinstance(v, _Hashable) for _, v in items):
        return _acquisition_cached(url, referrer, items, own_hosts)
    return acquisition_for(url, referrer, campaign, own_hosts)


@lru_cache(maxsize=100_000)
def _acquisition_cached(
    url: str | None,
    referrer: str | None,
    campaign: tuple[tuple[str, _Hashable], ...],
    own_hosts: tuple[str, ...],
) -> Acquisition:
    return acquisition_for(url, referrer, dict(campaign) if campaign else None, own_hosts)


@lru_cache(maxsize=50_000)
def _search_keyword(url: str | None, params: tuple[str, ...]) -> str | None:
    return site_search_keyword(url, params)


@lru_cache(maxsize=50_000)
def _split(url: str) -> tuple[str | None, str | None]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None
    return (parts.hostname or None), (parts.path or None)


def _s(value: Any, limit: int = 2000) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit] if text else None


def _row(m: Message, ctx: IngestContext) -> tuple[Any, ...]:
    """The stored row of one message, in EVENT_COLUMNS order."""
    context = m.context
    page = context.get("page")
    page = page if isinstance(page, dict) else {}
    props = m.properties if m.type == "page" else {}
    url = _s(props.get("url") or page.get("url"))
    referrer = _s(props.get("referrer") or page.get("referrer"))
    title = _s(props.get("title") or page.get("title"), 1000)
    host, path = _split(url) if url else (None, None)
    path = _s(props.get("path") or page.get("path")) or path

    ip = _client_ip(context, ctx)
    geo = ctx.geo.lookup(ip) if ctx.geo is not None and ip else None
    stored_ip = anonymise_ip(ip) if ctx.settings.anonymise_ip else ip
    if "ip" in context or stored_ip:
        context = dict(context)
        if stored_ip:
            context["ip"] = stored_ip
        else:
            context.pop("ip", None)
    ua = _user_agent(context, ctx)
    device = parse_user_agent(ua)
    campaign = context.get("campaign")
    acq = _acquisition(url, referrer, campaign, ctx.settings.own_hosts)
    library = context.get("library")
    library = library if isinstance(library, dict) else {}
    violations = ctx.plan.check(m) if ctx.plan is not None else None
    if violations and ctx.plan_mode == "quarantine":
        first = violations[0]
        raise Invalid(first["field"], "plan_violation", first["reason"])
    if violations and ctx.plan_mode == "allow":
        violations = None
    ids = identities(m, ctx.settings.identity)

    row = (
        ctx.workspace_id,
        ctx.source_id,
        m.message_id,
        m.type,
        m.event,
        m.name,
        m.anonymous_id,
        m.user_id,
        m.group_id,
        m.previous_id,
        m.timestamp_us,
        m.original_timestamp_us,
        m.sent_at_us,
        m.received_at_us,
        url,
        host,
        path,
        referrer,
        title,
        _encode(m.properties).decode(),
        _encode(m.traits).decode() if m.traits else None,
        _encode(context).decode(),
        _encode(m.extra).decode() if m.extra else None,
        _s(library.get("name"), 200),
        _s(library.get("version"), 100),
        stored_ip,
        ua,
        device.browser,
        device.browser_version,
        device.os,
        device.os_version,
        device.device_type,
        device.is_bot,
        acq.channel,
        acq.source,
        acq.medium,
        acq.campaign,
        acq.term,
        acq.content,
        acq.referrer_host,
        acq.click_id,
        _search_keyword(url, ctx.settings.site_search_params),
        geo.country if geo else None,
        geo.region if geo else None,
        geo.city if geo else None,
        _encode(violations).decode() if violations else None,
        ids,
    )
    return row
