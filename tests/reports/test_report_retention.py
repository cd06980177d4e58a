"""Retention on both engines: PostHog's own retention test cases (same events, same expected
triangles), our additions (time zones, first-ever, breakdowns), and the demo data set checked
against a plain-Python recomputation."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from conftest import NOW, WORKSPACE, RunBoth, engines_for, make_events, run_on
from pydantic import ValidationError

from haina.query import Engine, ReportSettings
from haina.reports.registry import run_report

UTC_SETTINGS = ReportSettings(timezone="UTC")


def _date(day: int, hour: int = 5, month: int = 0, minute: int = 0) -> datetime:
    """PostHog's test helper: day 0 is 2020-06-10, 05:00 UTC."""
    return datetime(2020, 6 + month, 10 + day, hour, minute)


def _who(who: str) -> dict[str, str]:
    """PostHog's distinct ids: `person…` are the people's own (user) ids, others are devices."""
    return {"user_id": who} if who.startswith("person") else {"anonymous_id": who}


def pv(who: str, ts: datetime, **props: Any) -> dict[str, Any]:
    return {"ts": f"{ts:%Y-%m-%d %H:%M:%S}", "type": "page", **_who(who), "path": "/",
            "properties": props}  # fmt: skip


def tr(who: str, ts: datetime, name: str, **props: Any) -> dict[str, Any]:
    return {"ts": f"{ts:%Y-%m-%d %H:%M:%S}", "type": "track", "event": name, **_who(who),
            "properties": props}  # fmt: skip


def link(anon: str, user: str, **traits: Any) -> dict[str, Any]:
    """An identify call: `anon` is `user` from now on (and before: identity resolution)."""
    return {"ts": "2019-12-01 00:00:00", "type": "identify", "anonymous_id": anon,
            "user_id": user, "traits": traits}  # fmt: skip


def _basic(prop: str = "some_property") -> list[dict[str, Any]]:
    """PostHog's usual two people: person1 (also seen as alias1) and person2; like PostHog's
    `_create_events`, every other event carries `some_property: value`."""
    when = [("person1", _date(0)), ("person1", _date(1)), ("person1", _date(2)),
            ("person1", _date(5)), ("alias1", _date(5, 9)), ("person1", _date(6)),
            ("person2", _date(1)), ("person2", _date(2)), ("person2", _date(3)),
            ("person2", _date(6))]  # fmt: skip
    return [link("alias1", "person1")] + [
        pv(who, ts, **({prop: "value"} if i % 2 == 0 else {})) for i, (who, ts) in enumerate(when)
    ]


def _weeks() -> list[dict[str, Any]]:
    when = [("person1", _date(0)), ("person2", _date(0)), ("person1", _date(1)),
            ("person2", _date(1)), ("person1", _date(7)), ("person2", _date(7)),
            ("person1", _date(14)), ("person1", _date(month=1, day=-6)),
            ("person2", _date(month=1, day=-6)), ("person2", _date(month=1, day=1)),
            ("person1", _date(month=1, day=1)), ("person2", _date(month=1, day=15))]  # fmt: skip
    return [link("alias1", "person1")] + [pv(who, ts) for who, ts in when]


def _hours() -> list[dict[str, Any]]:
    when = [("person1", 6), ("person2", 6), ("person1", 7), ("person2", 7), ("person1", 8),
            ("person2", 8), ("person1", 10), ("person1", 11), ("person2", 11), ("person2", 12),
            ("person1", 14), ("person2", 16)]  # fmt: skip
    return [pv(who, _date(0, hour=h)) for who, h in when]


def _months() -> list[dict[str, Any]]:
    when = [("person1", -5), ("person2", -5), ("person1", -4), ("person2", -4), ("person1", -3),
            ("person2", -3), ("person1", -1), ("person1", 0), ("person2", 0), ("person2", 1),
            ("person1", 3), ("person2", 5)]  # fmt: skip
    return [pv(who, _date(0, month=m)) for who, m in when]


