"""A person's profile, read from the identity graph and their events.

`find_person` resolves an identifier (or a person id, also one merged away) to a person;
`profile` assembles identities, merges, traits with their history, computed traits and the
lifecycle stage; `timeline` pages through their events newest first. Everything is read
through the identity graph when asked, so a merge shows at once (docs/profiles.md).
"""

from __future__ import annotations

import json
import secrets
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from haina.identity.identifiers import ANONYMOUS_ID, USER_ID, BadIdentifier, normalise
from haina.identity.rules import IdentityRules
from haina.identity.store import refresh
from haina.profiles.tags import tags_of
from haina.scoring.engine import history_of, score_of

# Events that are orders, and the properties that hold their value (Segment's e-commerce spec
# and GA4's names).
ORDER_EVENTS = ("Order Completed", "purchase")
ORDER_VALUE_PROPS = ("revenue", "total", "value")
TIMELINE_MAX = 200


class ProfileError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    identities: list[tuple[str, str, datetime]]  # (type, value, first seen)
    merged_from: str | None = None  # the person id asked for, when it was merged into this one

    def ids_of(self, kind: str) -> list[str]:
        return [v for k, v, _ in self.identities if k == kind]


def find_person(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    *,
    kind: str | None = None,
    value: str | None = None,
    person_id: str | None = None,
) -> Person | None:
    """The person an identifier (type and value, normalised as at collection) or a person id
    belongs to, with the graph refreshed first."""
    refresh(conn, workspace_id, rules)
    if person_id is None:
        if kind not in rules.types:
            raise ProfileError("type", f"unknown identifier type {kind!r}")
        if value is None or value == "":
            raise ProfileError("value", "give the identifier's value")
        if kind not in (USER_ID, ANONYMOUS_ID):
            try:
                value = normalise(kind, value, rules.phone_region)
            except BadIdentifier as exc:
                raise ProfileError("value", str(exc)) from None
        row = conn.execute(
            "SELECT person_id FROM identity_nodes WHERE workspace_id = ? AND id_type = ? "
            "AND id_value = ?",
            [workspace_id, kind, value],
        ).fetchone()
        if row is None:
            return None
        person_id = row[0]
    merged_from = None
    ids = _identities(conn, workspace_id, person_id)
    if not ids:
        row = conn.execute(
            "SELECT n.person_id FROM identity_merges m JOIN identity_nodes n "
            "ON n.workspace_id = m.workspace_id AND n.id_type = m.merged_type "
            "AND n.id_value = m.merged_value WHERE m.workspace_id = ? "
            "AND m.merged_person_id = ? LIMIT 1",
            [workspace_id, person_id],
        ).fetchone()
        if row is None:
            return None
        merged_from, person_id = person_id, row[0]
        ids = _identities(conn, workspace_id, person_id)
    return Person(person_id, ids, merged_from)


def _identities(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person_id: str
) -> list[tuple[str, str, datetime]]:
    return conn.execute(
        "SELECT id_type, id_value, first_ts FROM identity_nodes WHERE workspace_id = ? "
        "AND person_id = ? ORDER BY first_ts, id_type, id_value",
        [workspace_id, person_id],
    ).fetchall()


def _events_of(person: Person, columns: str, where: str = "TRUE", src: str | None = None) -> str:
    """SQL of the person's events (the event's user id decides; its anonymous id when the
    user id is not in the graph), parameters $ws, $pid, $since, $uids, $aids."""
    if src is not None:  # the person's events, read once already (see `profile`)
        return f"SELECT {columns} FROM {src} c WHERE ({where})"
    return (
        "WITH c AS (SELECT * FROM events WHERE workspace_id = $ws AND timestamp >= $since AND "
        "(user_id IN (SELECT unnest($uids::VARCHAR[])) "
        "OR anonymous_id IN (SELECT unnest($aids::VARCHAR[]))))\n"
        f"SELECT {columns} FROM c LEFT JOIN identity_nodes nu ON nu.workspace_id = $ws "
        "AND nu.id_type = 'user_id' AND nu.id_value = c.user_id "
        "LEFT JOIN identity_nodes na ON na.workspace_id = $ws "
        "AND na.id_type = 'anonymous_id' AND na.id_value = c.anonymous_id "
        f"WHERE coalesce(nu.person_id, na.person_id) = $pid AND ({where})"
    )


def _params(
    workspace_id: str, person: Person, src: str | None = None, **more: Any
) -> dict[str, Any]:
    if src is not None:
        return dict(more)
    return {
        "ws": workspace_id,
        "pid": person.person_id,
        # No event of theirs is older than their identifiers' first sighting; events are
        # stored roughly in time order, so this skips the row groups before it.
        "since": min((at for _, _, at in person.identities), default=datetime(1970, 1, 1)),
        "uids": person.ids_of(USER_ID),
        "aids": person.ids_of(ANONYMOUS_ID),
        **more,
    }


