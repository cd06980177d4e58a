"""Tags (标签): manual, rule and inferred (docs/tags.md).

- **Manual** tags are put on a person's identifiers (`manual_tags`), so they follow the person
  through merges and splits; added and removed one by one, for a segment's members, or from a
  CSV of identifiers.
- **Rule** tags: a tag rule is a segment definition; everyone who meets it has the tag.
- **Inferred** tags come with the rule that inferred them and a confidence: interests from
  time-decayed weights of what a person engages with, price sensitivity from price-driven
  behaviour, spending power from order values.

Rule and inferred tags are recomputed for a workspace by `refresh` (the server's background
refresher runs it when data changed), kept in `person_tags` with the time each appeared.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from haina.identity.rules import IdentityRules
from haina.identity.store import refresh as refresh_identity
from haina.query.dialect import DUCKDB
from haina.query.scope import PERSON, PERSON_JOINS, identity_ctes
from haina.segments.compile import EVENT_NAME, KNOWN, NOT_BOT, compile_segment
from haina.segments.definition import SegmentDefinition
from haina.store.events.duckdb_store import insert_rows, transaction

TAG_NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")

# Interest: how much each engagement with a category counts (before decay).
INTEREST_WEIGHTS: dict[str, float] = {
    "Product List Viewed": 0.5,
    "Product Viewed": 1.0,
    "Article Read": 1.0,
    "$pageview": 0.5,
    "Product Added": 3.0,
    "Added to Cart": 3.0,
    "Product Added to Wishlist": 2.0,
    "Order Completed": 5.0,
}
INTEREST_MIN_SCORE = 2.0
INTEREST_MIN_SHARE = 0.2
INTEREST_TOP = 3
# Price sensitivity: signals and their weights (before decay).
PRICE_COUPON_EVENTS = ("Coupon Viewed", "Coupon Entered", "Coupon Applied", "Coupon Denied")
PRICE_PAGE_PATTERN = r"(sale|discount|coupon|promo|deal|clearance|优惠|折扣|特价|促销|券)"
PRICE_WEIGHTS = {"sort_by_price": 1.0, "coupon": 2.0, "discount_page": 1.0, "cart_abandoned": 1.0}
PRICE_MIN_SCORE = 3.0
CART_EVENTS = ("Product Added", "Added to Cart")
ORDER_EVENTS = ("Order Completed", "purchase")
ABANDON_DAYS = 7
SPENDING_DAYS = 365
SPENDING_MIN_BUYERS = 10


@dataclass(frozen=True, slots=True)
class Inference:
    """Settings of the inferred tags (workspace setting `tags`)."""

    half_life_days: float = 30.0
    enabled: bool = True

    @classmethod
    def from_json(cls, raw: Any) -> Inference:
        if raw is None:
            return cls()
        if not isinstance(raw, dict) or set(raw) - {"half_life_days", "inferred"}:
            raise ValueError("tags settings are {half_life_days, inferred}")
        half = raw.get("half_life_days", 30.0)
        if isinstance(half, bool) or not isinstance(half, int | float) or not 1 <= half <= 3650:
            raise ValueError("tags.half_life_days must be 1 to 3650")
        inferred = raw.get("inferred", True)
        if not isinstance(inferred, bool):
            raise ValueError("tags.inferred must be true or false")
        return cls(float(half), inferred)


@dataclass(frozen=True, slots=True)
class TagRow:
    person_id: str
    tag: str
    kind: str  # "rule" | "inferred"
    confidence: float | None
    rule: str
    explanation: str


class TagError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not TAG_NAME.match(tag.strip()):
        raise TagError("tag", "a tag is 1-100 characters without control characters")
    return tag.strip()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- what a refresh computes ----------------------------------------------------------------


def rule_tags(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    tag_rules: list[tuple[str, str, dict[str, Any]]],
    now: datetime,
) -> list[TagRow]:
    """(rule id, tag, definition) → everyone who meets each rule has its tag."""
    out = []
    for rule_id, tag, definition in tag_rules:
        compiled = compile_segment(
            SegmentDefinition.model_validate(definition), DUCKDB, workspace_id, now=now, rules=rules
        )
        for (person,) in conn.execute(compiled.sql, compiled.params).fetchall():
            out.append(TagRow(person, tag, "rule", None, rule_id, "meets the rule"))
    return out


DECAY = "pow(0.5, (epoch_us($now) - epoch_us(e.timestamp)) / $half_us)"


def _person_events(decay: str = DECAY) -> str:
    """CTEs ending in `pe`: the workspace's events up to $now (bots' left out) by the graph's
    person, with their name and `decay` (parameters $ws, $now and those `decay` uses)."""
    return (
        f"WITH {identity_ctes('$ws')},\n"
        f"pe AS (SELECT {PERSON} AS pid, e.timestamp AS ts, e.type, {EVENT_NAME} AS name, "
        f"e.properties, e.path, {decay} AS decay FROM events e {PERSON_JOINS} "
        f"WHERE e.workspace_id = $ws AND {NOT_BOT} AND e.timestamp <= $now AND {KNOWN})\n"
    )


def inferred_tags(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, inference: Inference, now: datetime
) -> list[TagRow]:
    if not inference.enabled:
        return []
    params = {
        "ws": workspace_id,
        "now": now,
        "half_us": inference.half_life_days * 86_400_000_000,
    }
    return [
        *_interests(conn, params, inference),
        *_price_sensitive(conn, params, inference),
        *_spending(conn, workspace_id, now),
    ]


def _interests(
    conn: duckdb.DuckDBPyConnection, params: dict[str, Any], inference: Inference
) -> list[TagRow]:
    weights = "CASE name " + " ".join(
        f"WHEN '{name}' THEN {w}" for name, w in INTEREST_WEIGHTS.items()
    )
    rows = conn.execute(
        _person_events()
        + f"SELECT pid, category, sum(({weights} ELSE 0 END) * decay) AS score FROM ("
        "SELECT *, json_extract_string(properties, '$.category') AS category FROM pe) "
        "WHERE category IS NOT NULL AND category <> '' GROUP BY pid, category",
        params,
    ).fetchall()
    by_person: dict[str, list[tuple[str, float]]] = {}
    for pid, category, score in rows:
        if score:
            by_person.setdefault(pid, []).append((category, float(score)))
    out = []
    for pid, scores in by_person.items():
        total = sum(s for _, s in scores)
        ranked = sorted(scores, key=lambda cs: (-cs[1], cs[0]))[:INTEREST_TOP]
        for category, score in ranked:
            share = score / total
            if score >= INTEREST_MIN_SCORE and share >= INTEREST_MIN_SHARE:
                confidence = round(share * (1 - math.exp(-score / INTEREST_MIN_SCORE)), 3)
                out.append(
                    TagRow(
                        pid,
                        f"interest:{category}",
                        "inferred",
                        confidence,
                        "interest",
                        f"score {score:.2f} ({share:.0%} of their interest; half-life "
                        f"{inference.half_life_days:g} days)",
                    )
                )
    return out


def _price_sensitive(
    conn: duckdb.DuckDBPyConnection, params: dict[str, Any], inference: Inference
) -> list[TagRow]:
    coupons = ", ".join(f"'{c}'" for c in PRICE_COUPON_EVENTS)
    carts = ", ".join(f"'{c}'" for c in CART_EVENTS)
    orders = ", ".join(f"'{c}'" for c in ORDER_EVENTS)
    w = PRICE_WEIGHTS
    rows = conn.execute(
        _person_events() + ", ord AS (SELECT pid, ts FROM pe WHERE name IN (" + orders + "))\n"
        "SELECT pid, "
        f"sum(CASE WHEN type = 'track' AND (lower(coalesce(json_extract_string(properties, "
        "'$.sorts'), '')) LIKE '%price%' OR lower(coalesce(json_extract_string(properties, "
        "'$.sort'), '')) LIKE '%price%' OR lower(coalesce(json_extract_string(properties, "
        f"'$.sort_by'), '')) LIKE '%price%') THEN decay ELSE 0 END) * {w['sort_by_price']}, "
        f"sum(CASE WHEN name IN ({coupons}) THEN decay ELSE 0 END) * {w['coupon']}, "
        f"sum(CASE WHEN type = 'page' AND regexp_matches(lower(coalesce(path, '')), "
        f"'{PRICE_PAGE_PATTERN}') THEN decay ELSE 0 END) * {w['discount_page']}, "
        f"sum(CASE WHEN name IN ({carts}) AND ts <= $now - INTERVAL {ABANDON_DAYS} DAY "
        "AND NOT EXISTS (SELECT 1 FROM ord WHERE ord.pid = pe.pid AND ord.ts >= pe.ts "
        f"AND ord.ts <= pe.ts + INTERVAL {ABANDON_DAYS} DAY) THEN decay ELSE 0 END) "
        f"* {w['cart_abandoned']} FROM pe GROUP BY pid",
        params,
    ).fetchall()
    out = []
    for pid, sort, coupon, pages, abandoned in rows:
        parts = {
            "sort_by_price": float(sort or 0),
            "coupon": float(coupon or 0),
            "discount_page": float(pages or 0),
            "cart_abandoned": float(abandoned or 0),
        }
        score = sum(parts.values())
        if score >= PRICE_MIN_SCORE:
            why = ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v)
            out.append(
                TagRow(
                    pid,
                    "price_sensitive",
                    "inferred",
                    round(score / (score + PRICE_MIN_SCORE), 3),
                    "price_sensitive",
                    f"score {score:.2f}: {why}",
                )
            )
    return out


def _spending(conn: duckdb.DuckDBPyConnection, workspace_id: str, now: datetime) -> list[TagRow]:
    orders = ", ".join(f"'{c}'" for c in ORDER_EVENTS)
    value = (
        "coalesce(TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE), "
        "TRY_CAST(json_extract_string(properties, '$.total') AS DOUBLE), "
        "TRY_CAST(json_extract_string(properties, '$.value') AS DOUBLE))"
    )
    rows = conn.execute(
        _person_events("1.0")
        + f"SELECT pid, count(*), avg({value}) FROM pe WHERE type = 'track' AND name IN "
        f"({orders}) AND ts >= $since AND {value} IS NOT NULL GROUP BY pid",
        {"ws": workspace_id, "now": now, "since": now - timedelta(days=SPENDING_DAYS)},
    ).fetchall()
    if len(rows) < SPENDING_MIN_BUYERS:
        return []  # too few buyers to say what high and low are
    values = sorted(float(avg) for _, _, avg in rows)
    low, high = _quantile(values, 0.25), _quantile(values, 0.75)
    out = []
    for pid, n, avg in rows:
        level = "high" if avg >= high else "low" if avg <= low else "medium"
        out.append(
            TagRow(
                pid,
                f"spending:{level}",
                "inferred",
                round(n / (n + 2), 3),
                "spending_power",
                f"average order {avg:.2f} over {n} order(s) in {SPENDING_DAYS} days; "
                f"workspace P25 {low:.2f}, P75 {high:.2f}",
            )
        )
    return out


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def refresh(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    tag_rules: list[tuple[str, str, dict[str, Any]]],
    inference: Inference,
    *,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Recompute the workspace's rule and inferred tags; returns (tags now, changes)."""
    at = now or _now()
    refresh_identity(conn, workspace_id, rules)
    rows = rule_tags(conn, workspace_id, rules, tag_rules, at)
    rows += inferred_tags(conn, workspace_id, inference, at)
    new = {(r.person_id, r.tag, r.kind): r for r in rows}
    old = {
        (p, t, k): since
        for p, t, k, since in conn.execute(
            "SELECT person_id, tag, kind, since FROM person_tags WHERE workspace_id = ?",
            [workspace_id],
        ).fetchall()
    }
    changes = len(set(new) ^ set(old))
    with transaction(conn):
        conn.execute("DELETE FROM person_tags WHERE workspace_id = ?", [workspace_id])
        insert_rows(
            conn,
            "person_tags",
            [
                (
                    workspace_id,
                    r.person_id,
                    r.tag,
                    r.kind,
                    r.confidence,
                    r.rule,
                    r.explanation,
                    old.get(key, at),
                )
                for key, r in sorted(new.items())
            ],
        )
    return len(new), changes


