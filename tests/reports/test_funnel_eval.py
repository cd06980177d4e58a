"""The funnel evaluator against PostHog's semantics: golden cases, then properties."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from haina.reports.funnel_eval import Event, Exclusion, Funnel, Outcome, evaluate

MIN = 60_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
X = "x"  # marks an exclusion event in `person`


def person(*specs: tuple[int, int | str] | tuple[int, int | str, str | None]) -> list[Event]:
    """Events from (ts, step or X[, value]) in input order; uuids keep that order on ties."""
    events = []
    for i, (ts, what, *value) in enumerate(specs):
        steps, exclusions = (0, 1) if what == X else (1 << int(what), 0)
        events.append(Event(ts, f"{i:04d}", steps, exclusions, value[0] if value else None))
    assert events == sorted(events, key=lambda e: (e.ts, e.uuid))
    return events


def reached(funnel: Funnel, events: list[Event]) -> list[tuple[str, int, tuple[int, ...]]]:
    return [(o.value, o.furthest, o.step_ts) for o in evaluate(funnel, events)]


# Timestamps shared by several events


def test_different_events_at_one_instant_complete_consecutive_steps() -> None:
    # At ts 10 the step-3 event sorts first (uuid), but steps are tried in step order.
    events = [Event(0, "a", 0b001), Event(10, "b", 0b100), Event(10, "c", 0b010)]
    assert reached(Funnel(3, DAY), events) == [("", 2, (0, 10, 10))]
    assert reached(Funnel(2, DAY), [Event(0, "a", 0b10), Event(0, "b", 0b01)]) == [("", 1, (0, 0))]


def test_an_exclusion_sharing_a_step_timestamp_is_ignored() -> None:
    funnel = Funnel(2, DAY, exclusions=(Exclusion(0, 1),))
    tied = [Event(0, "a", 0b01), Event(5, "b", 0, 1), Event(5, "c", 0b10)]
    assert reached(funnel, tied) == [("", 1, (0, 5))]
    before = [Event(0, "a", 0b01), Event(4, "b", 0, 1), Event(5, "c", 0b10)]
    assert reached(funnel, before) == []


# Strict order


def test_strict_noise_between_steps_breaks_the_sequence() -> None:
    noisy = [Event(0, "a", 0b01), Event(5, "b", 0), Event(10, "c", 0b10)]
    assert reached(Funnel(2, DAY, order="strict"), noisy) == [("", 0, (0,))]
    assert reached(Funnel(2, DAY), noisy) == [("", 1, (0, 10))]
    direct = [Event(0, "a", 0b01), Event(10, "c", 0b10), Event(15, "d", 0)]
    assert reached(Funnel(2, DAY, order="strict"), direct) == [("", 1, (0, 10))]


# Exclusions


EXCLUDE_0_1 = Funnel(3, DAY, exclusions=(Exclusion(0, 1),))


def test_an_exclusion_in_the_best_attempt_removes_the_person() -> None:
    assert reached(EXCLUDE_0_1, person((0, 0), (5, X), (10, 1))) == []
    assert reached(EXCLUDE_0_1, person((0, 0), (5, X))) == []  # even one stuck at step 1
    # a clean attempt that only gets as far as step 1 does not bring them back
    assert reached(EXCLUDE_0_1, person((0, 0), (5, X), (10, 1), (HOUR, 0))) == []


def test_a_later_clean_attempt_as_far_restores_the_person() -> None:
    events = person((0, 0), (5, X), (10, 1), (HOUR, 0), (HOUR + 1, 1))
    assert reached(EXCLUDE_0_1, events) == [("", 1, (HOUR, HOUR + 1))]


def test_an_exclusion_outside_the_gap_or_the_window_does_not_count() -> None:
    assert reached(EXCLUDE_0_1, person((0, X), (5, 0), (10, 1))) == [("", 1, (5, 10))]
    assert reached(EXCLUDE_0_1, person((0, 0), (5, 1), (6, X))) == [("", 1, (0, 5))]
    assert reached(EXCLUDE_0_1, person((0, 0), (DAY + 1, X))) == [("", 0, (0,))]


# Window, attempts, one event per step


def test_the_window_is_measured_from_step_one() -> None:
    funnel = Funnel(3, 10 * HOUR)
    late = person((0, 0), (6 * HOUR, 1), (10 * HOUR + 1, 2))
    assert reached(funnel, late) == [("", 1, (0, 6 * HOUR))]
    on_edge = person((0, 0), (6 * HOUR, 1), (10 * HOUR, 2))
    assert reached(funnel, on_edge) == [("", 2, (0, 6 * HOUR, 10 * HOUR))]


def test_the_furthest_attempt_wins_and_gives_the_times() -> None:
    events = person((0, 0), (10, 1), (2 * HOUR, 0), (2 * HOUR + 1, 1), (2 * HOUR + 2, 2))
    assert reached(Funnel(3, HOUR), events) == [("", 2, (2 * HOUR, 2 * HOUR + 1, 2 * HOUR + 2))]


def test_every_step_one_event_opens_an_attempt() -> None:
    events = person((0, 0), (50 * MIN, 0), (70 * MIN, 1))
    assert reached(Funnel(2, HOUR), events) == [("", 1, (50 * MIN, 70 * MIN))]


def test_of_attempts_equally_far_the_first_to_get_there_is_kept() -> None:
    events = person((0, 0), (10, 1), (2 * HOUR, 0), (2 * HOUR + 5, 1))
    assert reached(Funnel(2, HOUR), events) == [("", 1, (0, 10))]


def test_one_event_matching_two_steps_fills_only_one() -> None:
    assert reached(Funnel(2, DAY), [Event(0, "a", 0b11)]) == [("", 0, (0,))]
    assert reached(Funnel(3, DAY), [Event(0, "a", 0b111)]) == [("", 0, (0,))]
    twice = [Event(0, "a", 0b11), Event(5, "b", 0b11)]
    assert reached(Funnel(2, DAY), twice) == [("", 1, (0, 5))]
    # nor among ties: "a" takes step 1 first, so "b" cannot, nor can "a" then take step 2
    tied = [Event(0, "a", 0b11), Event(0, "b", 0b01)]
    assert reached(Funnel(2, DAY), tied) == [("", 0, (0,))]


# Any order


UNORDERED = Funnel(3, HOUR, order="unordered", exclusions=(Exclusion(0, 2),))


def test_unordered_steps_count_in_any_order_within_the_window() -> None:
    assert reached(UNORDERED, person((0, 2), (10, 0), (20, 1))) == [("", 2, (0, 10, 20))]
    assert reached(UNORDERED, person((0, 2), (10, 0), (HOUR, 1))) == [("", 2, (0, 10, HOUR))]
    assert reached(UNORDERED, person((0, 2), (10, 0), (2 * HOUR, 1))) == [("", 1, (0, 10))]


def test_unordered_times_come_after_posthog_thins_repeated_events() -> None:
    # The middle of three like events is dropped before evaluation, so once the first leaves
    # the window, step 1 is timed by the third.
    events = person((0, 0), (10, 0), (20, 0), (HOUR + 5, 1))
    assert reached(UNORDERED, events) == [("", 1, (20, HOUR + 5))]


def test_unordered_exclusion_resets_progress_in_the_window() -> None:
    events = person((0, 0), (5, X), (10, 1), (20, 2))
    assert reached(UNORDERED, events) == [("", 1, (10, 20))]
    # PostHog notes progress only when an event leaves the window: an exclusion inside the
    # window wipes what was not noted yet, one after it does not.
    assert reached(UNORDERED, person((0, 0), (5, 1), (10, X))) == []
    assert reached(UNORDERED, person((0, 0), (5, 1), (2 * HOUR, X))) == [("", 1, (0, 5))]


# Breakdown attribution


Attribution = Literal["first_touch", "last_touch", "all_events", "step"]


def broken_down(attribution: Attribution, step: int = 0) -> Funnel:
    return Funnel(2, DAY, breakdown=True, attribution=attribution, attribution_step=step)


def test_without_breakdown_the_value_is_empty() -> None:
    assert reached(Funnel(2, DAY), person((0, 0, "a"), (5, 1, "b"))) == [("", 1, (0, 5))]


def test_first_and_last_touch_take_the_earliest_and_latest_value() -> None:
    events = person((0, 0), (5, 1, "a"), (9, 0, "b"), (10, 0))
    assert reached(broken_down("first_touch"), events) == [("a", 1, (0, 5))]
    assert reached(broken_down("last_touch"), events) == [("b", 1, (0, 5))]
    assert reached(broken_down("first_touch"), person((0, 0), (5, 1))) == [("", 1, (0, 5))]


def test_all_events_evaluates_each_value_on_its_own_events() -> None:
    events = person((0, 0, "a"), (5, 1, "b"), (10, 0, "b"), (20, 1, "b"), (30, 0))
    assert reached(broken_down("all_events"), events) == [
        ("a", 0, (0,)),
        ("b", 1, (10, 20)),
        ("", 0, (30,)),
    ]


def test_step_attribution_takes_the_value_at_that_step() -> None:
    events = person((0, 0, "a"), (5, 1, "b"))
    assert reached(broken_down("step", 1), events) == [("b", 1, (0, 5))]
    assert reached(broken_down("step", 0), events) == [("a", 1, (0, 5))]
    assert reached(broken_down("step", 1), person((0, 0, "a"))) == []  # no value at step 2
    # Each value found at the step is evaluated, with only its own events filling the step.
    twice = person((0, 0, "a"), (5, 1, "b"), (6, 1, "c"))
    assert reached(broken_down("step", 1), twice) == [("b", 1, (0, 5)), ("c", 1, (0, 6))]


# Properties

Order = Literal["ordered", "strict", "unordered"]


@st.composite
def cases(
    draw: st.DrawFn, orders: tuple[Order, ...] = ("ordered", "strict", "unordered")
) -> tuple[Funnel, list[Event]]:
    n = draw(st.integers(2, 4))
    order = draw(st.sampled_from(orders))
    spans = [(a, b) for a in range(n) for b in range(a + 1, n)]
    spans = [(0, n - 1)] if order == "unordered" else spans
    exclusions = draw(st.lists(st.sampled_from(spans), max_size=2))
    attribution: Attribution = draw(
        st.sampled_from(["first_touch", "last_touch", "all_events", "step"])
    )
    funnel = Funnel(
        n,
        draw(st.integers(0, 20)),
        order,
        tuple(Exclusion(a, b) for a, b in exclusions),
        attribution,
        0 if order == "unordered" else draw(st.integers(0, n - 1)),
        draw(st.booleans()),
    )
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, 30),
                st.integers(0, (1 << n) - 1),
                st.integers(0, 3),
                st.sampled_from([None, "", "a", "b"]),
            ),
            max_size=14,
        )
    )
    events = [Event(t, f"{i:03d}", s, x, v) for i, (t, s, x, v) in enumerate(raw)]
    return funnel, sorted(events, key=lambda e: (e.ts, e.uuid))


def furthest(funnel: Funnel, events: list[Event]) -> int:
    return max((o.furthest for o in evaluate(funnel, events)), default=-1)


def assert_well_formed(funnel: Funnel, outcomes: list[Outcome]) -> None:
    assert len({o.value for o in outcomes}) == len(outcomes)
    for o in outcomes:
        assert 0 <= o.furthest <= funnel.n_steps - 1
        assert len(o.step_ts) == o.furthest + 1
        assert list(o.step_ts) == sorted(o.step_ts)
        assert o.step_ts[-1] - o.step_ts[0] <= funnel.window_us


@given(cases())
def test_outcomes_stay_within_the_funnel_and_the_window(case: tuple[Funnel, list[Event]]) -> None:
    funnel, events = case
    assert_well_formed(funnel, evaluate(funnel, events))


@given(cases(("ordered",)))
def test_strict_never_goes_further_than_ordered(case: tuple[Funnel, list[Event]]) -> None:
    # Not so with exclusions (a strict reset can drop an excluded attempt that ordered keeps)
    # nor with ties (there steps go in ascending order, and in an ordered funnel a newer
    # attempt can take the slot an older one needed for the next step, as in steps.rs).
    funnel, events = case
    funnel = replace(funnel, exclusions=())
    events = list({e.ts: e for e in events}.values())
    assert furthest(replace(funnel, order="strict"), events) <= furthest(funnel, events)


@given(cases(), st.integers(0, 20))
def test_a_wider_window_never_reduces_furthest(
    case: tuple[Funnel, list[Event]], extra: int
) -> None:
    funnel, events = case
    funnel = replace(funnel, exclusions=(), breakdown=False)
    wider = replace(funnel, window_us=funnel.window_us + extra)
    assert furthest(wider, events) >= furthest(funnel, events)


@given(cases(), st.randoms(use_true_random=False))
def test_reordering_events_that_share_a_timestamp(
    case: tuple[Funnel, list[Event]], rnd: random.Random
) -> None:
    funnel, events = case
    uuids = [e.uuid for e in events]
    rnd.shuffle(uuids)
    shuffled = sorted(
        (replace(e, uuid=u) for e, u in zip(events, uuids, strict=True)),
        key=lambda e: (e.ts, e.uuid),
    )
    outcomes = evaluate(funnel, shuffled)
    assert_well_formed(funnel, outcomes)
    if funnel.order != "unordered" and not funnel.breakdown:
        # Events matching one step each: tied steps go in step order, so the order the caller
        # passes them in cannot matter. (With several steps per event it can, as in PostHog.)
        def single(evs: list[Event]) -> list[Event]:
            return [replace(e, steps=e.steps & -e.steps) for e in evs]

        assert evaluate(funnel, single(shuffled)) == evaluate(funnel, single(events))


@given(cases(("ordered",)))
def test_ordered_matches_the_best_greedy_attempt(case: tuple[Funnel, list[Event]]) -> None:
    """Without exclusions and ties, the person reaches what the best attempt reaches, with
    the times of the attempt that got there first (the latest-started one on a tie)."""
    funnel, events = case
    funnel = replace(funnel, exclusions=(), breakdown=False)
    events = list({e.ts: replace(e, exclusions=0) for e in events}.values())
    attempts = [greedy(funnel, events, i) for i, e in enumerate(events) if e.steps & 1]
    if not attempts:
        assert evaluate(funnel, events) == []
        return
    best = max(len(a) for a in attempts)
    first = min((a for a in attempts if len(a) == best), key=lambda a: (a[-1], -a[0]))
    assert evaluate(funnel, events) == [Outcome("", best - 1, first)]


def greedy(funnel: Funnel, events: list[Event], begin: int) -> tuple[int, ...]:
    times = [events[begin].ts]
    for e in events[begin + 1 :]:
        if len(times) == funnel.n_steps or e.ts - times[0] > funnel.window_us:
            break
        if e.steps >> len(times) & 1:
            times.append(e.ts)
    return tuple(times)