def _rolling(min_occurrences: int = 1) -> list[dict[str, Any]]:
    when = [("person1", 0), ("person1", 3), *[("person1", 4)] * min_occurrences, ("person2", 0),
            ("person2", 1), ("person3", 1), ("person3", 2), *[("person3", 3)] * min_occurrences,
            ("person4", 3), ("person4", 4), ("person5", 4)]  # fmt: skip
    return [pv(who, _date(d)) for who, d in when]


def _first_time() -> list[dict[str, Any]]:
    """PostHog's `_create_first_time_retention_events`."""
    signups = [("shouldnt_include", -5), ("shouldnt_include", -1), ("person1", -1),
               ("person1", 1), ("person1", 2), ("person1", 3), ("person1", 4), ("person2", -1),
               ("person3", 0), ("person4", 2)]  # fmt: skip
    rows = [tr(who, _date(d), "$user_signed_up") for who, d in signups]
    return rows + _basic()[1:] + [link("alias1", "person1")] + [
        pv(who, _date(d)) for who, d in [("person3", 1), ("person3", 3), ("person3", 4),
                                        ("person3", 5), ("person4", 3), ("person4", 5)]
    ]  # fmt: skip


def _first_ever() -> list[dict[str, Any]]:
    """PostHog's first-ever-occurrence case with its person breakdown (age)."""
    rows = [
        link("person1", "person1", age="25"),
        link("person2", "person2", age="30"),
        link("person3", "person3", age="25"),
        link("person4", "person4", age="30"),
    ]
    plan = [("person1", 1, "$pageview"), ("person1", 2, "S"), ("person1", 3, "$pageview"),
            ("person1", 5, "$pageview"), ("person2", 1, "S"), ("person2", 2, "$pageview"),
            ("person2", 4, "$pageview"), ("person3", 2, "S"), ("person3", 3, "$pageview"),
            ("person3", 5, "$pageview"), ("person4", 3, "$pageview"), ("person4", 4, "S"),
            ("person4", 5, "$pageview"), ("person4", 6, "$pageview")]  # fmt: skip
    return rows + [
        pv(who, _date(d)) if name == "$pageview" else tr(who, _date(d), name)
        for who, d, name in plan
    ]


def _start_props() -> list[dict[str, Any]]:
    """Only some pageviews carry `target`: the start entity filters on it."""
    when = [
        ("person1", 0, {}),
        ("person1", 1, {}),
        ("person1", 2, {"target": "value"}),
        ("person1", 5, {"target": "value"}),
        ("alias1", 5, {}),
        ("person1", 6, {}),
        ("person2", 1, {}),
        ("person2", 2, {}),
        ("person2", 3, {}),
        ("person2", 6, {}),
    ]
    return [link("alias1", "person1")] + [pv(who, _date(d), **p) for who, d, p in when]


def _earlier(rows: list[dict[str, Any]], hours: int) -> list[dict[str, Any]]:
    def move(ts: str) -> str:
        return f"{datetime.fromisoformat(ts) - timedelta(hours=hours):%Y-%m-%d %H:%M:%S}"

    return [{**row, "ts": move(row["ts"])} for row in rows]


def _sources() -> list[dict[str, Any]]:
    return [pv("a", _date(0), src="web"), pv("a", _date(1), src="app"),
            pv("a", _date(2), src="web"), pv("b", _date(0), src="app"),
            pv("b", _date(1), src="app")]  # fmt: skip


# One workspace per case (chdb sessions of a process share one database: names must differ).
DATA = {
    "basic": _basic(), "weeks": _weeks(), "hours": _hours(), "months": _months(),
    "rolling": _rolling(), "rolling3": _rolling(3), "first": _first_time(),
    "first_ever": _first_ever(), "start_props": _start_props(), "src": _sources(),
    "shanghai": _earlier(_basic(), 8),
}  # fmt: skip