# --- manual tags and reading -----------------------------------------------------------------


def add_manual(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    identifiers: list[tuple[str, str]],
    tag: str,
    by: str,
) -> int:
    """Tag the people holding these identifiers (one identifier per person is enough)."""
    tag = check_tag(tag)
    now = _now()
    rows = [(workspace_id, k, v, tag, now, by) for k, v in dict.fromkeys(identifiers)]
    if not rows:
        return 0
    with transaction(conn):
        insert_rows(conn, "manual_tags", rows)
        # Tagged again: the earliest tagging stays (one row per identifier and tag).
        conn.execute(
            "DELETE FROM manual_tags m WHERE workspace_id = ? AND tag = ? AND EXISTS ("
            "SELECT 1 FROM manual_tags o WHERE o.workspace_id = m.workspace_id "
            "AND o.id_type = m.id_type AND o.id_value = m.id_value AND o.tag = m.tag "
            "AND (o.created_at, o.created_by) < (m.created_at, m.created_by))",
            [workspace_id, tag],
        )
    return len(rows)


def remove_manual(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person_id: str, tag: str
) -> int:
    """Take a manual tag off a person (from every identifier of theirs that carries it)."""
    rows = conn.execute(
        "DELETE FROM manual_tags m USING identity_nodes n WHERE m.workspace_id = ? "
        "AND n.workspace_id = m.workspace_id AND n.id_type = m.id_type "
        "AND n.id_value = m.id_value AND n.person_id = ? AND m.tag = ? RETURNING 1",
        [workspace_id, person_id, check_tag(tag)],
    ).fetchall()
    return len(rows)


