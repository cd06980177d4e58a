"""Funnels with PostHog's semantics: SQL gathers each person's candidate events, already
marked with the steps and exclusions they match; `funnel_eval` walks them person by person.

Steps are entities (events with property filters, or pages: `$pageview` with a `$path`
filter). Definitions: docs/reports/funnel.md.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from haina.query.engine import QueryTooLarge
from haina.query.entity import (
    Breakdown,
    Entity,
    entity_condition,
    filtered_events,
    session_lookback,
)
from haina.query.filters import PropertyFilter
from haina.query.scope import ReportContext, ReportQuery, Scope, freshness, resolve_range
from haina.reports.funnel_eval import Event, Exclusion, Funnel, Outcome, evaluate
from haina.reports.overview import ratio
from haina.reports.registry import ReportKind

UNIT_US = {
    "second": 1_000_000,
    "minute": 60_000_000,
    "hour": 3_600_000_000,
    "day": 86_400_000_000,
    "week": 7 * 86_400_000_000,
    "month": 30 * 86_400_000_000,
}
# Events a funnel may load before it refuses (clear error, not an exhausted machine).
MAX_EVENTS = 5_000_000
# Time-to-convert buckets: upper bounds in seconds.
TTC_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: int = Field(14, ge=1, le=10_000)
    unit: Literal["second", "minute", "hour", "day", "week", "month"] = "day"


class ExclusionStep(Entity):
    from_step: int = Field(0, ge=0, description="0-based step the exclusion guards from")
    to_step: int = Field(1, ge=1, description="0-based step it guards up to")


class FunnelBreakdown(Breakdown):
    attribution: Literal["first_touch", "last_touch", "all_events", "step"] = "first_touch"
    attribution_step: int = Field(0, ge=0)


class FunnelQuery(ReportQuery):
    """Steps in order, a conversion window from step 1, an order mode, exclusions, breakdown."""

    kind: Literal["funnel"] = "funnel"
    steps: list[Entity] = Field(min_length=2, max_length=20)
    order: Literal["ordered", "strict", "unordered"] = "ordered"
    window: Window = Field(default_factory=lambda: Window(value=14, unit="day"))
    exclusions: list[ExclusionStep] = Field(default_factory=list)
    breakdown: FunnelBreakdown | None = None
    breakdown_limit: int = Field(25, ge=1, le=500)

    @model_validator(mode="after")
    def _check(self) -> FunnelQuery:
        self.funnel()  # raises ValueError with the reason
        return self

    def funnel(self) -> Funnel:
        b = self.breakdown
        return Funnel(
            n_steps=len(self.steps),
            window_us=self.window.value * UNIT_US[self.window.unit],
            order=self.order,
            exclusions=tuple(Exclusion(x.from_step, x.to_step) for x in self.exclusions),
            attribution=b.attribution if b else "first_touch",
            attribution_step=b.attribution_step if b else 0,
            breakdown=b is not None,
        )


class FunnelPeopleQuery(FunnelQuery):
    """The people behind one step: who reached it (`converted`) or dropped just before it."""

    step: int = Field(ge=1, le=20, description="1-based step")
    converted: bool = True
    breakdown_value: str | None = None
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


def build(ctx: ReportContext, q: FunnelQuery) -> Scope:
    rng = resolve_range(q, ctx)
    s = Scope(ctx, q, rng, lookback_us=session_lookback(q.filters))
    d = s.d
    masks = " + ".join(
        f"CASE WHEN {entity_condition(s, e)} THEN {1 << k} ELSE 0 END"
        for k, e in enumerate(q.steps)
    )
    excl = (
        " + ".join(
            f"CASE WHEN {entity_condition(s, x)} THEN {1 << j} ELSE 0 END"
            for j, x in enumerate(q.exclusions)
        )
        or "0"
    )
    value = "NULL"
    if q.breakdown is not None:
        key = PropertyFilter(key=q.breakdown.property, op="is_set", source=q.breakdown.source)
        value = d.text(s.resolve(key))
    base = filtered_events(s)
    keep = "TRUE" if q.order == "strict" else "steps > 0 OR excl > 0"
    s.sql = (
        f"{base},\nfm AS (SELECT person, {d.epoch_us('ts')} AS t, uuid, ({masks}) AS steps, "
        f"({excl}) AS excl, {value} AS bvalue FROM fe WHERE in_range),\n"
        "fp AS (SELECT DISTINCT person AS fperson FROM fm WHERE steps > 0)\n"
        "SELECT person, t, uuid, steps, excl, bvalue FROM fm JOIN fp ON fm.person = fp.fperson "
        f"WHERE {keep} ORDER BY person, t, uuid LIMIT {MAX_EVENTS + 1}"
    )
    return s


def outcomes(ctx: ReportContext, q: FunnelQuery) -> tuple[list[tuple[str, Outcome]], str]:
    """Every person's outcomes (person, outcome), and the SQL that gathered their events."""
    s = build(ctx, q)
    rows = ctx.engine.rows(s.sql, s.params.values)
    if len(rows) > MAX_EVENTS:
        raise QueryTooLarge(
            f"the funnel would evaluate more than {MAX_EVENTS:,} events; "
            "narrow the date range or add filters"
        )
    funnel = q.funnel()
    out: list[tuple[str, Outcome]] = []
    for person, group in groupby(rows, key=itemgetter(0)):
        events = [Event(int(t), u, int(m), int(x), v) for _, t, u, m, x, v in group]
        out.extend((str(person), o) for o in evaluate(funnel, events))
    return out, s.sql