def profile(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    person: Person,
    rules: IdentityRules,
    *,
    conversion_events: tuple[str, ...],
    timezone: str,
    session_timeout_minutes: int = 30,
) -> dict[str, Any]:
    # The person's events are read once (each statement would scan the workspace's events).
    src = f"person_events_{secrets.token_hex(6)}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "an extra copy": the rows of one person
        rows = conn.execute(_events_of(person, "c.*"), _params(workspace_id, person))
        conn.register(src, rows.to_arrow_table())
    try:
        traits, history = _traits(conn, workspace_id, person, rules, src)
        computed = _computed(
            conn, workspace_id, person, conversion_events, timezone, session_timeout_minutes, src
        )
    finally:
        conn.unregister(src)
    merges = [
        {
            "merge_id": mid,
            "at": _iso(at),
            "message_id": message,
            "into": {"type": it, "value": iv},
            "merged": {"type": mt, "value": mv, "person_id": mp},
            "identifiers": [{"type": k, "value": v} for k, v in json.loads(idents)],
        }
        for mid, at, message, it, iv, mt, mv, mp, idents in conn.execute(
            "SELECT merge_id, merged_at, message_id, into_type, into_value, merged_type, "
            "merged_value, merged_person_id, identifiers FROM identity_merges "
            "WHERE workspace_id = ? AND person_id = ? ORDER BY merged_at, merge_id",
            [workspace_id, person.person_id],
        ).fetchall()
    ]
    known = any(k != ANONYMOUS_ID for k, _, _ in person.identities)
    score = score_of(conn, workspace_id, person.person_id)
    if score is not None:
        stage = score["stage"]  # as the last scoring refresh moved it (never backwards)
    else:
        stage = "customer" if computed["orders"] else "known_lead" if known else "anonymous_visitor"
    return {
        "person_id": person.person_id,
        "merged_from": person.merged_from,
        "identities": [
            {"type": k, "value": v, "first_seen": _iso(at)} for k, v, at in person.identities
        ],
        "traits": traits,
        "trait_history": history,
        "computed": computed,
        "tags": tags_of(conn, workspace_id, person.person_id),
        "score": score,
        "score_history": history_of(conn, workspace_id, person.person_id, limit=20),
        "lifecycle_stage": stage,
        "merges": merges,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds") + "Z" if at is not None else None


_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _traits(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    person: Person,
    rules: IdentityRules,
    src: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Traits as last set (or by the trait's merge strategy) and each change, oldest first."""
    rows = conn.execute(
        _events_of(
            person,
            "c.timestamp, c.message_id, coalesce(c.user_id, c.anonymous_id), c.traits, "
            "json_extract(c.context, '$.traits')",
            "c.traits IS NOT NULL OR json_exists(c.context, '$.traits')",
            src,
        )
        + " ORDER BY c.timestamp, c.message_id",
        _params(workspace_id, person, src),
    ).fetchall()
    latest: dict[str, Any] = {}  # the last value given, null included (for the history)
    last_set: dict[str, Any] = {}  # the last non-null value
    oldest: dict[str, Any] = {}
    non_empty: dict[str, Any] = {}
    per_ident: dict[str, dict[str, Any]] = {}  # for "sum": each identifier's latest value
    history: list[dict[str, Any]] = []
    for at, mid, ident, own, ctx in rows:
        bag: dict[str, Any] = {}
        for text in (ctx, own):  # the call's own traits win over context.traits
            value = json.loads(text) if text else None
            if isinstance(value, dict):
                bag.update(value)
        for key, value in bag.items():
            if key not in latest or latest[key] != value:
                history.append({"trait": key, "value": value, "at": _iso(at), "message_id": mid})
            latest[key] = value
            if value is not None:
                last_set[key] = value
                oldest.setdefault(key, value)
            if value not in _EMPTY:
                non_empty[key] = value
            per_ident.setdefault(key, {})[ident] = value
    out: dict[str, Any] = {}
    for key in latest:
        strategy = rules.strategy(key)
        if strategy == "oldest":
            value = oldest.get(key)
        elif strategy == "non_empty":
            value = non_empty.get(key)
        elif strategy == "sum":
            numbers = [
                v
                for v in per_ident[key].values()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            value = sum(numbers) if numbers else None
        else:
            value = last_set.get(key)
        if value is not None:
            out[key] = value
    return out, history


def _computed(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    person: Person,
    conversion_events: tuple[str, ...],
    timezone: str,
    timeout_minutes: int,
    src: str | None = None,
) -> dict[str, Any]:
    # The order's value: revenue, else total, else value.
    value = (
        "coalesce("
        + ", ".join(
            f"TRY_CAST(json_extract_string(c.properties, '$.{p}') AS DOUBLE)"
            for p in ORDER_VALUE_PROPS
        )
        + ", 0)"
    )
    active = "NOT (c.type = 'track' AND c.event = '$engagement')"
    touch = "c.type = 'page' AND c.channel IS NOT NULL"
    sql = _events_of(
        person,
        "min(c.timestamp), max(c.timestamp), count(*) FILTER (WHERE " + active + "), "
        "count(*) FILTER (WHERE c.type = 'page'), "
        "count(DISTINCT CAST(timezone($tz, c.timestamp::TIMESTAMPTZ) AS DATE)), "
        "count(*) FILTER (WHERE c.type = 'track' AND c.event IN "
        "(SELECT unnest($conv::VARCHAR[]))), "
        "count(*) FILTER (WHERE c.type = 'track' AND c.event IN "
        "(SELECT unnest($orders::VARCHAR[]))), "
        f"sum({value}) FILTER (WHERE c.type = 'track' AND c.event IN "
        "(SELECT unnest($orders::VARCHAR[]))), "
        "mode(c.device_type) FILTER (WHERE c.device_type IS NOT NULL), "
        f"arg_min([c.channel, c.source, c.campaign], (c.timestamp, c.message_id)) "
        f"FILTER (WHERE {touch}), "
        f"arg_max([c.channel, c.source, c.campaign], (c.timestamp, c.message_id)) "
        f"FILTER (WHERE {touch})",
        src=src,
    )
    params = _params(
        workspace_id,
        person,
        src,
        tz=timezone,
        conv=list(conversion_events),
        orders=list(ORDER_EVENTS),
    )
    (row,) = conn.execute(sql, params).fetchall()  # (all: DuckDB will not unregister
    # the person's events while a result is unfinished)
    first, last, events, pageviews, days, conversions, orders, spend, device, ft, lt = row
    gap = f"INTERVAL {int(timeout_minutes)} MINUTE"
    sessions = conn.execute(
        f"WITH ev AS ({_events_of(person, 'c.timestamp AS ts', active, src)}) "
        "SELECT count(*) FILTER (WHERE prev IS NULL OR ts - prev > " + gap + ") FROM "
        "(SELECT ts, lag(ts) OVER (ORDER BY ts) AS prev FROM ev)",
        _params(workspace_id, person, src),
    ).fetchall()

    def touch_of(t: list[str | None] | None) -> dict[str, Any] | None:
        return dict(zip(("channel", "source", "campaign"), t, strict=True)) if t else None

    return {
        "first_seen": _iso(first),
        "last_seen": _iso(last),
        "events": int(events or 0),
        "sessions": int(sessions[0][0] or 0) if sessions else 0,
        "active_days": int(days or 0),
        "pageviews": int(pageviews or 0),
        "conversions": int(conversions or 0),
        "orders": int(orders or 0),
        "total_spend": round(float(spend or 0), 2),
        "preferred_device": device,
        "first_touch": touch_of(ft),
        "last_touch": touch_of(lt),
        "last_active_channel": lt[0] if lt else None,
    }


def timeline(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    person: Person,
    *,
    limit: int = 50,
    before: str | None = None,
    channel: str | None = None,
    event_type: str | None = None,
    event: str | None = None,
) -> dict[str, Any]:
    """The person's events, newest first; `before` is the `next` cursor of the last page;
    `channel`, `event_type` (message type) and `event` (its name, `$pageview` for pages)
    filter."""
    if not 1 <= limit <= TIMELINE_MAX:
        raise ProfileError("limit", f"limit must be 1 to {TIMELINE_MAX}")
    where = ["NOT (c.type = 'track' AND c.event = '$engagement')"]
    more: dict[str, Any] = {}
    if before:
        try:
            at_text, _, mid = before.partition("|")
            more["bts"] = datetime.fromisoformat(at_text)
        except ValueError:
            raise ProfileError("before", "not a cursor from this timeline") from None
        more["bmid"] = mid
        where.append("(c.timestamp, c.message_id) < ($bts, $bmid)")
    if channel:
        more["channel"] = channel
        where.append("c.channel = $channel")
    if event_type:
        more["etype"] = event_type
        where.append("c.type = $etype")
    if event:
        more["ename"] = event
        where.append(
            "CASE WHEN c.type = 'page' THEN '$pageview' WHEN c.type = 'screen' THEN '$screen' "
            "ELSE c.event END = $ename"
        )
    rows = conn.execute(
        _events_of(
            person,
            "c.timestamp, c.message_id, c.type, c.event, c.name, c.url, c.path, c.title, "
            "c.channel, c.source, c.medium, c.campaign, c.device_type, c.browser, c.os, "
            "c.city, c.properties, c.source_id",
            " AND ".join(where),
        )
        + f" ORDER BY c.timestamp DESC, c.message_id DESC LIMIT {limit + 1}",
        _params(workspace_id, person, **more),
    ).fetchall()
    items = []
    for r in rows[:limit]:
        (at, mid, kind, event, name, url, path, title, ch, src, med, camp, dev, br, os_,
         city, props, source_id) = r  # fmt: skip
        items.append(
            {
                "timestamp": _iso(at),
                "message_id": mid,
                "type": kind,
                "event": event if kind == "track" else "$pageview" if kind == "page" else event,
                "name": name,
                "url": url,
                "path": path,
                "title": title,
                "channel": ch,
                "source": src,
                "medium": med,
                "campaign": camp,
                "device_type": dev,
                "browser": br,
                "os": os_,
                "city": city,
                "source_id": source_id,
                "properties": json.loads(props) if props else {},
            }
        )
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = f"{last[0].isoformat()}|{last[1]}"
    return {"person_id": person.person_id, "events": items, "next": nxt}
