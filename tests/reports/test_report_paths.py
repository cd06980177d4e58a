"""Paths: a hand-made workspace whose paths are worked out by hand, the demo data recomputed in
plain Python (sessions and PostHog's path rules, on lists), filters, limits and validation;
every run on DuckDB and chdb through the `both` fixture."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from haina.identity.rules import IdentityRules
from haina.identity.store import rebuild_on
from haina.query import Engine, ReportSettings
from haina.reports.paths import PathsQuery
from haina.store.events.clickhouse import insert_arrow
from haina.store.events.schema import EVENT_ARROW_SCHEMA

HAND = "ws_rq_paths"
DEMO = "ws_demo"  # the demo workspace of conftest.py
RunBoth = Callable[..., dict[str, Any]]
HAND_SETTINGS = ReportSettings(timezone="UTC")
DAY = datetime(2026, 11, 10)
BODY = {"date_from": "2026-11-10", "date_to": "2026-11-10"}
BODY_DEMO = {"date_from": "2026-10-01", "date_to": "2026-11-20"}  # all of the demo data
PRODUCT = {"regex": "^/products?/[^/]+$", "alias": "/products/:id"}


def _event(aid: str, minute: int, name: str, browser: str = "Chrome") -> dict[str, Any]:
    """A page call when `name` starts with '/', else a track call of that name."""
    ts = DAY + timedelta(minutes=minute)
    page = name.startswith("/")
    return {
        "workspace_id": HAND, "source_id": "src", "message_id": f"{aid}-{minute}-{name}",
        "type": "page" if page else "track", "event": None if page else name,
        "path": name if page else None, "anonymous_id": aid, "timestamp": ts,
        "received_at": ts, "is_bot": False, "browser": browser, "channel": "Direct",
        "properties": json.dumps({"pageview_id": f"{aid}-{minute}"} if page else {}),
    }  # fmt: skip


def hand_rows() -> list[dict[str, Any]]:
    """a: / → /products/1 → /products/2 → (Added) → /pricing → /signup, then after an hour a
    second session /pricing → /signup; b: / → /help → / → /pricing (reloaded 1 min later) →
    /signup; c (Firefox): / → /products/7; d: /blog only."""
    a = [(0, "/"), (1, "/products/1"), (3, "/products/2"), (4, "Added"), (4, "$engagement"),
         (5, "/pricing"), (7, "/signup"), (67, "/pricing"), (68, "/signup")]  # fmt: skip
    b = [(10, "/"), (12, "/help"), (13, "/"), (15, "/pricing"), (16, "/pricing"), (20, "/signup")]
    rows = [_event(aid, m, n) for aid, events in (("a", a), ("b", b)) for m, n in events]
    rows += [_event("c", 30, "/", "Firefox"), _event("c", 31, "/products/7", "Firefox")]
    return [*rows, _event("d", 40, "/blog")]


@pytest.fixture(scope="module")
def hand(engines: dict[str, Engine]) -> RunBoth:
    """Runs a body on the hand-made events (added to both engines under their own workspace)."""
    table = pa.Table.from_pylist(hand_rows(), schema=EVENT_ARROW_SCHEMA)
    con = engines["duckdb"].conn  # type: ignore[attr-defined]
    con.register("rq_paths_in", table)
    con.execute("INSERT INTO events SELECT * FROM rq_paths_in")
    con.unregister("rq_paths_in")
    insert_arrow(engines["chdb"].session, table)  # type: ignore[attr-defined]
    for engine in engines.values():  # people as the identity graph resolves them
        rebuild_on(engine, HAND, IdentityRules())

    def run(both: RunBoth, **body: Any) -> dict[str, Any]:
        return both("paths", {**BODY, **body}, settings=HAND_SETTINGS, workspace=HAND)

    return run


def links(result: dict[str, Any]) -> dict[tuple[str, str], tuple[int, float]]:
    return {(x["source"], x["target"]): (x["value"], x["avg_seconds"]) for x in result["links"]}


def steps(result: dict[str, Any]) -> list[tuple[int, int]]:
    return [(x["sessions"], x["dropoff"]) for x in result["steps"]]


def test_pages_by_hand(both: RunBoth, hand: RunBoth) -> None:
    r = hand(both)
    assert links(r) == {
        ("1_/", "2_/products/1"): (1, 60.0), ("1_/", "2_/help"): (1, 120.0),
        ("1_/", "2_/products/7"): (1, 60.0), ("1_/pricing", "2_/signup"): (1, 60.0),
        ("2_/products/1", "3_/products/2"): (1, 120.0), ("2_/help", "3_/"): (1, 60.0),
        ("3_/products/2", "4_/pricing"): (1, 120.0),
        ("3_/", "4_/pricing"): (1, 180.0),  # the reload's time counts: the run's last view
        ("4_/pricing", "5_/signup"): (2, 180.0),
    }  # fmt: skip
    assert r["links"][0] == {"source": "4_/pricing", "target": "5_/signup", "value": 2,
                             "avg_seconds": 180.0}  # fmt: skip
    assert r["sessions"] == 5
    assert steps(r) == [(5, 1), (4, 2), (2, 0), (2, 0), (2, 2)]
    home = next(n for n in r["nodes"] if n["name"] == "1_/")
    assert home == {"name": "1_/", "item": "/", "step": 1, "sessions": 3, "visitors": 3}
    assert [p["path"] for p in r["top_paths"]] == [
        ["/", "/help", "/", "/pricing", "/signup"],
        ["/", "/products/1", "/products/2", "/pricing", "/signup"],
        ["/", "/products/7"], ["/blog"], ["/pricing", "/signup"],
    ]  # fmt: skip
    assert r["kind"] == "paths" and len(r["sql"]) == 1


def test_last_step_counts_only_visits_that_ended(both: RunBoth, hand: RunBoth) -> None:
    """At the last step shown, a session that went on is no drop-off."""
    assert steps(hand(both, steps=4)) == [(5, 1), (4, 2), (2, 0), (2, 0)]


def test_cleaning_collapses_pages(both: RunBoth, hand: RunBoth) -> None:
    r = hand(both, path_regex_cleaning=[PRODUCT])
    got = links(r)
    assert got[("1_/", "2_/products/:id")] == (2, 120.0)  # a: 0 → 3 min (kept last), c: 1 min
    assert got[("2_/products/:id", "3_/pricing")] == (1, 120.0)
    assert "2_/products/1" not in {n["name"] for n in r["nodes"]}


def test_start_point(both: RunBoth, hand: RunBoth) -> None:
    r = hand(both, start_point="/pricing")
    assert links(r) == {("1_/pricing", "2_/signup"): (3, 140.0)}
    assert steps(r)[:3] == [(3, 0), (3, 3), (0, 0)]


def test_end_point_keeps_the_steps_that_led_to_it(both: RunBoth, hand: RunBoth) -> None:
    r = hand(both, end_point="/signup", steps=3)
    assert [p["path"] for p in r["top_paths"]] == [
        ["/", "/pricing", "/signup"], ["/pricing", "/signup"],
        ["/products/2", "/pricing", "/signup"],
    ]  # fmt: skip
    assert links(r)[("2_/pricing", "3_/signup")] == (2, 180.0)


def test_start_and_end_point_ellipsis(both: RunBoth, hand: RunBoth) -> None:
    """Longer than N: head, "...", tail; "..." carries the time of the first hidden item."""
    r = hand(both, start_point="/", end_point="/signup", steps=3)
    assert links(r) == {("1_/", "2_..."): (2, 90.0), ("2_...", "3_/signup"): (2, 420.0)}
    r = hand(both, start_point="/", end_point="/signup", steps=4)
    assert [p["path"] for p in r["top_paths"]] == [
        ["/", "/help", "...", "/signup"], ["/", "/products/1", "...", "/signup"],
    ]  # fmt: skip
    r = hand(both, start_point="/", end_point="/products/7", steps=3)
    assert [p["path"] for p in r["top_paths"]] == [["/", "/products/7"]]


def test_events_and_pages(both: RunBoth, hand: RunBoth) -> None:
    events = hand(both, path_type="event")
    a = ["$pageview", "Added", "$pageview"]  # runs collapsed; $engagement is no step
    assert a in [p["path"] for p in events["top_paths"]]
    assert links(events)[("1_$pageview", "2_Added")] == (1, 60.0)
    mixed = hand(both, path_type="page_and_event", start_point="/products/2")
    assert mixed["top_paths"] == [
        {"path": ["/products/2", "Added", "/pricing", "/signup"], "sessions": 1}
    ]


def test_exclude_before_collapsing(both: RunBoth, hand: RunBoth) -> None:
    """Without /help, b's / → / collapses; its time runs from the second /."""
    r = hand(both, exclude=["/help"], start_point="/", steps=2)
    assert links(r)[("1_/", "2_/pricing")] == (1, 180.0)
    assert "2_/help" not in {n["name"] for n in r["nodes"]}


