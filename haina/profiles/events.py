"""Events Haina records about a person (segment entered / exited, lifecycle stage changed):
Segment-format track messages sent as the person's user id (else their earliest anonymous id),
so the identity graph resolves them back to the person, and stored through the pipeline and
the writer like any other message."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from haina.identity.identifiers import USER_ID
from haina.pipeline.run import IngestContext, process
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch
from haina.workspaces import WorkspaceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PersonEvent:
    person_id: str
    event: str
    at: datetime  # naive UTC
    key: str  # makes the messageId: the same change is one message, however often sent
    properties: dict[str, Any] = field(default_factory=dict)


def messages(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, items: list[PersonEvent], library: str
) -> list[dict[str, Any]]:
    people = sorted({i.person_id for i in items})
    ids: dict[str, tuple[str, str]] = {}
    for pid, kind, value in conn.execute(
        "SELECT person_id, id_type, id_value FROM identity_nodes WHERE workspace_id = ? "
        "AND person_id IN (SELECT unnest(?::VARCHAR[])) AND id_type IN ('user_id', "
        "'anonymous_id') ORDER BY person_id, id_type DESC, first_ts, id_value",
        [workspace_id, people],
    ).fetchall():
        ids.setdefault(pid, (kind, value))  # 'user_id' sorts after 'anonymous_id': DESC first
    out = []
    for item in items:
        if item.person_id not in ids:
            continue
        kind, value = ids[item.person_id]
        out.append(
            {
                "type": "track",
                "event": item.event,
                "messageId": f"{library}-{item.key}"[:100],
                "timestamp": item.at.isoformat(timespec="microseconds") + "Z",
                "userId" if kind == USER_ID else "anonymousId": value,
                "properties": item.properties,
                "context": {"library": {"name": library}},
            }
        )
    return out


def record(
    writer: GroupCommitWriter,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    settings: WorkspaceSettings,
    items: list[PersonEvent],
    library: str,
) -> int:
    """Store the events (durably, deduplicated on messageId); returns how many."""
    batch = messages(conn, workspace_id, items, library)
    if not batch:
        return 0
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    out = process(batch, IngestContext(workspace_id, library, "server", settings, now_us))
    if out.rejects:
        log.warning("%s events rejected: %s", library, out.rejects[:3])
    writer.write(WriteBatch(events=out.rows))
    return out.accepted
