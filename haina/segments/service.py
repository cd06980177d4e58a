"""Saved segments: preview, save, list, members, CSV export, and keeping dynamic ones current.

Membership lives in the event store's `segment_members` (person and since when). A static
segment keeps the snapshot taken when it was saved (or re-snapshotted); a dynamic one is
re-evaluated by `refresh_dynamic` (the server's background refresher calls it every minute
and after new data), which records who entered and who left and stores that as `segment
entered` / `segment exited` events of the person, for journeys to react to.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
from sqlalchemy import select

from haina.identity.rules import IdentityRules
from haina.identity.store import refresh
from haina.profiles.events import PersonEvent
from haina.query.dialect import DUCKDB
from haina.segments.compile import compile_segment
from haina.segments.definition import SegmentDefinition
from haina.store.events.duckdb_store import insert_rows, transaction
from haina.store.meta import MetaStore
from haina.store.meta.models import Segment

ENTERED = "segment entered"
EXITED = "segment exited"
KINDS = ("dynamic", "static")
SAMPLE = 10
EXPORT_TRAITS_MAX = 50


class SegmentError(ValueError):
    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def evaluate(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    definition: SegmentDefinition,
    *,
    now: datetime | None = None,
) -> list[str]:
    """Everyone in the segment now (person ids, sorted), the identity graph refreshed first."""
    refresh(conn, workspace_id, rules)
    compiled = compile_segment(definition, DUCKDB, workspace_id, now=now, rules=rules)
    rows = conn.execute(compiled.sql + " ORDER BY person", compiled.params).fetchall()
    return [r[0] for r in rows]


def preview(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    definition: SegmentDefinition,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The live count and a sample of members, for the builder."""
    refresh(conn, workspace_id, rules)
    compiled = compile_segment(definition, DUCKDB, workspace_id, now=now, rules=rules)
    count = conn.execute(compiled.count(), compiled.params).fetchone()
    sample = conn.execute(compiled.sample(SAMPLE), compiled.params).fetchall()
    return {"count": int(count[0]) if count else 0, "sample": [r[0] for r in sample]}


@dataclass(frozen=True, slots=True)
class Saved:
    id: str
    name: str
    description: str
    kind: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def parsed(self) -> SegmentDefinition:
        return SegmentDefinition.model_validate(self.definition)


def _saved(row: Segment) -> Saved:
    return Saved(
        row.id,
        row.name,
        row.description,
        row.kind,
        dict(row.definition),
        row.created_at,
        row.updated_at,
    )


def _check(name: Any, kind: Any, description: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise SegmentError("name", "a segment needs a name of 1-200 characters")
    if kind not in KINDS:
        raise SegmentError("kind", "kind is dynamic or static")
    if not isinstance(description, str) or len(description) > 2000:
        raise SegmentError("description", "description is text of at most 2000 characters")


def create(
    meta: MetaStore,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    *,
    name: str,
    definition: SegmentDefinition,
    kind: str = "dynamic",
    description: str = "",
) -> Saved:
    """Save a segment and take its first membership (the snapshot, for a static one)."""
    _check(name, kind, description)
    with meta.session() as s:
        taken = s.scalar(
            select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.name == name)
        )
        if taken:
            raise SegmentError("name", f"a segment named {name!r} exists", 409)
        row = Segment(
            id="seg_" + secrets.token_hex(8),
            workspace_id=workspace_id,
            name=name.strip(),
            description=description,
            kind=kind,
            definition=definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        s.add(row)
        s.flush()
        saved = _saved(row)
    _replace_members(conn, workspace_id, saved.id, evaluate(conn, workspace_id, rules, definition))
    return saved


def update(
    meta: MetaStore,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    segment_id: str,
    changes: dict[str, Any],
) -> Saved:
    """Rename, re-describe or redefine a segment; a new definition re-takes the membership
    (a static segment's snapshot too: that is how a snapshot is renewed)."""
    unknown = set(changes) - {"name", "description", "definition", "kind"}
    if unknown:
        raise SegmentError(sorted(unknown)[0], "not a segment field")
    definition = None
    if "definition" in changes:
        definition = SegmentDefinition.model_validate(changes["definition"])
    with meta.session() as s:
        row = _row(s, workspace_id, segment_id)
        name = changes.get("name", row.name)
        kind = changes.get("kind", row.kind)
        description = changes.get("description", row.description)
        _check(name, kind, description)
        row.name, row.kind, row.description = name, kind, description
        if definition is not None:
            row.definition = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
        s.flush()
        saved = _saved(row)
    if definition is not None or "kind" in changes:
        members = evaluate(conn, workspace_id, rules, saved.parsed())
        _replace_members(conn, workspace_id, saved.id, members)
    return saved


def _row(s: Any, workspace_id: str, segment_id: str) -> Segment:
    row = s.get(Segment, segment_id)
    if row is None or row.workspace_id != workspace_id:
        raise SegmentError("segment_id", f"no segment {segment_id!r}", 404)
    return row  # type: ignore[no-any-return]


def get(meta: MetaStore, workspace_id: str, segment_id: str) -> Saved:
    with meta.session() as s:
        return _saved(_row(s, workspace_id, segment_id))


def list_segments(meta: MetaStore, workspace_id: str) -> list[Saved]:
    with meta.session() as s:
        rows = s.scalars(
            select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.name)
        ).all()
        return [_saved(r) for r in rows]


