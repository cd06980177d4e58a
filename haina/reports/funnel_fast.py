"""Ordered and strict funnels for many people at once, with numpy: the same semantics as
`funnel_eval` (PostHog's steps.rs), evaluated in lockstep instead of person by person.

`funnel_eval._Attempts` keeps, per person, slot k = the latest attempt that has done k steps
(when it began, whether an exclusion hit it, its step times) and the best attempt so far. Here
every piece of that state is an array over people, and the i-th event of every person is fed
at once (people sorted by event count, so the ones still going are a prefix). Each event's
exclusions are applied highest step first, then its steps highest first, then the strict
reset: the order `_Attempts.feed` uses. A person stops at the first completed attempt.

What this does not take — people with two events at one timestamp (`feed_tied`), breakdowns
attributed to a step or to all events, unordered funnels — the caller evaluates with
`funnel_eval.evaluate`; `supports` says which funnels qualify and `evaluate_many` returns the
people it left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from haina.reports.funnel_eval import Funnel

I64 = npt.NDArray[np.int64]
NONE = np.iinfo(np.int64).min  # an empty slot
CHUNK_BYTES = 64 << 20  # attempt state per batch of people
LOCKSTEP_MAX_EVENTS = 64


@dataclass(frozen=True, slots=True)
class Outcomes:
    """One row per person who entered the funnel and was not excluded."""

    person: npt.NDArray[Any]  # person ids (or codes standing for them)
    value: npt.NDArray[np.object_]  # breakdown value ("" without one)
    furthest: I64  # 0-based furthest step
    times: I64  # (people, steps): step times of the best attempt; columns > furthest unused

    @staticmethod
    def empty(n: int) -> Outcomes:
        return Outcomes(
            np.empty(0, dtype=np.int64),
            np.empty(0, dtype=object),
            np.empty(0, dtype=np.int64),
            np.empty((0, n), dtype=np.int64),
        )


def supports(funnel: Funnel) -> bool:
    return funnel.order in ("ordered", "strict") and (
        not funnel.breakdown or funnel.attribution in ("first_touch", "last_touch")
    )


def guarded_steps(funnel: Funnel, exclusions: I64) -> I64:
    """Each row's exclusion bits → the steps they guard (bit k: the gap before step k)."""
    out = np.zeros_like(exclusions)
    for j, guard in enumerate(funnel.guards()):
        out |= np.where((exclusions >> j) & 1 == 1, guard, 0)
    return out