def test_filters_change_the_result(both: RunBoth, hand: RunBoth) -> None:
    firefox = {"key": "$browser", "op": "eq", "value": "Firefox"}
    r = hand(both, filters=[firefox])
    assert links(r) == {("1_/", "2_/products/7"): (1, 60.0)} and r["sessions"] == 1


def test_edge_limit_and_weight_drop_unreachable_links(both: RunBoth, hand: RunBoth) -> None:
    """Links whose source no kept link reaches from step 1 go, as in PostHog."""
    r = hand(both, edge_limit=3)
    assert list(links(r)) == [("1_/", "2_/help"), ("1_/", "2_/products/1")]
    assert {n["name"] for n in r["nodes"]} == {"1_/", "2_/help", "2_/products/1"}
    assert hand(both, edge_limit=1)["links"] == []
    r = hand(both, min_edge_weight=2, path_regex_cleaning=[PRODUCT])
    assert links(r) == {("1_/", "2_/products/:id"): (2, 120.0)}
    assert len(hand(both, path_limit=2)["top_paths"]) == 2


def test_values_stay_out_of_the_sql(both: RunBoth, hand: RunBoth) -> None:
    odd = "/it's'; DROP TABLE events; --"
    r = hand(
        both, start_point=odd, exclude=[odd], path_regex_cleaning=[{"regex": "'", "alias": odd}]
    )
    assert r["sessions"] == 0 and all(odd not in sql for sql in r["sql"])


