"""Retention: cohorts of people by when they did a start event, and how many of each cohort
did a return event in each later period. Semantics follow PostHog's retention query runner
(fixed intervals); see docs/reports/retention.md.

- Range: `date_from` is moved back to the start of its period, `date_to` on to the end of
  its period; one cohort per period of the range (empty ones included). Without `date_from`
  the range is the `intervals` periods ending with `date_to`'s.
- recurring: a person joins the cohort of every period in which they did the start event.
  first_time: only the period of their first start event ever (all history; none if it falls
  before the range). first_ever_occurrence: as first_time, but the first start event
  regardless of the entity's filters, which then must match it.
- values[0] = the cohort's size; values[k] (k ≥ 1) = those who did the return event (at least
  `minimum_occurrences` times) in the k-th period after, within the range; cumulative: in
  that period or any later one (up to `intervals - 1`).
- Breakdown: start and return events must carry the same value (PostHog's per-value cohorts);
  first_ever_occurrence takes each person's value from their first start event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from haina.query.dialect import Unit
from haina.query.entity import (
    Breakdown,
    Entity,
    breakdown_value,
    entity_condition,
    event_names,
    filtered_events,
    reads_no_property,
    session_lookback,
)
from haina.query.scope import Range, ReportContext, ReportQuery, Scope, freshness, local_range
from haina.reports.registry import ReportKind

MAX_COHORTS = 1000
OTHER = "(other)"
_EPOCH = datetime(1970, 1, 1)


class RetentionQuery(ReportQuery):
    kind: Literal["retention"] = "retention"
    start_event: Entity = Field(default_factory=lambda: Entity(event="$pageview"))
    return_event: Entity = Field(default_factory=lambda: Entity(event="$pageview"))
    retention_type: Literal["first_time", "recurring", "first_ever_occurrence"] = "recurring"
    period: Unit = "day"
    intervals: int = Field(7, ge=1, le=366, description="periods per cohort, period 0 included")
    cumulative: bool = False
    minimum_occurrences: int = Field(1, ge=1, le=10_000)
    week_start: Literal["monday", "sunday"] = "monday"
    breakdown: Breakdown | None = None
    limit: int = Field(25, ge=1, le=1000, description="breakdown values shown; the rest: (other)")


@dataclass(frozen=True, slots=True)
class Window:
    """The cohort periods: local start of the first, their count, and the UTC range."""

    first: datetime
    count: int
    rng: Range


def trunc(dt: datetime, unit: Unit, week_start: str) -> datetime:
    """The start of the period holding a naive local time (as Dialect.trunc_text)."""
    if unit == "hour":
        return dt.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(dt.date(), time())
    if unit == "day":
        return day
    if unit == "week":
        back = dt.weekday() if week_start == "monday" else (dt.weekday() + 1) % 7
        return day - timedelta(days=back)
    return day.replace(day=1)


def shift(start: datetime, unit: Unit, n: int) -> datetime:
    """A period start moved by n periods (naive local: hours as the clock shows them)."""
    if unit == "month":
        months = start.year * 12 + start.month - 1 + n
        return start.replace(year=months // 12, month=months % 12 + 1)
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
    return start + step[unit] * n


def window(q: RetentionQuery, ctx: ReportContext) -> Window:
    tz = q.timezone or ctx.settings.timezone
    if q.date_to is None:
        now = ctx.utc_now().replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        last = trunc(now, q.period, q.week_start)
    else:
        last = trunc(_local(q.date_to, end=True), q.period, q.week_start)
    end = shift(last, q.period, 1)
    if q.date_from is None:
        first = shift(end, q.period, -q.intervals)
    else:
        first = trunc(_local(q.date_from, end=False), q.period, q.week_start)
    if first > last:
        raise ValueError("date_from is after date_to")
    count = _number(end, q.period) - _number(first, q.period)
    if count > MAX_COHORTS:
        raise ValueError(f"the range holds {count} {q.period}s; at most {MAX_COHORTS} cohorts")
    return Window(first, count, local_range(tz, first, end - timedelta(microseconds=1)))


def _local(value: datetime | date, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, time.max if end else time())


def _number(start: datetime, unit: Unit) -> int:
    """A period's number, as `Dialect.period_number` computes it in SQL."""
    days = (start.date() - _EPOCH.date()).days
    return {
        "hour": days * 24 + start.hour,
        "day": days,
        "week": days // 7,
        "month": start.year * 12 + start.month - 1,
    }[unit]