def anchor_identifier(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, people: list[str]
) -> list[tuple[str, str]]:
    """One identifier of each person (their earliest), to hang manual tags on."""
    return [
        (k, v)
        for _, k, v in conn.execute(
            "SELECT person_id, arg_min(id_type, (first_ts, id_type, id_value)), "
            "arg_min(id_value, (first_ts, id_type, id_value)) FROM identity_nodes "
            "WHERE workspace_id = ? AND person_id IN (SELECT unnest(?::VARCHAR[])) "
            "GROUP BY person_id ORDER BY person_id",
            [workspace_id, people],
        ).fetchall()
    ]


def tags_of(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person_id: str
) -> list[dict[str, Any]]:
    """Every tag of a person: manual (from their identifiers), rule and inferred."""
    manual = conn.execute(
        "SELECT m.tag, min(m.created_at), arg_min(m.created_by, m.created_at) "
        "FROM manual_tags m JOIN identity_nodes n ON n.workspace_id = m.workspace_id "
        "AND n.id_type = m.id_type AND n.id_value = m.id_value "
        "WHERE m.workspace_id = ? AND n.person_id = ? GROUP BY m.tag ORDER BY m.tag",
        [workspace_id, person_id],
    ).fetchall()
    derived = conn.execute(
        "SELECT tag, kind, confidence, rule, explanation, since FROM person_tags "
        "WHERE workspace_id = ? AND person_id = ? ORDER BY kind, tag",
        [workspace_id, person_id],
    ).fetchall()
    out: list[dict[str, Any]] = [
        {"tag": t, "kind": "manual", "confidence": None, "rule": None,
         "explanation": f"added by {by}", "since": _iso(at)}
        for t, at, by in manual
    ]  # fmt: skip
    out += [
        {"tag": t, "kind": k, "confidence": c, "rule": r, "explanation": e, "since": _iso(at)}
        for t, k, c, r, e, at in derived
    ]
    return out


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds") + "Z"