def delete(meta: MetaStore, conn: duckdb.DuckDBPyConnection, workspace_id: str, sid: str) -> None:
    with meta.session() as s:
        s.delete(_row(s, workspace_id, sid))
    conn.execute(
        "DELETE FROM segment_members WHERE workspace_id = ? AND segment_id = ?",
        [workspace_id, sid],
    )


def member_count(conn: duckdb.DuckDBPyConnection, workspace_id: str, sid: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM segment_members WHERE workspace_id = ? AND segment_id = ?",
        [workspace_id, sid],
    ).fetchone()
    return int(row[0]) if row else 0


def members(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, sid: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT person_id, since FROM segment_members WHERE workspace_id = ? "
        "AND segment_id = ? ORDER BY person_id LIMIT ? OFFSET ?",
        [workspace_id, sid, limit, offset],
    ).fetchall()
    return [{"person_id": p, "since": since.isoformat() + "Z"} for p, since in rows]


def _replace_members(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, sid: str, people: list[str]
) -> None:
    now = _now()
    with transaction(conn):
        conn.execute(
            "DELETE FROM segment_members WHERE workspace_id = ? AND segment_id = ?",
            [workspace_id, sid],
        )
        insert_rows(conn, "segment_members", [(workspace_id, sid, p, now) for p in people])


@dataclass(frozen=True, slots=True)
class Change:
    segment: Saved
    person_id: str
    entered: bool
    at: datetime


def refresh_dynamic(
    meta: MetaStore,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    *,
    now: datetime | None = None,
) -> list[Change]:
    """Re-evaluate the workspace's dynamic segments; record who entered and who left."""
    at = now or _now()
    changes: list[Change] = []
    for seg in list_segments(meta, workspace_id):
        if seg.kind != "dynamic":
            continue
        current = set(evaluate(conn, workspace_id, rules, seg.parsed(), now=now))
        before = {
            r[0]
            for r in conn.execute(
                "SELECT person_id FROM segment_members WHERE workspace_id = ? AND segment_id = ?",
                [workspace_id, seg.id],
            ).fetchall()
        }
        entered, exited = sorted(current - before), sorted(before - current)
        if not entered and not exited:
            continue
        with transaction(conn):
            if exited:
                conn.execute(
                    "DELETE FROM segment_members WHERE workspace_id = ? AND segment_id = ? "
                    "AND person_id IN (SELECT unnest(?::VARCHAR[]))",
                    [workspace_id, seg.id, exited],
                )
            insert_rows(conn, "segment_members", [(workspace_id, seg.id, p, at) for p in entered])
        changes += [Change(seg, p, True, at) for p in entered]
        changes += [Change(seg, p, False, at) for p in exited]
    return changes


def change_events(changes: list[Change]) -> list[PersonEvent]:
    """The changes as events of each person, for journeys to react to."""
    return [
        PersonEvent(
            c.person_id,
            ENTERED if c.entered else EXITED,
            c.at,
            f"{c.segment.id}-{c.person_id}-{'in' if c.entered else 'out'}-"
            f"{c.at.isoformat(timespec='microseconds')}",
            {"segment_id": c.segment.id, "segment_name": c.segment.name},
        )
        for c in changes
    ]


def export_csv(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    seg: Saved,
    traits: list[str],
) -> Iterator[str]:
    """CSV of the members (as stored) with the chosen traits as their profiles show them."""
    if len(traits) > EXPORT_TRAITS_MAX:
        raise SegmentError("traits", f"at most {EXPORT_TRAITS_MAX} traits")
    refresh(conn, workspace_id, rules)
    # Everyone's traits (no conditions), read for the members only.
    compiled = compile_segment(
        SegmentDefinition(), DUCKDB, workspace_id, rules=rules, with_traits=traits
    )
    values = {
        r[0]: r[1:]
        for r in conn.execute(
            f"SELECT * FROM ({compiled.sql}) t WHERE person IN (SELECT person_id FROM "
            "segment_members WHERE workspace_id = $seg_ws AND segment_id = $seg_id)",
            {**compiled.params, "seg_ws": workspace_id, "seg_id": seg.id},
        ).fetchall()
    }
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["person_id", "since", *traits])
    yield buf.getvalue()
    for p, since in conn.execute(
        "SELECT person_id, since FROM segment_members WHERE workspace_id = ? "
        "AND segment_id = ? ORDER BY person_id",
        [workspace_id, seg.id],
    ).fetchall():
        buf.seek(0)
        buf.truncate()
        out.writerow([p, since.isoformat() + "Z", *values.get(p, [None] * len(traits))])
        yield buf.getvalue()