def _lower_median(values: list[float]) -> float | None:
    return sorted(values)[(len(values) - 1) // 2] if values else None


def shape(q: FunnelQuery, results: list[Outcome]) -> dict[str, Any]:
    n = len(q.steps)
    counts = [0] * n
    gaps: list[list[float]] = [[] for _ in range(n)]
    for o in results:
        for k in range(o.furthest + 1):
            counts[k] += 1
            if k:
                gaps[k].append((o.step_ts[k] - o.step_ts[k - 1]) / 1e6)
    steps = []
    for k, entity in enumerate(q.steps):
        prev = counts[k - 1] if k else counts[0]
        steps.append(
            {
                "step": k + 1,
                "name": entity.event or "(any event)",
                "count": counts[k],
                "conversion_rate": ratio(counts[k], counts[0]),
                "step_conversion_rate": ratio(counts[k], prev),
                "dropped": prev - counts[k] if k else 0,
                "avg_seconds_from_previous": round(sum(gaps[k]) / len(gaps[k]), 3)
                if gaps[k]
                else None,
                "median_seconds_from_previous": _lower_median(gaps[k]),
            }
        )
    return {"steps": steps, "time_to_convert": _time_to_convert(results, n)}


def _time_to_convert(results: list[Outcome], n: int) -> dict[str, Any]:
    seconds = [(o.step_ts[-1] - o.step_ts[0]) / 1e6 for o in results if o.furthest == n - 1]
    buckets = [0] * (len(TTC_BUCKETS) + 1)
    for v in seconds:
        buckets[next((i for i, b in enumerate(TTC_BUCKETS) if v < b), len(TTC_BUCKETS))] += 1
    bounds = (0, *TTC_BUCKETS)
    return {
        "converted": len(seconds),
        "avg_seconds": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "median_seconds": _lower_median(seconds),
        "buckets": [
            {
                "from_seconds": lo,
                "to_seconds": TTC_BUCKETS[i] if i < len(TTC_BUCKETS) else None,
                "count": c,
            }
            for i, (lo, c) in enumerate(zip(bounds, buckets, strict=True))
        ],  # fmt: skip
    }


def _by_value(pairs: list[tuple[str, Outcome]]) -> dict[str, list[Outcome]]:
    grouped: dict[str, list[Outcome]] = defaultdict(list)
    for _, o in pairs:
        grouped[o.value].append(o)
    return grouped


def run(ctx: ReportContext, q: FunnelQuery) -> dict[str, Any]:
    pairs, sql = outcomes(ctx, q)
    rng = resolve_range(q, ctx)
    result: dict[str, Any] = {
        "kind": "funnel",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "order": q.order,
        "window": q.window.model_dump(),
        **(shape(q, [o for _, o in pairs]) if q.breakdown is None else {}),
        "freshness": freshness(ctx),
        "sql": [sql],
    }
    if q.breakdown is not None:
        grouped = _by_value(pairs)
        ranked = sorted(grouped, key=lambda v: (-len(grouped[v]), v))
        result["breakdown"] = [
            {"value": v, **shape(q, grouped[v])} for v in ranked[: q.breakdown_limit]
        ]
        people = {p for p, _ in pairs}
        result["people"] = len(people)
    return result


def people(ctx: ReportContext, q: FunnelPeopleQuery) -> dict[str, Any]:
    """Who reached step `step` (converted) or reached the step before and went no further."""
    pairs, sql = outcomes(ctx, q)
    k = q.step - 1
    if q.converted:
        chosen = [(p, o) for p, o in pairs if o.furthest >= k]
    else:
        chosen = [(p, o) for p, o in pairs if o.furthest == k - 1]
    if q.breakdown_value is not None:
        chosen = [(p, o) for p, o in chosen if o.value == q.breakdown_value]
    chosen.sort(key=lambda po: (po[0], po[1].value))
    page = chosen[q.offset : q.offset + q.limit]
    return {
        "kind": "funnel_people",
        "step": q.step,
        "converted": q.converted,
        "total": len(chosen),
        "people": [
            {
                "person": p,
                "breakdown_value": o.value,
                "furthest_step": o.furthest + 1,
                "step_times_us": list(o.step_ts),
            }
            for p, o in page
        ],  # fmt: skip
        "sql": [sql],
    }


REPORT = ReportKind("funnel", FunnelQuery, run, "Funnel: conversion through ordered steps")
PEOPLE = ReportKind("funnel_people", FunnelPeopleQuery, people, "The people at a funnel step")
