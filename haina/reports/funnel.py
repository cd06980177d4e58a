"""Funnels with PostHog's semantics: SQL gathers each person's candidate events, already
marked with the steps and exclusions they match; `funnel_fast` evaluates ordered and strict
funnels for everyone at once, `funnel_eval` the rest person by person (same semantics).

Steps are entities (events with property filters, or pages: `$pageview` with a `$path`
filter). Definitions: docs/reports/funnel.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haina.identity.store import labels
from haina.query.engine import QueryTooLarge
from haina.query.entity import (
    Breakdown,
    Entity,
    entity_condition,
    event_names,
    filtered_events,
    reads_no_property,
    session_lookback,
)
from haina.query.filters import PropertyFilter
from haina.query.scope import ReportContext, ReportQuery, Scope, freshness, resolve_range
from haina.query.stored import person_ids
from haina.reports.funnel_eval import Event, Exclusion, Funnel, Outcome, evaluate
from haina.reports.funnel_fast import Outcomes, evaluate_many, supports
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


def build(
    ctx: ReportContext, q: FunnelQuery, uuid: bool = True, people: list[str] | None = None
) -> Scope:
    """The SQL of the step and exclusion events (person, t, [uuid,] steps, excl, bvalue) of
    everyone, or of `people`. `uuid` orders events sharing a timestamp; fetching it costs
    about as much as the rest, so the lockstep path asks for it only for people with ties."""
    rng = resolve_range(q, ctx)
    entities = [*q.steps, *q.exclusions]
    plain = reads_no_property(entities, q.breakdown)
    s = Scope(ctx, q, rng, lookback_us=session_lookback(q.filters), stored_events=plain)
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
    # Only the events of the steps and exclusions are read (strict funnels need every event).
    names = event_names(entities, q.filters) if q.order != "strict" else None
    base = filtered_events(s, names=names)
    keep = "TRUE" if q.order == "strict" else "steps > 0 OR excl > 0"
    if people is not None:
        keep = f"({keep}) AND person IN {s.p(people)}"
    # People who never entered are dropped after the fetch (in SQL that costs a second pass
    # over the rows and a join: measured 0.8 s of 1.05 s at 10 M events).
    s.sql = (
        f"{base},\nfm AS (SELECT person, {d.epoch_us('ts')} AS t, uuid, ({masks}) AS steps, "
        f"({excl}) AS excl, {value} AS bvalue FROM fe WHERE in_range)\n"
        f"SELECT person, t, {'uuid, ' if uuid else ''}steps, excl, bvalue FROM fm WHERE {keep} "
        f"LIMIT {MAX_EVENTS + 1}"
    )
    return s


def outcomes(ctx: ReportContext, q: FunnelQuery) -> tuple[Outcomes, pa.Array, list[str]]:
    """Every entered person's outcome (columns; `person` holds codes into the returned
    array of person ids), and the SQL that gathered their events (a second statement when
    people with tied timestamps needed their events again, with uuids). Ordered and strict
    funnels go through the lockstep evaluator (`funnel_fast`); the rest, and people with
    two events at one timestamp, through `funnel_eval` person by person."""
    funnel = q.funnel()
    fast = supports(funnel)
    s = build(ctx, q, uuid=not fast)
    table = _fetch(ctx, s)
    people = _people(table.column("person"))
    # Ordered and strict funnels without a breakdown: people whose events only ever match
    # step 1 are settled before the sort (most people of a funnel; their best attempt is
    # their first step-1 event).
    events, parts = _Events.of(table, people.indices, q, funnel, settle=fast and not q.breakdown)
    ran = [s.sql]
    if fast:
        found, rest = evaluate_many(
            funnel, events.code, events.ts, events.steps, events.excl, events.value
        )
        parts.append(found)
        if rest.any():  # their events again, with the uuids that order ties
            tied = people.dictionary.take(pa.array(np.unique(events.code[rest])))
            second = build(ctx, q, people=tied.to_pylist())
            ran.append(second.sql)
            again = _fetch(ctx, second)
            codes = pc.index_in(again.column("person"), value_set=people.dictionary)
            parts.append(_Events.of(again, codes, q, funnel)[0].one_by_one(funnel))
    else:
        parts.append(events.one_by_one(funnel))
    return _concat(parts, funnel.n_steps), people.dictionary, ran


def _people(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """People as integer codes into an array of who they are. Person numbers (from the
    stored tables: 1, 2, ... per workspace) are codes already: no need to encode them."""
    if not pa.types.is_integer(column.type):
        return pc.dictionary_encode(column.combine_chunks())
    numbers = column.combine_chunks().cast(pa.int64())
    top = int(pc.max(numbers).as_py() or 0) if len(numbers) else 0
    return pa.DictionaryArray.from_arrays(numbers, pa.array(np.arange(top + 1, dtype=np.int64)))


def _fetch(ctx: ReportContext, s: Scope) -> pa.Table:
    table = ctx.engine.arrow(s.sql, s.params.values)
    if table.num_rows > MAX_EVENTS:
        raise QueryTooLarge(
            f"the funnel would evaluate more than {MAX_EVENTS:,} events; "
            "narrow the date range or add filters"
        )
    return table


@dataclass(frozen=True, slots=True)
class _Events:
    """Fetched events of people who entered, grouped by person in time order; people as
    integer codes (compare fast), their ids only where shown."""

    code: Any
    ts: Any
    steps: Any
    excl: Any
    value: Any
    uuid: Any  # None when not fetched

    @classmethod
    def of(
        cls, table: pa.Table, codes: Any, q: FunnelQuery, funnel: Funnel, settle: bool = False
    ) -> tuple[_Events, list[Outcomes]]:
        """The events, and with `settle` the outcomes of the people whose events match
        step 1 only (and, in strict funnels, no step at all), left out of the events."""
        col = {name: table.column(name) for name in table.column_names}
        code = pa.chunked_array([codes]).to_numpy().astype(np.int64)
        ts = col["t"].to_numpy().astype(np.int64)
        steps = col["steps"].to_numpy().astype(np.int64)
        excl = col["excl"].to_numpy().astype(np.int64)
        # Only people who entered: a step-1 event (unordered funnels: any step).
        opening = steps > 0 if funnel.order == "unordered" else (steps & 1) == 1
        entered = np.zeros(int(code.max()) + 1 if len(code) else 0, dtype=bool)
        entered[code[opening]] = True
        settled = []
        if settle and len(code):
            further = ((steps & ~1) != 0) | (excl != 0)
            deep = np.bincount(code, weights=further, minlength=len(entered)) > 0
            shallow = entered & ~deep
            entered &= deep
            first = np.full(len(entered), np.iinfo(np.int64).max, dtype=np.int64)
            mine = opening & shallow[code]
            np.minimum.at(first, code[mine], ts[mine])
            who = np.flatnonzero(shallow)
            times = np.zeros((len(who), funnel.n_steps), dtype=np.int64)
            times[:, 0] = first[who]
            none = np.zeros(len(who), dtype=np.int64)
            settled.append(Outcomes(who, np.full(len(who), "", dtype=object), none, times))
        # Rows by person, then time (sorted here: cheaper than in SQL); events sharing a
        # timestamp are ordered by uuid where it matters, in one_by_one.
        order = _by_person_and_time(code, ts, entered)
        value = None  # no breakdown
        if q.breakdown is not None:
            value = np.array(col["bvalue"].to_pylist(), dtype=object)[order]
        uuid = col["uuid"].to_numpy()[order] if "uuid" in col else None
        events = cls(code[order], ts[order], steps[order], excl[order], value, uuid)
        return events, settled

    def one_by_one(self, funnel: Funnel) -> Outcomes:
        assert self.uuid is not None, "ties are ordered by uuid: fetch it"
        return _one_by_one(funnel, self.code, self.ts, self.uuid, self.steps, self.excl, self.value)


def _by_person_and_time(code: Any, ts: Any, entered: Any) -> Any:
    """Row order grouping people (who entered) with their events in time order. One
    composite integer key sorts fastest (rows come nearly in that order already)."""
    rows = np.flatnonzero(entered[code])
    if not len(rows):
        return rows
    t = ts[rows] - ts[rows].min()
    bits = int(t.max()).bit_length()
    if len(entered) < 1 << (62 - bits):
        return rows[np.argsort((code[rows] << bits) | t, kind="stable")]
    return rows[np.lexsort((ts[rows], code[rows]))]


def _one_by_one(
    funnel: Funnel,
    person: Any,
    ts: Any,
    uuid: Any,
    steps: Any,
    excl: Any,
    value: Any,
) -> Outcomes:
    found: list[tuple[int, Outcome]] = []
    if value is None:  # no breakdown
        value = np.full(len(person), None, dtype=object)
    columns = (person, ts, uuid.astype(str), steps, excl, value)
    rows = sorted(zip(*(c.tolist() for c in columns), strict=True), key=itemgetter(0, 1, 2))
    for who, group in groupby(rows, key=itemgetter(0)):
        events = [Event(t, u, m, x, v) for _, t, u, m, x, v in group]
        found.extend((who, o) for o in evaluate(funnel, events))
    times = np.zeros((len(found), funnel.n_steps), dtype=np.int64)
    for i, (_, o) in enumerate(found):
        times[i, : len(o.step_ts)] = o.step_ts
    return Outcomes(
        person=np.array([p for p, _ in found], dtype=np.int64),
        value=np.array([o.value for _, o in found], dtype=object),
        furthest=np.array([o.furthest for _, o in found], dtype=np.int64),
        times=times,
    )


def _concat(parts: list[Outcomes], n: int) -> Outcomes:
    if not parts:
        return Outcomes.empty(n)
    if len(parts) == 1:
        return parts[0]
    return Outcomes(
        person=np.concatenate([p.person for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        furthest=np.concatenate([p.furthest for p in parts]),
        times=np.concatenate([p.times for p in parts]),
    )


def _lower_median_us(values: Any) -> float | None:
    """The lower median of microsecond durations, in seconds."""
    if not len(values):
        return None
    k = (len(values) - 1) // 2
    return float(np.partition(values, k)[k]) / 1e6


def _mean_seconds(values: Any) -> float | None:
    """Mean of microsecond durations in seconds, to 3 places (summed exactly as integers)."""
    return round(int(values.sum()) / len(values) / 1e6, 3) if len(values) else None


def shape(q: FunnelQuery, o: Outcomes) -> dict[str, Any]:
    n = len(q.steps)
    steps = []
    counts = [int((o.furthest >= k).sum()) for k in range(n)]
    for k, entity in enumerate(q.steps):
        prev = counts[k - 1] if k else counts[0]
        reached = o.furthest >= k
        gaps = o.times[reached, k] - o.times[reached, k - 1] if k else np.empty(0, np.int64)
        steps.append(
            {
                "step": k + 1,
                "name": entity.event or "(any event)",
                "count": counts[k],
                "conversion_rate": ratio(counts[k], counts[0]),
                "step_conversion_rate": ratio(counts[k], prev),
                "dropped": prev - counts[k] if k else 0,
                "avg_seconds_from_previous": _mean_seconds(gaps),
                "median_seconds_from_previous": _lower_median_us(gaps),
            }
        )
    return {"steps": steps, "time_to_convert": _time_to_convert(o, n)}


def _time_to_convert(o: Outcomes, n: int) -> dict[str, Any]:
    done = o.furthest == n - 1
    us = o.times[done, n - 1] - o.times[done, 0]
    # A duration falls in the first bucket whose bound it is below (seconds, bound exclusive).
    edges = np.array(TTC_BUCKETS, dtype=np.int64) * 1_000_000
    counts = np.bincount(np.searchsorted(edges, us, side="right"), minlength=len(edges) + 1)
    bounds = (0, *TTC_BUCKETS)
    return {
        "converted": int(len(us)),
        "avg_seconds": _mean_seconds(us),
        "median_seconds": _lower_median_us(us),
        "buckets": [
            {
                "from_seconds": lo,
                "to_seconds": TTC_BUCKETS[i] if i < len(TTC_BUCKETS) else None,
                "count": int(c),
            }
            for i, (lo, c) in enumerate(zip(bounds, counts, strict=True))
        ],  # fmt: skip
    }


def _where(o: Outcomes, mask: Any) -> Outcomes:
    return Outcomes(o.person[mask], o.value[mask], o.furthest[mask], o.times[mask])


def run(ctx: ReportContext, q: FunnelQuery) -> dict[str, Any]:
    found, _, sql = outcomes(ctx, q)
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
        **(shape(q, found) if q.breakdown is None else {}),
        "freshness": freshness(ctx),
        "sql": sql,
    }
    if q.breakdown is not None:
        values, sizes = np.unique(found.value.astype(str), return_counts=True)
        ranked = sorted(zip(values.tolist(), sizes.tolist(), strict=True),
                        key=lambda vs: (-vs[1], vs[0]))  # fmt: skip
        by_value = found.value.astype(str)
        result["breakdown"] = [
            {"value": v, **shape(q, _where(found, by_value == v))}
            for v, _ in ranked[: q.breakdown_limit]
        ]
        result["people"] = len(np.unique(found.person))
    return result


def people(ctx: ReportContext, q: FunnelPeopleQuery) -> dict[str, Any]:
    """Who reached step `step` (converted) or reached the step before and went no further."""
    found, ids, sql = outcomes(ctx, q)
    k = q.step - 1
    mask = found.furthest >= k if q.converted else found.furthest == k - 1
    if q.breakdown_value is not None:
        mask &= found.value.astype(str) == q.breakdown_value
    chosen = _where(found, mask)
    shown = ids.take(pa.array(chosen.person))
    if pa.types.is_integer(shown.type):  # numbers of the stored tables stand for people
        shown = person_ids(ctx.engine, ctx.workspace_id, shown)
    who = shown.to_pylist()
    order = sorted(range(len(who)), key=lambda i: (who[i], chosen.value[i]))
    page = order[q.offset : q.offset + q.limit]
    # Each person as the identity graph knows them (a raw id the graph lacks stands alone).
    named = labels(ctx.engine, ctx.workspace_id, [who[i] for i in page])
    return {
        "kind": "funnel_people",
        "step": q.step,
        "converted": q.converted,
        "total": len(order),
        "people": [
            {
                "person": who[i],
                "identifier": named.get(who[i], {"type": None, "value": who[i]}),
                "breakdown_value": str(chosen.value[i]),
                "furthest_step": int(chosen.furthest[i]) + 1,
                "step_times_us": [int(x) for x in chosen.times[i, : chosen.furthest[i] + 1]],
            }
            for i in page
        ],  # fmt: skip
        "sql": sql,
    }


REPORT = ReportKind(
    "funnel", FunnelQuery, run, "Funnel: conversion through ordered steps", stored_sessions=True
)
PEOPLE = ReportKind(
    "funnel_people",
    FunnelPeopleQuery,
    people,
    "The people at a funnel step",
    stored_sessions=True,
)
