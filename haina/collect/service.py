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
import logging
import multiprocessing
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from haina.collect.wire import WireError, encoded_size
from haina.config import Settings, load_secret
from haina.pipeline.geo import GeoLookup, open_geo
from haina.pipeline.plan import TrackingPlan
from haina.pipeline.run import IngestContext, Reject, process
from haina.store.events.duckdb_store import (
    Columns,
    EncodedRows,
    GroupCommitWriter,
    WriteBatch,
    WriteResult,
)
from haina.store.meta import MetaStore
from haina.workspaces import KeyInfo, WorkspaceSettings, lookup_write_key
from haina.workspaces.plans import load_plan

log = logging.getLogger("haina.collect")
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
    request waits. For the server and its workers; CLI commands that never run the pipeline
    do not pay for it."""
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


def ingest_context(
    info: KeyInfo,
    plan: TrackingPlan | None,
    facts: RequestFacts,
    data: dict[str, Any] | None,
    geo: GeoLookup | None,
    salt: bytes,
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
        geo=geo,
        cookieless_salt=salt,
    )


def messages_of(data: Any, facts: RequestFacts, body_size: int, limits: Limits) -> list[Any]:
    """The messages of a decoded body, or a WireError for the whole request."""
    if facts.route_type is not None:
        if body_size > limits.message_bytes:
            raise WireError(
                413,
                "message_too_large",
                f"a message may be at most {limits.message_bytes} bytes",
                "body",
                limits.message_bytes,
            )
        return [data]
    if body_size > limits.batch_bytes:
        raise WireError(
            413,
            "batch_too_large",
            f"a batch may be at most {limits.batch_bytes} bytes",
            "batch",
            limits.batch_bytes,
        )
    if not isinstance(data, dict) or not isinstance(data.get("batch"), list):
        raise WireError(
            400, "invalid_batch", "the body must be an object with a `batch` array", "batch"
        )
    batch: list[Any] = data["batch"]
    if len(batch) > limits.batch_messages:
        raise WireError(
            413,
            "too_many_messages",
            f"a batch may hold at most {limits.batch_messages} messages",
            "batch",
            limits.batch_messages,
        )
    return batch


def size_rejects(
    messages: list[Any], single: bool, limits: Limits
) -> tuple[list[Any], list[int], list[Reject]]:
    """Split off messages over the per-message limit (batches only); returns the kept
    messages, their positions in the request, and the rejects."""
    if single:
        return messages, list(range(len(messages))), []
    keep: list[Any] = []
    positions: list[int] = []
    rejects: list[Reject] = []
    limit = limits.message_bytes
    for i, m in enumerate(messages):
        if encoded_size(m) > limit:
            reason = f"a message may be at most {limit} bytes"
            rejects.append(Reject(i, "message", "message_too_large", reason, m))
        else:
            keep.append(m)
            positions.append(i)
    return keep, positions, rejects


@dataclass(slots=True)
class Prepared:
    """A request run through the pipeline, before the journal: what to write, what to say."""

    events: Columns
    quarantine: list[dict[str, Any]]
    rejected: list[dict[str, Any]]  # {"index", "field", "code", "message"}, by index
    accepted: int  # messages the pipeline kept
    encoded: list[EncodedRows] = field(default_factory=list)

    def outcome(self, written: WriteResult, route_type: str | None) -> Outcome:
        rejected = self.rejected
        body: dict[str, Any] = {
            "success": not rejected,
            "accepted": written.stored,
            "duplicates": written.duplicates,
            "rejected": rejected,
        }
        if rejected and not self.accepted:
            first = rejected[0]
            # A reject's field is relative to its message; in a batch, say which message.
            field_ = first["field"] if route_type else f"batch[{first['index']}].{first['field']}"
            err = WireError(400, first["code"], first["message"], field_)
            return Outcome(400, {**err.body(), "rejected": rejected})
        return Outcome(200, body)


def prepare(
    info: KeyInfo,
    plan: TrackingPlan | None,
    data: Any,
    facts: RequestFacts,
    body_size: int,
    limits: Limits,
    geo: GeoLookup | None,
    salt: bytes,
) -> Prepared:
    """Limits, the pipeline and the quarantine rows of one decoded request (in the server or in
    a worker process). Whole-request failures raise `WireError`."""
    messages = messages_of(data, facts, body_size, limits)
    kept, positions, too_large = size_rejects(messages, facts.route_type is not None, limits)
    ctx = ingest_context(info, plan, facts, data if facts.route_type is None else None, geo, salt)
    result = process(kept, ctx, positions=positions)
    rejects = sorted(result.rejects + too_large, key=lambda r: r.index)
    meta = {
        "sent_at": ctx.batch_sent_at,
        "context": ctx.batch_context,
        "integrations": ctx.batch_integrations,
    }
    return Prepared(
        events=result.rows,
        quarantine=[reject_row(info, facts, r, meta) for r in rejects],
        rejected=[
            {"index": r.index, "field": r.field, "code": r.code, "message": r.reason}
            for r in rejects
        ],
        accepted=result.accepted,
    )


def workers_pool(n: int, geo_path: Path | None) -> ProcessPoolExecutor:
    """Processes forked from a clean fork server (the server has DuckDB's threads: no plain
    fork), which imported the pipeline once; each opens the geo database and warms up."""
    from haina.collect import workers

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["haina.collect.workers"])
    return ProcessPoolExecutor(
        n, mp_context=context, initializer=workers.start, initargs=(geo_path,)
    )


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
        workers: int = 0,
        worker_min_bytes: int = 16 * 1024,
        geo_path: Path | None = None,
    ) -> None:
        self.meta = meta
        self.writer = writer
        self.limits = limits
        self.geo = geo
        self.geo_path = geo_path
        self.secret = secret
        self.workers = workers
        self.worker_min_bytes = worker_min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._starting: threading.Thread | None = None
        self._closed = False
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
        return cls(
            meta,
            writer,
            limits=limits,
            geo=open_geo(settings.geoip_path),
            secret=load_secret(settings.data_dir),
            key_cache_seconds=settings.write_key_cache_seconds,
            workers=settings.collect_workers,
            worker_min_bytes=settings.collect_worker_min_bytes,
            geo_path=settings.geoip_path,
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
        return ingest_context(
            info, plan, facts, data, self.geo, self.cookieless_salt(facts.received_at_us)
        )

    async def collect(
        self,
        info: KeyInfo,
        plan: TrackingPlan | None,
        data: Any,
        facts: RequestFacts,
        body_size: int,
    ) -> Outcome:
        prepared = prepare(
            info,
            plan,
            data,
            facts,
            body_size,
            self.limits,
            self.geo,
            self.cookieless_salt(facts.received_at_us),
        )
        batch = WriteBatch(events=prepared.events, quarantine=prepared.quarantine)
        written = await asyncio.wrap_future(self.writer.submit(batch))
        return prepared.outcome(written, facts.route_type)

    def offloads(self, route_type: str | None, body_size: int) -> bool:
        """Whether a request goes to the worker processes (`collect_raw`): batches of at least
        `worker_min_bytes`, once the workers are up. The first such batch starts them, in the
        background (about a second; that batch and those until then run here)."""
        if self.workers <= 0 or route_type is not None or body_size < self.worker_min_bytes:
            return False
        if self._pool is None:
            with self._pool_lock:
                if self._starting is None:
                    self._starting = threading.Thread(
                        target=self._start_pool, name="haina-workers", daemon=True
                    )
                    self._starting.start()
            return False
        return True

    def _start_pool(self) -> None:
        from haina.collect import workers

        try:
            pool = workers_pool(self.workers, self.geo_path)
            # Every worker up and warmed before the first batch is sent.
            list(pool.map(workers.ready, [0.1] * self.workers))
        except Exception:  # noqa: BLE001 - collection goes on in this process
            log.exception("collection workers did not start; batches run in the server")
            return
        with self._pool_lock:
            if self._closed:
                pool.shutdown(wait=False, cancel_futures=True)
            else:
                self._pool = pool

    async def collect_raw(
        self, info: KeyInfo, plan: TrackingPlan | None, body: bytes, facts: RequestFacts
    ) -> Outcome:
        """`collect` for a batch still in bytes: decoding, the limits and the pipeline run in a
        worker process (haina/collect/workers.py), the journal takes the rows as encoded there.
        Whole-request failures raise `WireError`, as in `collect`."""
        from haina.collect.workers import BatchJob, run_batch

        assert self._pool is not None
        job = BatchJob(
            info, plan, facts, body, self.limits, self.cookieless_salt(facts.received_at_us)
        )
        done = await asyncio.get_running_loop().run_in_executor(self._pool, run_batch, job)
        if isinstance(done, WireError):
            raise done
        batch = WriteBatch(encoded=done.encoded, quarantine=done.quarantine)
        written = await asyncio.wrap_future(self.writer.submit(batch))
        return done.outcome(written, facts.route_type)

    def close(self) -> None:
        """Stop the worker processes (the writer and the metadata store are the caller's)."""
        with self._pool_lock:
            self._closed = True
            starting, pool, self._pool = self._starting, self._pool, None
        if starting is not None:
            starting.join()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

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