def build(ctx: ReportContext, q: RetentionQuery, win: Window) -> Scope:
    """One query: `rv` holds the start/return events with their period number `pn`; `st` the
    cohort members, `rt` their periods with enough returns, `hits` who was retained when."""
    first_kind = q.retention_type != "recurring"
    lookback = int((win.rng.utc_from - _EPOCH).total_seconds() * 1e6) if first_kind else 0
    entities = (q.start_event, q.return_event)
    plain = reads_no_property(entities, q.breakdown)
    s = Scope(
        ctx, q, win.rng, lookback_us=session_lookback(q.filters, lookback), stored_events=plain
    )
    start = entity_condition(s, q.start_event)
    back = entity_condition(s, q.return_event)
    first_ever = q.retention_type == "first_ever_occurrence"
    start0 = entity_condition(s, q.start_event, with_filters=False) if first_ever else start
    wanted = " OR ".join(dict.fromkeys([start, back, start0]))
    bd = breakdown_value(s, q.breakdown) if q.breakdown else "''"
    period = s.period_number(q.period, q.week_start)
    lo = s.p(_number(win.first, q.period))
    hi = s.p(_number(win.first, q.period) + win.count - 1)
    s.sql = (
        f"{filtered_events(s, names=event_names(entities, q.filters))},\n"
        f"rv AS {s.d.materialized()}(SELECT person, ts, uuid, {start} AS is_s, "
        f"{back} AS is_r, {start0} AS is_s0, "
        f"{bd} AS bd, {period} AS pn FROM fe WHERE {wanted}),\n"
        f"{_starts(s, q, lo, hi)},\n{_returns(s, q, lo, hi)}\n{_counts(q)}"
    )
    return s


def _starts(s: Scope, q: RetentionQuery, lo: str, hi: str) -> str:
    """`st`: one row per (person, breakdown value, cohort period number c)."""
    if q.retention_type == "recurring":
        return (
            "st AS (SELECT DISTINCT person, bd, pn AS c FROM rv "
            f"WHERE is_s AND pn BETWEEN {lo} AND {hi})"
        )
    if q.retention_type == "first_time":
        return (
            "an AS (SELECT person, bd, min(CASE WHEN is_s THEN pn END) AS c FROM rv "
            "GROUP BY person, bd),\n"
            f"st AS (SELECT person, bd, c FROM an WHERE c BETWEEN {lo} AND {hi})"
        )
    first_bd = s.d.arg_min_if("bd", s.d.tuple_("ts", "uuid"), "is_s0")
    return (
        "an AS (SELECT person, min(CASE WHEN is_s0 THEN ts END) AS t0, "
        "min(CASE WHEN is_s THEN ts END) AS t1, min(CASE WHEN is_s THEN pn END) AS c, "
        f"{first_bd} AS bd FROM rv GROUP BY person),\n"
        f"st AS (SELECT person, bd, c FROM an WHERE t0 = t1 AND c BETWEEN {lo} AND {hi})"
    )


def _returns(s: Scope, q: RetentionQuery, lo: str, hi: str) -> str:
    """`rt`: periods with enough return events; `hits`: (person, bd, c, k ≥ 1) retained."""
    same_value = q.retention_type != "first_ever_occurrence"
    rbd = "bd" if same_value else "''"
    on = " AND rt.bd = st.bd" if same_value else ""
    hits = (
        "hits AS (SELECT st.person AS person, st.bd AS bd, st.c AS c, rt.r - st.c AS k "
        f"FROM st JOIN rt ON rt.person = st.person{on} "
        f"WHERE rt.r > st.c AND rt.r - st.c < {s.p(q.intervals)})"
    )
    if q.cumulative:
        hits += ",\nmk AS (SELECT person, bd, c, max(k) AS k FROM hits GROUP BY person, bd, c)"
    return (
        f"rt AS (SELECT person, {rbd} AS bd, pn AS r FROM rv WHERE is_r AND pn BETWEEN {lo} AND "
        f"{hi} GROUP BY person, {rbd}, pn HAVING count(*) >= {s.p(q.minimum_occurrences)}),\n"
        f"{hits}"
    )


