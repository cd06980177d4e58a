"""Event analytics (埋点): for chosen events, or every track event, how often they happen, how
many people do them and how often each, split by a property, and over time."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from haina.query.dialect import Unit
from haina.query.entity import (
    ENGAGEMENT,
    Breakdown,
    Entity,
    breakdown_value,
    entity_condition,
    filtered_events,
    session_lookback,
)
from haina.query.scope import Range, ReportContext, ReportQuery, Scope, freshness, resolve_range
from haina.reports.registry import ReportKind

# Per-person frequency buckets: (label, lowest count, highest count or None).
BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11+", 11, None))
OTHER = "(other)"


class EventsQuery(ReportQuery):
    kind: Literal["events"] = "events"
    events: list[Entity] = Field(
        default_factory=list, max_length=30, description="empty: every track event, by name"
    )
    breakdown: Breakdown | None = None
    limit: int = Field(10, ge=1, le=1000, description="breakdown values shown; the rest: (other)")
    interval: Unit = "day"
    week_start: Literal["monday", "sunday"] = "monday"


def _hits(s: Scope, q: EventsQuery) -> str:
    """`hits (ent, person, ts, bd)`: one row per counted event and the entity it counts for
    (its index; the event name when no events are chosen)."""
    bd = breakdown_value(s, q.breakdown) if q.breakdown else "''"
    if not q.events:
        cond = f"type = 'track' AND event <> {s.p(ENGAGEMENT)}"
        return f"SELECT event AS ent, person, ts, {bd} AS bd FROM fe WHERE in_range AND {cond}"
    return " UNION ALL ".join(
        f"SELECT {i} AS ent, person, ts, {bd} AS bd FROM fe WHERE in_range AND "
        f"{entity_condition(s, entity)}"
        for i, entity in enumerate(q.events)
    )


def build(ctx: ReportContext, q: EventsQuery, rng: Range) -> tuple[Scope, list[str]]:
    """The scope and three queries: totals with per-person frequency, the trend, and (with a
    breakdown) the top values."""
    s = Scope(ctx, q, rng, lookback_us=session_lookback(q.filters))
    hits = _hits(s, q)
    base = f"{filtered_events(s)},\nhits AS ({hits})"
    buckets = ", ".join(
        f"sum(CASE WHEN n >= {lo}{f' AND n <= {hi}' if hi else ''} THEN 1 ELSE 0 END)"
        for _, lo, hi in BUCKETS
    )
    totals = (
        f"{base},\npp AS (SELECT ent, person, count(*) AS n FROM hits GROUP BY ent, person)\n"
        f"SELECT ent, sum(n), count(*), {s.d.median('n')}, {buckets} FROM pp GROUP BY ent "
        "ORDER BY ent"
    )
    period = s.d.trunc_text(q.interval, s.local(), q.week_start)
    series = (
        f"{base}\nSELECT ent, {period} AS period, count(*), count(DISTINCT person) FROM hits "
        "GROUP BY ent, period ORDER BY ent, period"
    )
    sql = [totals, series]
    if q.breakdown is not None:
        sql.append(_breakdown_sql(s, base, q.limit))
    return s, sql


def _breakdown_sql(s: Scope, base: str, limit: int) -> str:
    """Values ranked by events (ties by value); those past `limit` share rank limit+1."""
    return (
        f"{base},\nbv AS (SELECT ent, bd, count(*) AS n FROM hits GROUP BY ent, bd),\n"
        "rk AS (SELECT ent AS r_ent, bd AS r_bd, CAST(row_number() OVER (PARTITION BY ent "
        "ORDER BY n DESC, bd) AS BIGINT) AS r FROM bv)\n"
        f"SELECT ent, least(r, {s.p(limit + 1)}) AS rank, CASE WHEN r <= {s.p(limit)} THEN bd "
        "ELSE '' END AS value, count(*), count(DISTINCT person) FROM hits "
        "JOIN rk ON hits.ent = rk.r_ent AND hits.bd = rk.r_bd "
        "GROUP BY ent, rank, value ORDER BY ent, rank"
    )


def _per_person(count: int, people: int) -> float | None:
    return round(count / people, 4) if people else None


def shape(q: EventsQuery, rows: list[list[tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """One entry per chosen event (in the order asked), or per track event name (most
    frequent first)."""
    totals, series = rows[0], rows[1]
    keys: list[Any] = list(range(len(q.events)))
    if not q.events:
        keys = [r[0] for r in sorted(totals, key=lambda r: (-int(r[1]), r[0]))]
    out: dict[Any, dict[str, Any]] = {}
    for key in keys:
        # names as stored (not re-validated as an entity)
        entity = q.events[key].model_dump() if q.events else {"event": key, "filters": []}
        out[key] = {**entity, **_totals(None), "series": [], "breakdown": None}
    for ent, *values in totals:
        out[ent].update(_totals(values))
    for ent, period, count, people in series:
        out[ent]["series"].append({"period": period, "count": int(count), "people": int(people)})
    if q.breakdown is not None:
        for key in keys:
            out[key]["breakdown"] = []
        for ent, rank, value, count, people in rows[2]:
            other = int(rank) > q.limit
            out[ent]["breakdown"].append(
                {
                    "value": OTHER if other else value,
                    **_counts(int(count), int(people)),
                    "other": other,
                }
            )
    return [out[key] for key in keys]


def _counts(count: int, people: int) -> dict[str, Any]:
    return {"count": count, "people": people, "per_person": _per_person(count, people)}


def _totals(values: list[Any] | None) -> dict[str, Any]:
    empty: list[Any] = [0, 0, None, *[0] * len(BUCKETS)]
    count, people, median, *buckets = values or empty
    return {
        **_counts(int(count), int(people)),
        "median_per_person": None if median is None else int(median),
        "frequency": [
            {"bucket": label, "people": int(n)}
            for (label, _, _), n in zip(BUCKETS, buckets, strict=True)
        ],
    }


def run(ctx: ReportContext, q: EventsQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    s, sql = build(ctx, q, rng)
    rows = [ctx.engine.rows(text, s.params.values) for text in sql]
    return {
        "kind": "events",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "interval": q.interval,
        "events": shape(q, rows),
        "freshness": freshness(ctx),
        "sql": sql,
    }


REPORT = ReportKind(
    "events", EventsQuery, run, "Event counts, people, frequency, breakdown and trend"
)