def evaluate_many(
    funnel: Funnel,
    person: npt.NDArray[Any],
    ts: I64,
    steps: I64,
    exclusions: I64,
    value: npt.NDArray[np.object_] | None,
    max_events: int = LOCKSTEP_MAX_EVENTS,
) -> tuple[Outcomes, npt.NDArray[np.bool_]]:
    """Rows grouped by person (any codes: equal means same person) and sorted by (ts, uuid)
    within a person, as `funnel_eval.evaluate` takes them. Returns the outcomes of the people
    evaluated here, and a row mask of the people left to `funnel_eval`: those with two events
    at one timestamp, and those with more than `max_events` events (a long tail of lockstep
    rounds costs more than walking them one by one)."""
    n = funnel.n_steps
    steps = steps & ((1 << n) - 1)
    xsteps = guarded_steps(funnel, exclusions)
    keep = (steps != 0) | (xsteps != 0) | (funnel.order == "strict")
    rows = np.flatnonzero(keep)
    if len(rows) < len(keep):  # (the SQL usually fetched only rows that match something)
        person, ts, steps, xsteps = person[rows], ts[rows], steps[rows], xsteps[rows]
        value = value[rows] if value is not None else None
    if len(rows) == 0:
        return Outcomes.empty(n), np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
    ends = np.r_[starts[1:], len(person)]
    lengths = ends - starts
    same = np.r_[False, (person[1:] == person[:-1]) & (ts[1:] == ts[:-1])]
    tied_person = (np.add.reduceat(same.astype(np.int64), starts) > 0) | (lengths > max_events)
    tied_rows = np.repeat(tied_person, lengths)
    left_out = np.zeros(len(keep), dtype=bool)
    left_out[rows[tied_rows]] = True

    # People whose events only ever match step 1 (and noise, in strict funnels; no
    # exclusion): their best attempt is their first step-1 event. Most people of a funnel
    # are such, and need no lockstep rounds.
    ones = np.flatnonzero(steps == 1)
    plain = ((steps == 1) | (steps == 0)) & (xsteps == 0)
    trivial = np.logical_and.reduceat(plain, starts) & ~tied_person
    at = np.searchsorted(ones, starts)
    if len(ones):
        trivial &= (at < len(ones)) & (ones[np.minimum(at, len(ones) - 1)] < ends)
    else:
        trivial &= False
    simple = np.flatnonzero(trivial)
    first_one = np.zeros((len(simple), n), dtype=np.int64)
    first_one[:, 0] = ts[ones[at[simple]]] if len(simple) else 0
    parts = [(np.ones(len(simple), np.int64), np.zeros(len(simple), bool), first_one)]

    order = np.flatnonzero(~tied_person & ~trivial)
    cts, csteps, cxsteps, cstarts, clengths = _collapsed(ts, steps, xsteps, starts, ends)
    order = order[np.argsort(-clengths[order], kind="stable")]
    # People in batches: the attempt state is (people, steps + 1, steps) step times.
    batch = max(1, CHUNK_BYTES // ((n + 1) * n * 8))
    parts += [
        _lockstep(funnel, cts, csteps, cxsteps, cstarts[chunk], clengths[chunk])
        for chunk in (order[k : k + batch] for k in range(0, len(order), batch))
    ]
    order = np.concatenate([simple, order])
    best = np.concatenate([b for b, _, _ in parts]) if parts else np.zeros(0, dtype=np.int64)
    spoiled = np.concatenate([x for _, x, _ in parts]) if parts else np.zeros(0, dtype=bool)
    times = np.concatenate([m for _, _, m in parts]) if parts else np.zeros((0, n), np.int64)
    entered = (best > 0) & ~spoiled
    chosen = order[entered]
    return (
        Outcomes(
            person=person[starts[chosen]],
            value=_values(funnel, value, starts[chosen], ends[chosen]),
            furthest=best[entered] - 1,
            times=times[entered],
        ),
        left_out,
    )


def _collapsed(
    ts: I64, steps: I64, xsteps: I64, starts: I64, ends: I64
) -> tuple[I64, I64, I64, I64, I64]:
    """The rows without those that cannot change the outcome: of a run of events matching
    step 1 only (no other step, no exclusion), only the last can matter (each one replaces
    the attempt the previous one opened), except the person's first step-1 event and the
    first after an exclusion, which may set the best attempt of someone who gets no further.
    Fewer rows, fewer lockstep rounds (a shopper's many product views before one add to
    cart). Returns the kept rows' ts, steps and xsteps, and each person's new first row and
    count."""
    pure = (steps == 1) & (xsteps == 0)
    # (A person's last row may go too when the next person's first is such: nothing after
    # it could use the attempt it opens.)
    drop = pure & np.r_[pure[1:], False]
    opening = np.flatnonzero((steps & 1) == 1)
    at = np.searchsorted(opening, starts)
    has = at < len(opening)
    first = opening[at[has]]
    first = first[first < ends[has]]
    drop[first] = False
    # An exclusion may spoil the attempts opened before it: the first step-1 event after one
    # may then open the best attempt of someone who gets no further.
    drop &= ~np.r_[False, xsteps[:-1] != 0]
    keep = ~drop
    counts = np.add.reduceat(keep.astype(np.int64), starts) if len(starts) else starts
    new_starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64) if len(starts) else starts
    return ts[keep], steps[keep], xsteps[keep], new_starts, counts


