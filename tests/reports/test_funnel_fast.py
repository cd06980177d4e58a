"""The lockstep funnel evaluator gives, person for person, what `funnel_eval` gives."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.reports.funnel_eval import Event, Exclusion, Funnel, evaluate
from haina.reports.funnel_fast import evaluate_many, supports


@st.composite
def funnels(draw: st.DrawFn) -> Funnel:
    n = draw(st.integers(2, 5))
    exclusions = []
    for _ in range(draw(st.integers(0, 2))):
        a = draw(st.integers(0, n - 2))
        exclusions.append(Exclusion(a, draw(st.integers(a + 1, n - 1))))
    breakdown = draw(st.booleans())
    return Funnel(
        n_steps=n,
        window_us=draw(st.sampled_from([0, 5, 30, 10**9])),
        order=draw(st.sampled_from(["ordered", "strict"])),
        exclusions=tuple(exclusions),
        attribution=draw(st.sampled_from(["first_touch", "last_touch"])),
        breakdown=breakdown,
    )


@st.composite
def people(draw: st.DrawFn, funnel: Funnel) -> list[tuple[str, list[Event]]]:
    out = []
    for p in range(draw(st.integers(1, 12))):
        t, events = 0, []
        for i in range(draw(st.integers(0, 14))):
            t += draw(st.sampled_from([0, 1, 1, 3, 10, 40]))  # 0: a tie now and then
            events.append(Event(
                ts=t, uuid=f"e{i:03d}",
                steps=draw(st.integers(0, (1 << funnel.n_steps) - 1)),
                exclusions=draw(st.integers(0, (1 << len(funnel.exclusions)) - 1)),
                value=draw(st.sampled_from([None, "a", "b", ""])),
            ))  # fmt: skip
        out.append((f"p{p:02d}", events))
    return out


@st.composite
def cases(draw: st.DrawFn) -> tuple[Funnel, list[tuple[str, list[Event]]]]:
    funnel = draw(funnels())
    return funnel, draw(people(funnel))


def _arrays(group: list[tuple[str, list[Event]]]) -> dict[str, Any]:
    rows = [(p, e) for p, events in group for e in events]
    return {
        "person": np.array([p for p, _ in rows], dtype=object),
        "ts": np.array([e.ts for _, e in rows], dtype=np.int64),
        "steps": np.array([e.steps for _, e in rows], dtype=np.int64),
        "exclusions": np.array([e.exclusions for _, e in rows], dtype=np.int64),
        "value": np.array([e.value for _, e in rows], dtype=object),
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([3, 64]))
def test_lockstep_equals_person_by_person(
    case: tuple[Funnel, list[tuple[str, Any]]], max_events: int
) -> None:
    funnel, group = case
    assert supports(funnel)
    a = _arrays(group)
    got, left_out = evaluate_many(funnel, **a, max_events=max_events)
    fast = {
        p: (v, int(f), tuple(int(x) for x in times[: f + 1]))
        for p, v, f, times in zip(got.person, got.value, got.furthest, got.times, strict=True)
    }
    skipped = set(a["person"][left_out])
    for person, events in group:
        expected = evaluate(funnel, events)
        if person in skipped:
            continue
        want = [(o.value, o.furthest, o.step_ts) for o in expected]
        assert ([fast[person]] if person in fast else []) == want, person
    # Left to funnel_eval: exactly the people with two kept events at one timestamp, or with
    # more kept events than max_events.
    for person, events in group:
        ts = [e.ts for e in events if e.steps & ((1 << funnel.n_steps) - 1) or e.exclusions
              or funnel.order == "strict"]  # fmt: skip
        assert (person in skipped) == (len(ts) != len(set(ts)) or len(ts) > max_events)


def test_unordered_and_step_attribution_are_left_to_funnel_eval() -> None:
    assert not supports(Funnel(3, 10, order="unordered"))
    assert not supports(Funnel(3, 10, breakdown=True, attribution="all_events"))
    assert not supports(Funnel(3, 10, breakdown=True, attribution="step", attribution_step=1))