def counts(conn: duckdb.DuckDBPyConnection, workspace_id: str) -> list[dict[str, Any]]:
    """How many people carry each tag."""
    rows = conn.execute(
        "SELECT tag, kind, count(DISTINCT person) FROM ("
        "SELECT m.tag, 'manual' AS kind, n.person_id AS person FROM manual_tags m "
        "JOIN identity_nodes n ON n.workspace_id = m.workspace_id AND n.id_type = m.id_type "
        "AND n.id_value = m.id_value WHERE m.workspace_id = $ws "
        "UNION ALL SELECT tag, kind, person_id FROM person_tags WHERE workspace_id = $ws) "
        "GROUP BY tag, kind ORDER BY 3 DESC, tag",
        {"ws": workspace_id},
    ).fetchall()
    return [{"tag": t, "kind": k, "people": int(n)} for t, k, n in rows]


MAX_BULK = 100_000


def resolve_people(
    meta: Any, conn: duckdb.DuckDBPyConnection, workspace_id: str, body: dict[str, Any]
) -> list[tuple[str, str]]:
    """Whom a bulk tagging names, as one identifier each: `person_ids`, a `segment_id`'s
    members, `identifiers` ([{type, value}], normalised as at collection), or `csv` text with
    the columns type,value. Raises TagError naming the field (or `csv line N`)."""
    from haina.identity.identifiers import ANONYMOUS_ID, USER_ID, BadIdentifier, normalise
    from haina.segments import service as segments
    from haina.workspaces import workspace_settings

    rules = workspace_settings(meta, workspace_id).identity
    people: list[str] = []
    if "person_ids" in body:
        ids = body["person_ids"]
        if not isinstance(ids, list) or not all(isinstance(p, str) for p in ids):
            raise TagError("person_ids", "person_ids is a list of person ids")
        people += ids
    if "segment_id" in body:
        sid = str(body["segment_id"])
        try:
            segments.get(meta, workspace_id, sid)
        except segments.SegmentError as exc:
            raise TagError("segment_id", str(exc)) from exc
        total = segments.member_count(conn, workspace_id, sid)
        people += [
            m["person_id"]
            for m in segments.members(conn, workspace_id, sid, limit=total or 1, offset=0)
        ]
    found = anchor_identifier(conn, workspace_id, people) if people else []
    given: list[tuple[Any, Any, str]] = []
    raw = body.get("identifiers", [])
    if not isinstance(raw, list):
        raise TagError("identifiers", "identifiers is a list of {type, value}")
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise TagError(f"identifiers.{i}", "an identifier is {type, value}")
        given.append((entry.get("type"), entry.get("value"), f"identifiers.{i}"))
    if "csv" in body:
        if not isinstance(body["csv"], str):
            raise TagError("csv", "csv is the text of a file with columns type,value")
        reader = csv.DictReader(io.StringIO(body["csv"]))
        if not reader.fieldnames or {"type", "value"} - set(reader.fieldnames):
            raise TagError("csv", "the CSV needs a header with the columns type and value")
        for line, row in enumerate(reader, start=2):
            given.append((row.get("type"), row.get("value"), f"csv line {line}"))
    for kind, value, where in given:
        if kind not in rules.types:
            raise TagError(where, f"unknown identifier type {kind!r}")
        try:
            if kind not in (USER_ID, ANONYMOUS_ID):
                value = normalise(kind, value, rules.phone_region)
        except BadIdentifier as exc:
            raise TagError(where, str(exc)) from exc
        if not isinstance(value, str) or not value:
            raise TagError(where, "give the identifier's value")
        found.append((kind, value))
    if len(found) > MAX_BULK:
        raise TagError("identifiers", f"at most {MAX_BULK} people at once")
    return found