@pytest.fixture(scope="module")
def cases() -> dict[str, Engine]:
    return engines_for(
        pa.concat_tables([make_events(rows, f"ret_{ws}") for ws, rows in DATA.items()])
    )


def triangle(cases: dict[str, Engine], ws: str, **body: Any) -> list[list[int]]:
    result = run_on(cases, "retention", {"timezone": "UTC", **body}, UTC_SETTINGS, f"ret_{ws}")
    return [c["values"] for c in result["cohorts"]]


def pad(rows: list[list[int]]) -> list[list[int]]:
    return [row + [0] * (len(rows[0]) - len(row)) for row in rows]


DAY_10 = [[1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0], [2, 2, 1, 0, 1, 2, 0, 0, 0, 0],
          [2, 1, 0, 1, 2, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0],
          [1, 1, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0], [0, 0], [0]]  # fmt: skip


def test_recurring_days_as_posthog_counts_them(cases: dict[str, Engine]) -> None:
    # date_to 06:00 still takes the whole day; date_from is 11 days back; alias1 is person1
    body = {"date_to": f"{_date(10, hour=6):%Y-%m-%dT%H:%M:%S}", "intervals": 11}
    assert triangle(cases, "basic", **body) == pad(DAY_10)
    result = run_on(cases, "retention", {"timezone": "UTC", **body}, UTC_SETTINGS, "ret_basic")
    assert result["cohorts"][0]["start"] == "2020-06-10 00:00:00"
    assert [c["reached"] for c in result["cohorts"]] == list(range(11, 0, -1))
    assert result["range"]["to"] == "2020-06-20T23:59:59.999999"


def test_weeks_start_sunday_or_monday(cases: dict[str, Engine]) -> None:
    body = {"date_to": "2020-07-20T00:00:00", "period": "week", "intervals": 7}
    expected = pad([[2, 2, 1, 2, 2, 0, 1], [2, 1, 2, 2, 0, 1], [1, 1, 1, 0, 0], [2, 2, 0, 1],
                    [2, 0, 1], [0, 0], [1]])  # fmt: skip
    for start, first_day in (("sunday", "2020-06-07"), ("monday", "2020-06-08")):
        result = run_on(
            cases, "retention", {"timezone": "UTC", **body, "week_start": start},
            UTC_SETTINGS, "ret_weeks",
        )  # fmt: skip
        assert [c["values"] for c in result["cohorts"]] == expected
        assert result["cohorts"][0]["start"] == f"{first_day} 00:00:00"