def test_empty_range(both: RunBoth, hand: RunBoth) -> None:
    r = hand(both, date_from="2026-11-11", date_to="2026-11-12")
    assert r["sessions"] == 0 and r["links"] == [] and r["nodes"] == []
    assert steps(r) == [(0, 0)] * 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"steps": 1}, "steps"),
        ({"steps": 11}, "steps"),
        ({"start_point": "/", "end_point": "/x", "steps": 2}, "steps"),
        ({"path_type": "screen"}, "path_type"),
        ({"path_regex_cleaning": [{"regex": "(?=a)", "alias": "x"}]}, "path_regex_cleaning"),
        ({"path_regex_cleaning": [{"regex": "("}]}, "path_regex_cleaning"),
        ({"edge_limit": 0}, "edge_limit"),
        ({"min_edge_weight": 0}, "min_edge_weight"),
        ({"start_point": ""}, "start_point"),
        ({"exclude": "/a"}, "exclude"),
        ({"paths": 3}, "paths"),
    ],
)
def test_bad_bodies(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        PathsQuery.model_validate(body)


# The demo data, recomputed in plain Python: sessions, then PostHog's rules on lists.


def python_sessions(con: Any) -> list[tuple[str, list[tuple[datetime, str, str]]]]:
    """(person, [(ts, event name, path)]) per session: 30-minute gaps, 24-hour cap."""
    rows = con.execute(
        "SELECT anonymous_id, user_id, type, event, path, timestamp, message_id, is_bot "
        "FROM events WHERE workspace_id = ? ORDER BY timestamp, message_id",
        [DEMO],
    ).fetchall()
    first_uid: dict[str, str] = {}
    for aid, uid, *_ in sorted(rows, key=lambda r: (r[5], r[1] or "")):
        if aid and uid:
            first_uid.setdefault(aid, uid)
    by_person: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for aid, uid, kind, event, path, ts, _, bot in rows:
        if kind in ("page", "screen", "track") and not bot:
            name = {"page": "$pageview", "screen": "$screen"}.get(kind, event)
            by_person[uid or first_uid.get(aid) or aid].append((ts, name, path or ""))
    out: dict[tuple[str, int, int], list[tuple[datetime, str, str]]] = defaultdict(list)
    for person, events in by_person.items():
        run, start = 0, events[0][0]
        for i, e in enumerate(events):
            if i and e[0] - events[i - 1][0] > timedelta(minutes=30):
                run, start = run + 1, e[0]
            out[(person, run, (e[0] - start) // timedelta(hours=24))].append(e)
    return [(key[0], events) for key, events in out.items()]


Item = tuple[datetime, str]


def python_path(items: list[Item], q: PathsQuery) -> tuple[list[Item], bool]:
    """PostHog's arrays: collapse runs to their last element, then cut at the points; also
    whether the session had items after the path shown."""
    compact = [x for i, x in enumerate(items) if i + 1 == len(items) or items[i + 1][1] != x[1]]
    names = [x[1] for x in compact]
    if q.start_point:
        if q.start_point not in names:
            return [], False
        compact = compact[names.index(q.start_point) :]
        names = names[names.index(q.start_point) :]
    if not q.end_point:
        return compact[: q.steps], len(compact) > q.steps
    if q.end_point not in names:
        return [], False
    more = len(compact) > names.index(q.end_point) + 1
    compact = compact[: names.index(q.end_point) + 1]
    if not q.start_point:
        return compact[-q.steps :], more
    if len(compact) > q.steps:
        tail = (q.steps - 1) // 2
        head = q.steps - 1 - tail
        compact = [*compact[:head], (compact[head][0], "..."), *compact[len(compact) - tail :]]
    return compact, more


def python_items(events: list[tuple[datetime, str, str]], q: PathsQuery) -> list[Item]:
    items = []
    for ts, name, path in events:
        if name == "$engagement" or (q.path_type == "page" and name != "$pageview"):
            continue
        item = path if name == "$pageview" and q.path_type != "event" else name
        for rule in q.path_regex_cleaning:
            item = re.sub(rule.regex, rule.alias, item)
        if item not in q.exclude:
            items.append((ts, item))
    return items


def python_report(con: Any, body: dict[str, Any]) -> dict[str, Any]:
    q = PathsQuery.model_validate(body)
    link_us: dict[tuple[str, str], list[int]] = defaultdict(list)
    people: dict[str, set[str]] = defaultdict(set)
    nodes: dict[str, int] = defaultdict(int)
    steps = [[0, 0] for _ in range(q.steps)]
    paths: dict[tuple[str, ...], int] = defaultdict(int)
    for person, events in python_sessions(con):
        path, more = python_path(python_items(events, q), q)
        for k, (ts, item) in enumerate(path, 1):
            nodes[f"{k}_{item}"] += 1
            people[f"{k}_{item}"].add(person)
            steps[k - 1][0] += 1
            if k > 1:
                gap = (ts - path[k - 2][0]) // timedelta(microseconds=1)
                link_us[(f"{k - 1}_{path[k - 2][1]}", f"{k}_{item}")].append(gap)
        if path:
            steps[len(path) - 1][1] += 0 if more else 1
            paths[tuple(item for _, item in path)] += 1
    top = sorted(paths.items(), key=lambda p: (-p[1], [(0, i) for i in p[0]] + [(1, "")]))
    return {
        "links": {k: (len(v), round(sum(v) / len(v) / 1e6, 3)) for k, v in link_us.items()},
        "nodes": {k: (n, len(people[k])) for k, n in nodes.items()},
        "steps": [tuple(x) for x in steps],
        "top_paths": [{"path": list(p), "sessions": n} for p, n in top[: q.path_limit]],
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"path_regex_cleaning": [PRODUCT]},
        {"path_type": "event", "start_point": "Product Viewed", "steps": 4},
        {"path_type": "page_and_event", "end_point": "/checkout", "exclude": ["Product Viewed"]},
        {"start_point": "/", "end_point": "/checkout", "steps": 4},
    ],
)
def test_demo_matches_python(
    both: RunBoth, engines: dict[str, Engine], extra: dict[str, Any]
) -> None:
    body = {**BODY_DEMO, "edge_limit": 1000, **extra}
    got = both("paths", body)
    want = python_report(engines["duckdb"].conn, body)  # type: ignore[attr-defined]
    assert 0 < len(got["links"]) < 1000
    assert links(got) == want["links"]
    assert {n["name"]: (n["sessions"], n["visitors"]) for n in got["nodes"]} == {
        k: v for k, v in want["nodes"].items() if any(k in link for link in want["links"])
    }
    assert steps(got) == want["steps"]
    assert got["top_paths"] == want["top_paths"]


def test_the_people_behind_a_node_are_its_visitors(both: RunBoth, hand: RunBoth, engines) -> None:
    from haina.query import ReportContext
    from haina.query.stored import refresh
    from haina.reports.paths import PathsPeopleQuery, people

    result = hand(both)
    node = next(n for n in result["nodes"] if n["name"] == "1_/")
    body = {**BODY, "step": 1, "item": "/"}
    found = []
    for engine in engines.values():
        refresh(engine, HAND, HAND_SETTINGS)
        for stored in (False, True):
            ctx = ReportContext(engine, HAND, HAND_SETTINGS, stored=stored)
            found.append(people(ctx, PathsPeopleQuery.model_validate(body)))
    first = found[0]
    assert first["total"] == node["visitors"] == 3  # a, b and c start at /
    assert sorted(p["identifier"]["value"] for p in first["people"]) == ["a", "b", "c"]
    assert all(p["person"].startswith("p_") for p in first["people"])  # profiles' ids
    for other in found[1:]:
        assert {k: v for k, v in other.items() if k != "sql"} == {
            k: v for k, v in first.items() if k != "sql"
        }