def _counts(q: RetentionQuery) -> str:
    """Rows (part, bd, c, k, people): part 0 = cohort sizes; part 1 = people retained in k
    (cumulative: people whose last return within the cohort's periods is k)."""
    source = "mk" if q.cumulative else "hits"
    return (
        "SELECT part, bd, c, k, n FROM (SELECT 0 AS part, bd, c, CAST(0 AS BIGINT) AS k, "
        "count(*) AS n FROM st GROUP BY bd, c UNION ALL SELECT 1 AS part, bd, c, "
        f"CAST(k AS BIGINT) AS k, count(*) AS n FROM {source} GROUP BY bd, c, k) counts "
        "ORDER BY part, bd, c, k"
    )


Grid = list[list[int]]  # per cohort: [size, retained in period 1, ...]


def shape(q: RetentionQuery, win: Window, rows: list[tuple[Any, ...]]) -> dict[str, Grid]:
    """The cohort triangle of each breakdown value ('' without a breakdown)."""
    base = _number(win.first, q.period)
    grids: dict[str, Grid] = {}
    for _part, value, c, k, n in rows:
        grid = grids.setdefault(value, [[0] * q.intervals for _ in range(win.count)])
        grid[int(c) - base][int(k)] = int(n)
    if q.cumulative:  # rows held the people whose last return was in k: sum from the right
        for grid in grids.values():
            for values in grid:
                for k in range(q.intervals - 2, 0, -1):
                    values[k] += values[k + 1]
    return grids


def _group(q: RetentionQuery, win: Window, grid: Grid) -> dict[str, Any]:
    cohorts = [
        {
            "start": shift(win.first, q.period, i).strftime("%Y-%m-%d %H:%M:%S"),
            "size": values[0],
            "values": values,
            "reached": min(q.intervals, win.count - i),
        }
        for i, values in enumerate(grid)
    ]
    return {"cohorts": cohorts, "average": average(cohorts, q.intervals)}


def average(cohorts: list[dict[str, Any]], intervals: int) -> list[dict[str, Any]]:
    """Per period k: people retained over the size of the cohorts that reached period k."""
    out = []
    for k in range(intervals):
        reached = [c for c in cohorts if c["reached"] > k]
        size = sum(c["size"] for c in reached)
        retained = sum(c["values"][k] for c in reached)
        percent = round(100 * retained / size, 2) if size else None
        out.append({"period": k, "size": size, "retained": retained, "percent": percent})
    return out


def _breakdowns(q: RetentionQuery, grids: dict[str, Grid]) -> dict[str, Grid]:
    """The `limit` values with the most people in cohorts (ties by value); the rest summed
    under "(other)", as PostHog does."""
    ranked = sorted(grids, key=lambda v: (-sum(values[0] for values in grids[v]), v))
    out = {v: grids[v] for v in ranked[: q.limit]}
    for v in ranked[q.limit :]:
        merged = out.setdefault(OTHER, [[0] * q.intervals for _ in grids[v]])
        for row, values in zip(merged, grids[v], strict=True):
            row[:] = [a + b for a, b in zip(row, values, strict=True)]
    return out


def run(ctx: ReportContext, q: RetentionQuery) -> dict[str, Any]:
    win = window(q, ctx)
    s = build(ctx, q, win)
    grids = shape(q, win, ctx.engine.rows(s.sql, s.params.values))
    result: dict[str, Any] = {
        "kind": "retention",
        "range": {
            "from": win.rng.local_from.isoformat(),
            "to": win.rng.local_to.isoformat(),
            "timezone": win.rng.tz,
        },
        "period": q.period,
        "intervals": q.intervals,
        "retention_type": q.retention_type,
        "cumulative": q.cumulative,
        "breakdown": None,
    }
    if q.breakdown is None:
        empty = [[0] * q.intervals for _ in range(win.count)]
        result.update(_group(q, win, grids.get("", empty)))
    else:
        result["breakdown"] = [
            {"value": value, **_group(q, win, grid)}
            for value, grid in _breakdowns(q, grids).items()
        ]
    return {**result, "freshness": freshness(ctx), "sql": [s.sql]}


REPORT = ReportKind(
    "retention",
    RetentionQuery,
    run,
    "Cohorts by start event and who returned in each period",
    stored_sessions=True,
)