def _lockstep(
    funnel: Funnel, ts: I64, steps: I64, xsteps: I64, first: I64, count: I64
) -> tuple[I64, npt.NDArray[np.bool_], I64]:
    """The best attempt (furthest step 1-based, whether excluded, step times) of people whose
    rows are first[p] .. first[p] + count[p] - 1, count descending."""
    n = funnel.n_steps
    people = len(first)
    start = np.full((people, n + 1), NONE, dtype=np.int64)
    excluded = np.zeros((people, n + 1), dtype=bool)
    times = np.zeros((people, n + 1, n), dtype=np.int64)
    best = np.zeros(people, dtype=np.int64)
    best_start = np.zeros(people, dtype=np.int64)
    best_excluded = np.zeros(people, dtype=bool)
    best_times = np.zeros((people, n), dtype=np.int64)
    done = np.zeros(people, dtype=bool)
    window, strict = funnel.window_us, funnel.order == "strict"
    guarded = bool(funnel.exclusions)
    going = people
    for i in range(int(count[0]) if people else 0):
        while going and count[going - 1] <= i:
            going -= 1
        idx = np.flatnonzero(~done[:going])
        if not len(idx):
            break
        row = first[idx] + i
        t, st, xs = ts[row], steps[row], xsteps[row]
        start[idx, 0] = t
        for step in range(n, 0, -1) if guarded else ():  # exclusions, highest step first
            hit = ((xs >> (step - 1)) & 1) == 1
            if not hit.any():
                continue
            p, tt = idx[hit], t[hit]
            began = start[p, step - 1]
            ok = (began != NONE) & (tt - began <= window) & (start[p, step] != began)
            ok &= ~excluded[p, step - 1]
            p, tt = p[ok], tt[ok]
            excluded[p, step - 1] = True
            spoil = (best[p] == step - 1) & (tt - best_start[p] <= window)
            best_excluded[p[spoil]] = True
        for step in range(n, 0, -1):  # steps, highest first
            hit = ((st >> (step - 1)) & 1) == 1
            if not hit.any():
                continue
            p, tt = idx[hit], t[hit]
            prev = step - 1
            began = start[p, prev]
            ok = (began != NONE) & (tt - began <= window) & (start[p, step] != began)
            p, tt, began = p[ok], tt[ok], began[ok]
            if not len(p):
                continue
            was_excluded = excluded[p, prev]
            chain = times[p, prev].copy()
            chain[:, prev] = tt
            fresh = ~was_excluded
            q = p[fresh]
            start[q, step], excluded[q, step], times[q, step] = began[fresh], False, chain[fresh]
            better = (step > best[p]) | ((step == best[p]) & best_excluded[p])
            b = p[better]
            best[b], best_start[b], best_excluded[b] = step, began[better], was_excluded[better]
            best_times[b] = chain[better]
        if strict:
            for step in range(1, n + 1):
                miss = ((st >> (step - 1)) & 1) == 0
                start[idx[miss], step] = NONE
        done[idx[start[idx, n] != NONE]] = True
    return best, best_excluded, best_times


def _values(
    funnel: Funnel, value: npt.NDArray[np.object_] | None, starts: I64, ends: I64
) -> npt.NDArray[np.object_]:
    """Each person's breakdown value: the first (last) non-missing one of their rows."""
    out = np.full(len(starts), "", dtype=object)
    if not funnel.breakdown or value is None or not len(starts):
        return out
    has = np.flatnonzero(value != None)  # noqa: E711 - element-wise
    if not len(has):
        return out
    if funnel.attribution == "first_touch":
        pos = np.searchsorted(has, starts, side="left")
        found = (pos < len(has)) & (has[np.minimum(pos, len(has) - 1)] < ends)
        out[found] = value[has[pos[found]]]
    else:
        pos = np.searchsorted(has, ends, side="left") - 1
        found = (pos >= 0) & (has[np.maximum(pos, 0)] >= starts)
        out[found] = value[has[pos[found]]]
    return out