def test_hours_and_months(cases: dict[str, Engine]) -> None:
    hours = triangle(cases, "hours", date_to="2020-06-10T16:13:00", period="hour", intervals=11)
    months = triangle(cases, "months", date_to="2020-11-25", period="month", intervals=11)
    expected = pad([[2, 2, 2, 0, 1, 2, 1, 0, 1, 0, 1], [2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
                    [2, 0, 1, 2, 1, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0],
                    [1, 1, 0, 0, 1, 0, 0], [2, 1, 0, 1, 0, 1], [1, 0, 0, 0, 1], [0, 0, 0, 0],
                    [1, 0, 0], [0, 0], [1]])  # fmt: skip
    assert hours == expected and months == expected


def test_cumulative_counts_returns_on_or_after_each_period(cases: dict[str, Engine]) -> None:
    body = {"date_to": "2020-06-15T06:00:00", "intervals": 5, "cumulative": True,
            "start_event": {"event": None}, "return_event": {"event": None}}  # fmt: skip
    assert triangle(cases, "rolling", **body) == pad(
        [[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 2, 0], [3, 0], [0]]
    )
    assert triangle(cases, "rolling3", **body, minimum_occurrences=3) == pad(
        [[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 1, 0], [3, 0], [0]]
    )
    # not cumulative: person3 (cohort day 1) did nothing on day 3 but came back on day 4
    plain = triangle(cases, "rolling", **{**body, "cumulative": False})
    assert plain[0] == [2, 1, 1, 0, 0]


def test_minimum_occurrences_needs_that_many_returns_in_the_period(
    cases: dict[str, Engine],
) -> None:
    body = {"date_to": "2020-06-20T06:00:00", "intervals": 11, "minimum_occurrences": 2,
            "start_event": {"event": None}, "return_event": {"event": "$pageview"}}  # fmt: skip
    assert triangle(cases, "basic", **body) == pad(
        [[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 1, 0, 0, 0, 0, 0],
         [2, 0, 0, 1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0],
         [1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0], [0, 0], [0]]
    )  # fmt: skip


def test_first_time_cohorts_leave_out_people_who_started_before_the_range(
    cases: dict[str, Engine],
) -> None:
    body = {"date_to": "2020-06-15T06:00:00", "intervals": 7, "retention_type": "first_time",
            "start_event": {"event": "$user_signed_up"}}  # fmt: skip
    # person1 and person2 first signed up on day -1 (the first cohort); "shouldnt_include"
    # first did on day -5, before the range, so their day -1 signup puts them nowhere
    assert triangle(cases, "first", **body) == pad(
        [[2, 1, 2, 2, 1, 0, 1], [1, 1, 0, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0],
         [0, 0], [0]]
    )  # fmt: skip
    recurring = triangle(cases, "first", **{**body, "retention_type": "recurring"})
    assert recurring[0][0] == 3  # shouldnt_include is back in the day -1 cohort


def test_first_time_takes_the_first_start_event_that_matches_its_filters(
    cases: dict[str, Engine],
) -> None:
    start = {"event": "$pageview", "filters": [{"key": "target", "value": "value"}]}
    body = {"date_to": "2020-06-20", "intervals": 11, "start_event": start}
    first_time = triangle(cases, "start_props", **body, retention_type="first_time")
    assert first_time == pad([[0] * 11, [0] * 10, [1, 0, 0, 1, 1, 0, 0, 0, 0]] + [[0]] * 8)
    # first-ever: person1's first pageview (day 0) lacks the filter, so they are in no cohort
    first_ever = triangle(cases, "start_props", **body, retention_type="first_ever_occurrence")
    assert first_ever == pad([[0] * 11] + [[0]] * 10)


def test_first_ever_occurrence_with_a_person_breakdown(cases: dict[str, Engine]) -> None:
    body = {
        "timezone": "UTC",
        "date_from": "2020-06-10",
        "date_to": "2020-06-17",
        "intervals": 7,
        "retention_type": "first_ever_occurrence",
        "start_event": {"event": "S"},
        "breakdown": {"property": "age", "source": "person"},
    }
    result = run_on(cases, "retention", body, UTC_SETTINGS, "ret_first_ever")
    by_age = {b["value"]: [c["values"] for c in b["cohorts"]] for b in result["breakdown"]}
    zero = [0] * 7
    assert by_age == {
        "25": [zero, zero, [2, 2, 0, 2, 0, 0, 0], zero, zero, zero, zero, zero],
        "30": [zero, [1, 1, 0, 1, 0, 0, 0], zero, zero, [1, 1, 1, 0, 0, 0, 0], zero, zero, zero],
    }  # fmt: skip
    assert [b["value"] for b in result["breakdown"]] == ["25", "30"]  # tie: by value
    assert "cohorts" not in result
    other = run_on(cases, "retention", {**body, "limit": 1}, UTC_SETTINGS, "ret_first_ever")
    assert [b["value"] for b in other["breakdown"]] == ["25", "(other)"]
    assert other["breakdown"][1]["cohorts"][1]["values"] == [1, 1, 0, 1, 0, 0, 0]


def test_recurring_breakdown_needs_the_same_value_on_start_and_return(
    cases: dict[str, Engine],
) -> None:
    body = {"timezone": "UTC", "date_from": "2020-06-10", "date_to": "2020-06-12",
            "intervals": 3, "breakdown": {"property": "src"}}  # fmt: skip
    result = run_on(cases, "retention", body, UTC_SETTINGS, "ret_src")
    by_src = {b["value"]: [c["values"] for c in b["cohorts"]] for b in result["breakdown"]}
    # a: web on days 0 and 2 (returned in period 2), app on day 1 only; b: app on days 0, 1
    assert by_src == {"app": [[1, 1, 0], [2, 0, 0], [0, 0, 0]],
                      "web": [[1, 0, 1], [0, 0, 0], [1, 0, 0]]}  # fmt: skip


def test_periods_follow_the_query_time_zone(cases: dict[str, Engine]) -> None:
    # the same events 8 hours earlier in UTC are the same local times in Shanghai
    body = {"date_to": "2020-06-20", "intervals": 11, "timezone": "Asia/Shanghai"}
    result = run_on(cases, "retention", body, UTC_SETTINGS, "ret_shanghai")
    assert [c["values"] for c in result["cohorts"]] == pad(DAY_10)
    assert result["range"] == {
        "from": "2020-06-10T00:00:00",
        "to": "2020-06-20T23:59:59.999999",
        "timezone": "Asia/Shanghai",
    }
    in_utc = run_on(cases, "retention", {**body, "timezone": "UTC"}, UTC_SETTINGS, "ret_shanghai")
    assert [c["values"] for c in in_utc["cohorts"]] != pad(DAY_10)


def test_global_filters_apply_to_start_and_return_events(cases: dict[str, Engine]) -> None:
    body = {"date_to": "2020-06-20T00:00:00", "intervals": 11,
            "filters": [{"key": "some_property", "value": "value"}]}  # fmt: skip
    assert triangle(cases, "basic", **body) == pad(
        [[1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
         [1, 0, 0, 1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0],
         [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0], [0, 0], [0]]
    )  # fmt: skip


def test_average_is_weighted_over_cohorts_that_reached_the_period(
    cases: dict[str, Engine],
) -> None:
    body = {"timezone": "UTC", "date_to": "2020-06-20T06:00:00", "intervals": 11}
    result = run_on(cases, "retention", body, UTC_SETTINGS, "ret_basic")
    avg = result["average"]
    # period 1: cohorts 0..9 reached it: sizes 1+2+2+1+0+1+2 = 9, retained 1+2+1+0+0+1+0 = 5
    assert avg[1] == {"period": 1, "size": 9, "retained": 5, "percent": 55.56}
    assert avg[0]["percent"] == 100.0
    assert avg[10] == {"period": 10, "size": 1, "retained": 0, "percent": 0.0}


# --- the demo data set, against a plain-Python recomputation --------------------------------


def _demo_people(engines: dict[str, Engine]) -> list[tuple[str, date, str]]:
    """(person, local day in Shanghai, event name) of every non-bot page/track event."""
    conn = engines["duckdb"].conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT anonymous_id, user_id, timestamp, type, event, is_bot FROM events "
        "WHERE workspace_id = ?",
        [WORKSPACE],
    ).fetchall()
    # People as the identity graph resolved them (its rules have tests of their own).
    person_of = {
        (kind, value): pid
        for kind, value, pid in conn.execute(
            "SELECT id_type, id_value, person_id FROM identity_nodes WHERE workspace_id = ?",
            [WORKSPACE],
        ).fetchall()
    }
    zone = ZoneInfo("Asia/Shanghai")
    out = []
    for anon, user, ts, kind, event, bot in rows:
        if kind in ("page", "track") and not bot:
            person = person_of.get(("user_id", user)) or person_of[("anonymous_id", anon)]
            name = "$pageview" if kind == "page" else event
            out.append((person, ts.replace(tzinfo=UTC).astimezone(zone).date(), name))
    return out


def _expected(events: list[tuple[str, date, str]], first_time: bool) -> list[list[int]]:
    days = [date(2026, 11, 14) + timedelta(days=i) for i in range(7)]
    starts: dict[str, set[int]] = defaultdict(set)
    returns: dict[str, set[int]] = defaultdict(set)
    first: dict[str, date] = {}
    for person, day, name in events:
        if name == "$pageview":
            first[person] = min(first.get(person, day), day)
            if day in days:
                starts[person].add(days.index(day))
        if name == "Product Viewed" and day in days:
            returns[person].add(days.index(day))
    if first_time:
        starts = defaultdict(set, {p: {days.index(first[p])} for p in starts if first[p] in days})
    grid = [[0] * 7 for _ in days]
    for person, cohorts in starts.items():
        for c in cohorts:
            grid[c][0] += 1
            for k in range(1, 7 - c):
                grid[c][k] += (c + k) in returns[person]
    return grid


@pytest.mark.parametrize("kind", ["recurring", "first_time"])
def test_demo_matches_a_plain_python_recomputation(
    both: RunBoth, engines: dict[str, Engine], kind: str
) -> None:
    body = {"retention_type": kind, "intervals": 7, "return_event": {"event": "Product Viewed"}}
    result = both("retention", body)  # date_to: today (NOW is 2026-11-20 20:00 in Shanghai)
    assert NOW.date() == date(2026, 11, 20)
    assert [c["values"] for c in result["cohorts"]] == _expected(
        _demo_people(engines), first_time=kind == "first_time"
    )
    assert sum(c["size"] for c in result["cohorts"]) > 50


def test_filters_and_breakdowns_change_demo_results(both: RunBoth) -> None:
    base = both("retention", {"intervals": 7})
    chrome = both(
        "retention", {"intervals": 7, "filters": [{"key": "$browser", "value": "Chrome"}]}
    )
    direct = both(
        "retention", {"intervals": 7, "filters": [{"key": "$channel", "value": "Direct"}]}
    )
    sizes = [sum(c["size"] for c in r["cohorts"]) for r in (base, chrome, direct)]
    assert sizes[0] > sizes[1] > 0 and sizes[0] > sizes[2] > 0
    split = both("retention", {"intervals": 7, "breakdown": {"property": "$browser"}})
    by_value = {b["value"]: sum(c["size"] for c in b["cohorts"]) for b in split["breakdown"]}
    assert by_value["Chrome"] == sizes[1]
    assert sum(by_value.values()) >= sizes[0]  # a person may use two browsers
    weekly = both("retention", {"period": "week", "intervals": 4, "cumulative": True})
    for cohort in weekly["cohorts"]:
        assert cohort["values"] == sorted(cohort["values"], reverse=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "fortnight"}, "period"),
        ({"intervals": 0}, "intervals"),
        ({"retention_type": "sometimes"}, "retention_type"),
        ({"minimum_occurrences": 0}, "minimum_occurrences"),
        ({"start_event": {"event": "x", "properties": []}}, "start_event"),
        ({"return_event": {"event": ""}}, "return_event"),
        ({"breakdown": {"property": "$nope"}}, "breakdown"),
        ({"week_start": "friday"}, "week_start"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    engines: dict[str, Engine], body: dict[str, Any], field: str
) -> None:
    from haina.query import ReportContext

    ctx = ReportContext(engines["duckdb"], WORKSPACE, UTC_SETTINGS, NOW)
    with pytest.raises(ValidationError) as err:
        run_report(ctx, "retention", body)
    assert err.value.errors()[0]["loc"][0] == field


def test_a_range_too_long_for_its_period_is_refused(engines: dict[str, Engine]) -> None:
    from haina.query import ReportContext

    ctx = ReportContext(engines["duckdb"], WORKSPACE, UTC_SETTINGS, NOW)
    with pytest.raises(ValueError, match="at most"):
        run_report(ctx, "retention", {"period": "hour", "date_from": "2026-01-01"})
    with pytest.raises(ValueError, match="after"):
        run_report(ctx, "retention", {"date_from": "2026-11-10", "date_to": "2026-11-01"})
