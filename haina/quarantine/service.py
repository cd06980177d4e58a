"""Listing, showing and replaying quarantined messages.

Replay re-runs the pipeline on the raw payload with the facts of the original request (client
IP, user agent, batch sentAt and context) and today's workspace settings and tracking plan.
Size limits belong to collection and are not applied again: replaying is the operator's choice.
A message that passes is stored (deduplicated on messageId) and its entry marked `replayed` in
the same transaction; one that fails again stays `new` with its reason.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import msgspec

from haina.collect.service import Collector, RequestFacts
from haina.pipeline.run import process
from haina.store.events.duckdb_store import WriteBatch, WriteResult
from haina.workspaces import NotFound, source_info
from haina.workspaces.plans import load_plan

_EPOCH = datetime(1970, 1, 1)
_FIELDS = (
    "id",
    "workspace_id",
    "source_id",
    "received_at",
    "request_id",
    "message_index",
    "message_id",
    "field",
    "code",
    "reason",
    "payload",
    "payload_encoding",
    "request_meta",
    "status",
    "replayed_at",
)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: str
    workspace_id: str | None
    source_id: str | None
    received_at: datetime
    request_id: str | None
    message_index: int | None
    message_id: str | None
    field: str | None
    code: str
    reason: str
    payload: str
    payload_encoding: str
    request_meta: str | None
    status: str
    replayed_at: datetime | None

    def as_dict(self, *, with_payload: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["received_at"] = self.received_at.isoformat() + "Z"
        d["replayed_at"] = self.replayed_at.isoformat() + "Z" if self.replayed_at else None
        if not with_payload:
            d.pop("payload")
            d.pop("request_meta")
        return d


def list_entries(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    *,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[QuarantineEntry]:
    sql = f"SELECT {', '.join(_FIELDS)} FROM quarantine WHERE workspace_id = ?"
    params: list[Any] = [workspace_id]
    if status:
        sql += " AND status = ?"
        params.append(status)
    sql += " ORDER BY received_at DESC, message_index LIMIT ? OFFSET ?"
    params += [limit, offset]
    return [QuarantineEntry(*row) for row in conn.execute(sql, params).fetchall()]


def show_entry(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, entry_id: str
) -> QuarantineEntry:
    row = conn.execute(
        f"SELECT {', '.join(_FIELDS)} FROM quarantine WHERE workspace_id = ? AND id = ?",
        [workspace_id, entry_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"no quarantined message {entry_id!r}")
    return QuarantineEntry(*row)


def _payload(entry: QuarantineEntry) -> Any:
    raw = (
        base64.b64decode(entry.payload)
        if entry.payload_encoding == "base64"
        else entry.payload.encode()
    )
    return msgspec.json.decode(raw)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    replayed: int
    stored: int
    duplicates: int
    still_failing: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _messages(entry: QuarantineEntry, data: Any) -> tuple[list[Any], dict[str, Any]]:
    """The messages inside an entry, and the batch-level fields to apply to them."""
    if (
        entry.message_index is None
        and isinstance(data, dict)
        and isinstance(data.get("batch"), list)
    ):
        return data["batch"], data
    return [data], {}


async def replay(
    collector: Collector,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    ids: list[str] | None = None,
) -> ReplayReport:
    """Re-run the pipeline on quarantined messages (the given ids, or every `new` one)."""
    entries = (
        [show_entry(conn, workspace_id, i) for i in ids]
        if ids
        else list_entries(conn, workspace_id, status="new", limit=100_000)
    )
    stored = duplicates = replayed = 0
    failing: list[dict[str, Any]] = []
    for entry in entries:
        if entry.status != "new" or entry.source_id is None:
            continue
        result, error = await _replay_one(collector, entry)
        if error is not None:
            failing.append({"id": entry.id, **error})
            continue
        assert result is not None
        replayed += 1
        stored += result.stored
        duplicates += result.duplicates
    return ReplayReport(replayed, stored, duplicates, failing)


async def _replay_one(
    collector: Collector, entry: QuarantineEntry
) -> tuple[WriteResult | None, dict[str, Any] | None]:
    try:
        data = _payload(entry)
    except (msgspec.DecodeError, ValueError) as exc:
        return None, {"code": "invalid_json", "field": "body", "reason": str(exc)}
    meta = msgspec.json.decode(entry.request_meta or "{}")
    try:
        info = source_info(collector.meta, entry.source_id or "")
    except NotFound as exc:
        return None, {"code": "unknown_source", "field": "source_id", "reason": str(exc)}
    messages, batch_fields = _messages(entry, data)
    # Replay as of the original arrival, so clock-skew correction gives the same event time.
    facts = RequestFacts(
        route_type=meta.get("route_type"),
        client_ip=meta.get("client_ip"),
        user_agent=meta.get("user_agent"),
        received_at_us=(entry.received_at - _EPOCH) // timedelta(microseconds=1),
    )
    batch_fields = batch_fields or {
        "sentAt": meta.get("sent_at"),
        "context": meta.get("context"),
        "integrations": meta.get("integrations"),
    }
    ctx = collector.context_for(
        info,
        load_plan(collector.meta, info.workspace_id),
        facts,
        batch_fields if facts.route_type is None else None,
    )
    result = process(messages, ctx)
    if result.rejects:
        r = result.rejects[0]
        return None, {"code": r.code, "field": r.field, "reason": r.reason, "index": r.index}
    batch = WriteBatch(events=result.rows, quarantine_status=[(entry.id, "replayed")])
    return await asyncio.wrap_future(collector.writer.submit(batch)), None


async def discard(
    collector: Collector, conn: duckdb.DuckDBPyConnection, workspace_id: str, ids: list[str]
) -> int:
    """Mark entries as discarded (kept for the record, never replayed); returns how many."""
    entries = [show_entry(conn, workspace_id, i) for i in ids]
    batch = WriteBatch(
        quarantine_status=[(e.id, "discarded") for e in entries if e.status == "new"]
    )
    await asyncio.wrap_future(collector.writer.submit(batch))
    return len(batch.quarantine_status)
