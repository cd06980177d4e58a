"""Collection: from a decoded request to committed rows, rejects in the quarantine.

`Collector.collect` is the one entry point the HTTP routes call. It resolves the write key,
applies the limits, runs the pipeline, and hands rows and quarantine rows to the group-commit
writer, returning what to answer. Nothing is dropped: every message is stored, deduplicated or
quarantined with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec

from haina.collect.wire import WireError, encoded_size
from haina.config import Settings, load_secret
from haina.pipeline.geo import GeoLookup, open_geo
from haina.pipeline.plan import TrackingPlan
from haina.pipeline.run import IngestContext, Reject, process
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch
from haina.store.meta import MetaStore
from haina.workspaces import KeyInfo, WorkspaceSettings, lookup_write_key
from haina.workspaces.plans import load_plan

_BOOT = uuid.uuid4().hex[:16]
_REQUEST_IDS = itertools.count()
SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Limits:
    message_bytes: int = 32 * 1024
    batch_bytes: int = 500 * 1024
    batch_messages: int = 2500


@dataclass(slots=True)
class RequestFacts:
    route_type: str | None  # None for /v1/batch
    client_ip: str | None
    user_agent: str | None
    received_at_us: int = field(default_factory=lambda: time.time_ns() // 1000)
    # Not uuid4: os.urandom releases the GIL, handing it to the writer on every request.
    request_id: str = field(default_factory=lambda: f"{_BOOT}{next(_REQUEST_IDS):016x}")


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]


def quarantine_row(
    *,
    workspace_id: str | None,
    source_id: str | None,
    facts: RequestFacts,
    index: int | None,
    field_: str,
    code: str,
    reason: str,
    payload: Any,
    message_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if isinstance(payload, bytes):
        try:
            text, encoding = payload.decode("utf-8"), "text"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(payload).decode(), "base64"
    else:
        text, encoding = _encode(payload).decode(), "json"
    request_meta = {
        "client_ip": facts.client_ip,
        "user_agent": facts.user_agent,
        "route_type": facts.route_type,
        **(meta or {}),
    }
    return {
        "id": uuid.uuid4().hex,
        "workspace_id": workspace_id,
        "source_id": source_id,
        "received_at": facts.received_at_us,
        "request_id": facts.request_id,
        "message_index": index,
        "message_id": message_id,
        "field": field_,
        "code": code,
        "reason": reason,
        "payload": text,
        "payload_encoding": encoding,
        "request_meta": _encode(request_meta).decode(),
        "status": "new",
        "replayed_at": None,
    }


@lru_cache(maxsize=4)
def _daily_salt(secret: bytes, day: int) -> bytes:
    """The salt of cookieless visitor ids: changes every UTC day, derived from the secret."""
    text = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    return hashlib.sha256(secret + text.encode()).digest()


def reject_row(
    info: KeyInfo, facts: RequestFacts, r: Reject, meta: dict[str, Any]
) -> dict[str, Any]:
    """The quarantine row of a rejected message (`r.index`: its place in the request, or its
    line in an imported file)."""
    return quarantine_row(
        workspace_id=info.workspace_id,
        source_id=info.source_id,
        facts=facts,
        index=r.index,
        field_=r.field,
        code=r.code,
        reason=r.reason,
        payload=r.message,
        message_id=r.message_id,
        meta=meta,
    )


def warm_up() -> None:
    """Run the pipeline once on a made-up page view, so that what it loads on first use (the
    channel rules, the user-agent parser's patterns) is loaded at start, not while the first
    request waits."""
    ctx = IngestContext(
        workspace_id="warm-up",
        source_id="warm-up",
        source_kind="web",
        settings=WorkspaceSettings(),
        received_at_us=time.time_ns() // 1000,
        client_ip="192.0.2.1",
        header_user_agent=(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36"
        ),
    )
    message = {
        "type": "page",
        "anonymousId": "warm-up",
        "messageId": "warm-up",
        "context": {
            "page": {
                "url": "https://example.com/?utm_source=baidu&utm_medium=cpc",
                "referrer": "https://www.baidu.com/s?wd=haina",
            }
        },
    }
    process([message], ctx)


class Collector:
    def __init__(
        self,
        meta: MetaStore,
        writer: GroupCommitWriter,
        *,
        limits: Limits,
        geo: GeoLookup | None,
        secret: bytes,
        key_cache_seconds: float = 5.0,
    ) -> None:
        self.meta = meta
        self.writer = writer
        self.limits = limits
        self.geo = geo
        self.secret = secret
        self._ttl = key_cache_seconds
        self._keys: dict[str, tuple[float, KeyInfo | None, TrackingPlan | None]] = {}

    @classmethod
    def open(cls, settings: Settings) -> Collector:
        """The metadata store, the event store's writer and a collector on them, as configured.

        The caller closes `collector.writer` and `collector.meta` when done.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        meta = MetaStore(settings.resolved_metadata_url)
        writer = GroupCommitWriter(
            settings.events_path,
            max_rows=settings.commit_max_rows,
            dedup_days=settings.dedup_days,
            memory_limit=settings.duckdb_memory_limit,
            report_memory_limit=settings.duckdb_report_memory_limit,
            checkpoint_threshold=settings.duckdb_checkpoint_threshold,
        )
        limits = Limits(
            settings.max_message_bytes, settings.max_batch_bytes, settings.max_batch_messages
        )
        warm_up()
        return cls(
            meta,
            writer,
            limits=limits,
            geo=open_geo(settings.geoip_path),
            secret=load_secret(settings.data_dir),
            key_cache_seconds=settings.write_key_cache_seconds,
        )

    def key_info(self, key: str) -> tuple[KeyInfo | None, TrackingPlan | None]:
        now = time.monotonic()
        hit = self._keys.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1], hit[2]
        info = lookup_write_key(self.meta, key)
        plan = load_plan(self.meta, info.workspace_id) if info is not None else None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[key] = (now, info, plan)
        return info, plan

    def cookieless_salt(self, received_at_us: int) -> bytes:
        return _daily_salt(self.secret, received_at_us // 86_400_000_000)

    def context_for(
        self,
        info: KeyInfo,
        plan: TrackingPlan | None,
        facts: RequestFacts,
        data: dict[str, Any] | None,
    ) -> IngestContext:
        batch_ctx = data.get("context") if data is not None else None
        integrations = data.get("integrations") if data is not None else None
        return IngestContext(
            workspace_id=info.workspace_id,
            source_id=info.source_id,
            source_kind=info.source_kind,
            settings=info.settings,
            received_at_us=facts.received_at_us,
            client_ip=facts.client_ip,
            header_user_agent=facts.user_agent,
            batch_sent_at=data.get("sentAt") if data is not None else None,
            batch_context=batch_ctx if isinstance(batch_ctx, dict) else None,
            batch_integrations=integrations if isinstance(integrations, dict) else None,
            route_type=facts.route_type,
            plan=plan,
            plan_mode=info.plan_mode,
            geo=self.geo,
            cookieless_salt=self.cookieless_salt(facts.received_at_us),
        )

    def messages_of(self, data: Any, facts: RequestFacts, body_size: int) -> list[Any]:
        """The messages of a decoded body, or a WireError for the whole request."""
        if facts.route_type is not None:
            if body_size > self.limits.message_bytes:
                raise WireError(
                    413,
                    "message_too_large",
                    f"a message may be at most {self.limits.message_bytes} bytes",
                    "body",
                    self.limits.message_bytes,
                )
            return [data]
        if body_size > self.limits.batch_bytes:
            raise WireError(
                413,
                "batch_too_large",
                f"a batch may be at most {self.limits.batch_bytes} bytes",
                "batch",
                self.limits.batch_bytes,
            )
        if not isinstance(data, dict) or not isinstance(data.get("batch"), list):
            raise WireError(
                400, "invalid_batch", "the body must be an object with a `batch` array", "batch"
            )
        batch: list[Any] = data["batch"]
        if len(batch) > self.limits.batch_messages:
            raise WireError(
                413,
                "too_many_messages",
                f"a batch may hold at most {self.limits.batch_messages} messages",
                "batch",
                self.limits.batch_messages,
            )
        return batch

    def _size_rejects(
        self, messages: list[Any], single: bool
    ) -> tuple[list[Any], list[int], list[Reject]]:
        """Split off messages over the per-message limit (batches only); returns the kept
        messages, their positions in the request, and the rejects."""
        if single:
            return messages, list(range(len(messages))), []
        keep: list[Any] = []
        positions: list[int] = []
        rejects: list[Reject] = []
        limit = self.limits.message_bytes
        for i, m in enumerate(messages):
            if encoded_size(m) > limit:
                reason = f"a message may be at most {limit} bytes"
                rejects.append(Reject(i, "message", "message_too_large", reason, m))
            else:
                keep.append(m)
                positions.append(i)
        return keep, positions, rejects

    async def collect(
        self,
        info: KeyInfo,
        plan: TrackingPlan | None,
        data: Any,
        facts: RequestFacts,
        body_size: int,
    ) -> Outcome:
        messages = self.messages_of(data, facts, body_size)
        kept, positions, size_rejects = self._size_rejects(messages, facts.route_type is not None)
        ctx = self.context_for(info, plan, facts, data if facts.route_type is None else None)
        result = process(kept, ctx, positions=positions)
        rejects = sorted(result.rejects + size_rejects, key=lambda r: r.index)
        meta = {
            "sent_at": ctx.batch_sent_at,
            "context": ctx.batch_context,
            "integrations": ctx.batch_integrations,
        }
        batch = WriteBatch(
            events=result.rows,
            quarantine=[reject_row(info, facts, r, meta) for r in rejects],
        )
        written = await asyncio.wrap_future(self.writer.submit(batch))
        rejected = [
            {"index": r.index, "field": r.field, "code": r.code, "message": r.reason}
            for r in rejects
        ]
        body: dict[str, Any] = {
            "success": not rejected,
            "accepted": written.stored,
            "duplicates": written.duplicates,
            "rejected": rejected,
        }
        if rejected and not result.accepted:
            first = rejects[0]
            # A reject's field is relative to its message; in a batch, say which message.
            field_ = first.field if facts.route_type else f"batch[{first.index}].{first.field}"
            err = WireError(400, first.code, first.reason, field_)
            return Outcome(400, {**err.body(), "rejected": rejected})
        return Outcome(200, body)

    async def quarantine_request(
        self, info: KeyInfo | None, facts: RequestFacts, err: WireError, payload: bytes
    ) -> None:
        """Keep a whole request that failed before its messages could be read."""
        if info is None:
            return
        row = quarantine_row(
            workspace_id=info.workspace_id,
            source_id=info.source_id,
            facts=facts,
            index=None,
            field_=err.field,
            code=err.code,
            reason=err.message,
            payload=payload,
        )
        await asyncio.wrap_future(self.writer.submit(WriteBatch(quarantine=[row])))


def import_batch(
    collector: Collector,
    info: KeyInfo,
    plan: TrackingPlan | None,
    items: list[tuple[int, Any]],
    row_errors: list[dict[str, Any]],
    file_name: str,
) -> tuple[WriteBatch, list[dict[str, Any]]]:
    """One file's rows as ONE write batch (so a file is never half-imported).

    `items` are (line, message); `row_errors` are rows the mapping could not turn into a
    message ({line, field, reason, row}). Both kinds of failure go to the quarantine with their
    line numbers; the returned list reports them.
    """
    facts = RequestFacts(route_type=None, client_ip=None, user_agent=None)
    ctx = collector.context_for(info, plan, facts, None)
    result = process([m for _, m in items], ctx, positions=[line for line, _ in items])
    meta = {"import_file": file_name}
    report: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    for r in result.rejects:  # r.index is the line
        report.append({"line": r.index, "field": r.field, "code": r.code, "message": r.reason})
        quarantine.append(reject_row(info, facts, r, meta))
    for e in row_errors:
        report.append(
            {
                "line": e["line"],
                "field": e["field"],
                "code": "unmappable_row",
                "message": e["reason"],
            }
        )
        quarantine.append(
            quarantine_row(
                workspace_id=info.workspace_id,
                source_id=info.source_id,
                facts=facts,
                index=e["line"],
                field_=e["field"],
                code="unmappable_row",
                reason=e["reason"],
                payload=e["row"],
                meta=meta,
            )
        )
    report.sort(key=lambda d: int(d["line"]))
    return WriteBatch(events=result.rows, quarantine=quarantine), report
