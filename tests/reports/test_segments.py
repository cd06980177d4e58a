"""Segments compile to one query that DuckDB and ClickHouse (chdb) answer alike, and that
answer is what a plain-Python reading of the definition gives, person by person (people
resolved through the identity graph)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import engines_for, make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.identity.rules import IdentityRules
from haina.query import Engine
from haina.segments.compile import compile_segment
from haina.segments.definition import SegmentDefinition

NOW = datetime(2026, 11, 20, 12)
CATEGORIES = ["electronics", "books", "food"]
CHANNELS = ["Organic Search", "Paid Search", "Direct", "Organic Social"]
CITIES = ["上海", "北京", "成都"]


def _rows(seed: int = 3) -> list[dict[str, Any]]:
    """Twelve people, some on two devices, identified or not, with browsing and orders over
    sixty days; a bot; a message carrying only context.traits."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for p in range(12):
        devices = [f"d{p}a", f"d{p}b"][: rnd.choice([1, 2])]
        user = f"u{p}" if rnd.random() < 0.6 else None
        for dev in devices:
            t = NOW - timedelta(days=rnd.randrange(60), minutes=rnd.randrange(600))
            if user:
                traits = {"city": rnd.choice(CITIES), "points": rnd.choice([0, 5, 20])}
                if rnd.random() < 0.5:
                    traits["plan"] = rnd.choice(["free", "pro"])
                rows.append({"ts": f"{t:%Y-%m-%d %H:%M:%S}", "type": "identify",
                             "anonymous_id": dev, "user_id": user, "traits": traits})  # fmt: skip
            for _ in range(rnd.randrange(1, 9)):
                t += timedelta(hours=rnd.choice([0.1, 1, 20, 200]))
                ids = {
                    "anonymous_id": dev,
                    **({"user_id": user} if user and rnd.random() < 0.5 else {}),
                }
                kind = rnd.choice(["page", "view", "view", "cart", "order"])
                base = {"ts": f"{t:%Y-%m-%d %H:%M:%S}", **ids}
                if kind == "page":
                    rows.append({**base, "type": "page", "path": rnd.choice(["/", "/sale"]),
                                 "channel": rnd.choice(CHANNELS)})  # fmt: skip
                elif kind == "view":
                    rows.append({**base, "type": "track", "event": "Product Viewed",
                                 "properties": {"category": rnd.choice(CATEGORIES)}})  # fmt: skip
                elif kind == "cart":
                    rows.append({**base, "type": "track", "event": "Added to Cart"})
                else:
                    rows.append({**base, "type": "track", "event": "Order Completed",
                                 "properties": {"revenue": rnd.choice([50, 300])}})  # fmt: skip
    rows.append({"ts": f"{NOW - timedelta(days=1):%Y-%m-%d %H:%M:%S}", "type": "track",
                 "event": "Product Viewed", "anonymous_id": "bot1", "is_bot": True,
                 "properties": {"category": "books"}})  # fmt: skip
    rows.append({"ts": f"{NOW - timedelta(days=3):%Y-%m-%d %H:%M:%S}", "type": "page",
                 "anonymous_id": "undefined", "path": "/", "channel": "Direct"})  # fmt: skip
    rows.append({"ts": f"{NOW - timedelta(days=2):%Y-%m-%d %H:%M:%S}", "type": "track",
                 "event": "Added to Cart", "anonymous_id": "d0a",
                 "context": json.dumps({"traits": {"city": "深圳"}})})  # fmt: skip
    # One person on two devices, linked by an e-mail, each device giving points: "sum" adds.
    for dev, days in (("s1", 5), ("s2", 3)):
        rows.append({"ts": f"{NOW - timedelta(days=days):%Y-%m-%d %H:%M:%S}",
                     "type": "identify", "anonymous_id": dev,
                     "traits": {"points": 15, "email": "sum@example.cn"},
                     "identities": json.dumps([["email", "sum@example.cn"]])})  # fmt: skip
    rows.sort(key=lambda r: r["ts"])
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def engines() -> Any:
    return engines_for(make_events(ROWS))


# --- a plain-Python reading of a definition ---------------------------------------------


def _people(engines: Any) -> tuple[dict[str, list[dict[str, Any]]], dict[str, set[str]]]:
    conn = engines["duckdb"].conn
    nodes = conn.execute(
        "SELECT id_type, id_value, person_id FROM identity_nodes WHERE workspace_id = ?",
        [engines.workspace],
    ).fetchall()
    person_of = {(k, v): p for k, v, p in nodes}
    types: dict[str, set[str]] = {}
    for k, _, p in nodes:
        types.setdefault(p, set()).add(k)
    events: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(ROWS):
        who = person_of.get(("user_id", r.get("user_id"))) or person_of.get(
            ("anonymous_id", r.get("anonymous_id"))
        )
        if who is not None:  # events with only junk identifiers are nobody's
            events.setdefault(who, []).append({**r, "mid": f"m{i:05d}"})
    return events, types


def _name(r: dict[str, Any]) -> str | None:
    return {"page": "$pageview", "screen": "$screen"}.get(r["type"], r.get("event"))


def _in(r: dict[str, Any], window: dict[str, Any] | None) -> bool:
    if not window:
        return True
    ts = datetime.fromisoformat(r["ts"])
    return NOW - timedelta(days=window["last_days"]) <= ts <= NOW


def _hit(r: dict[str, Any], spec: dict[str, Any]) -> bool:
    if _name(r) != spec["event"] or r.get("is_bot"):
        return False
    for f in spec.get("filters", []):
        have = (r.get("properties") or {}).get(f["key"])
        if have != f["value"]:
            return False
    return True


def _trait(evs: list[dict[str, Any]], key: str) -> Any:
    value = None
    for r in sorted(evs, key=lambda r: (r["ts"], r["mid"])):
        own = (r.get("traits") or {}).get(key)
        ctx = json.loads(r["context"]).get("traits", {}).get(key) if r.get("context") else None
        v = own if own is not None else ctx
        if v is not None:
            value = v
    return value


def _holds(c: dict[str, Any], evs: list[dict[str, Any]], types: set[str]) -> bool:
    kind = c.get("kind", "group")
    if kind == "group":
        parts = [_holds(x, evs, types) for x in c["conditions"]]
        if not parts:
            return True  # an empty group is no condition, of either type
        return all(parts) if c.get("type", "AND") == "AND" else any(parts)
    if kind == "not":
        return not _holds(c["condition"], evs, types)
    if kind == "event":
        n = sum(1 for r in evs if _hit(r, c) and _in(r, c.get("window")))
        op, value = c.get("count", {}).get("op", "gte"), c.get("count", {}).get("value", 1)
        return {"gte": n >= value, "lte": n <= value, "eq": n == value}[op]
    if kind == "sequence":
        ordered = sorted(
            (r for r in evs if _in(r, c.get("window"))), key=lambda r: (r["ts"], r["mid"])
        )
        for i, a in enumerate(ordered):
            if _hit(a, c["first"]):
                for b in ordered[i + 1 :]:
                    gap = datetime.fromisoformat(b["ts"]) - datetime.fromisoformat(a["ts"])
                    if _hit(b, c["then"]) and gap <= timedelta(days=c["within_days"]):
                        return True
        return False
    if kind == "trait":
        v = _trait(evs, c["key"])
        if c["op"] == "is_set":
            return v is not None
        if c["op"] == "is_not_set":
            return v is None
        if c["op"] == "gt":
            return v is not None and float(v) > c["value"]
        values = c["value"] if isinstance(c["value"], list) else [c["value"]]
        return (v in values) if c["op"] == "eq" else (v not in values)
    if kind in ("first_touch", "last_touch"):
        pages = sorted(
            (r for r in evs if r["type"] == "page" and r.get("channel")),
            key=lambda r: (r["ts"], r["mid"]),
        )
        if not pages:
            return False
        touch = pages[0] if kind == "first_touch" else pages[-1]
        return touch.get(c["field"]) == c["value"]
    if kind == "identifier":
        return (c["type"] in types) == c.get("present", True)
    raise AssertionError(kind)


def expected(engines: Any, definition: dict[str, Any]) -> set[str]:
    events, types = _people(engines)
    group = {"kind": "group", **definition}
    return {p for p, evs in events.items() if _holds(group, evs, types.get(p, set()))}


def members(engine: Engine, workspace: str, definition: dict[str, Any]) -> set[str]:
    compiled = compile_segment(
        SegmentDefinition.model_validate(definition), engine.dialect, workspace, now=NOW
    )
    rows = engine.rows(compiled.sql, compiled.params)
    count = engine.rows(compiled.count(), compiled.params)[0][0]
    assert count == len(rows)
    return {r[0] for r in rows}


def check(engines: Any, definition: dict[str, Any]) -> set[str]:
    want = expected(engines, definition)
    for name, engine in engines.items():
        got = members(engine, engines.workspace, definition)
        assert got == want, f"{name}: {definition}"
    return want


# --- cases ------------------------------------------------------------------------------

EVENT = {"kind": "event", "event": "Product Viewed",
         "filters": [{"key": "category", "op": "eq", "value": "electronics"}],
         "count": {"op": "gte", "value": 2}, "window": {"last_days": 30}}  # fmt: skip


def test_the_five_kinds_of_condition_mixed(engines: Any) -> None:
    definition = {
        "type": "AND",
        "conditions": [
            {"kind": "trait", "key": "city", "op": "eq", "value": ["上海", "北京", "深圳"]},
            {"kind": "event", "event": "Product Viewed", "window": {"last_days": 60}},
            {"kind": "not", "condition": {"kind": "event", "event": "Order Completed",
                                          "window": {"last_days": 7}}},
            {"kind": "identifier", "type": "user_id"},
            {"kind": "group", "type": "OR", "conditions": [
                {"kind": "first_touch", "field": "channel", "op": "eq", "value": "Direct"},
                {"kind": "sequence", "first": {"event": "Added to Cart"},
                 "then": {"event": "Order Completed"}, "within_days": 7},
            ]},
        ],
    }  # fmt: skip
    got = check(engines, definition)
    assert got  # the data set has such people: the test would catch an empty answer
    # Everyone, and nobody: the universe is everyone with an event.
    everyone = check(engines, {"conditions": []})
    assert "undefined" not in everyone  # a junk id is nobody
    assert check(engines, {"conditions": [{"kind": "not", "condition": {"kind": "group",
                                            "conditions": []}}]}) == set()  # fmt: skip
    assert got < everyone


def test_bots_do_not_count_as_behaviour_and_context_traits_do(engines: Any) -> None:
    books = {"kind": "event", "event": "Product Viewed",
             "filters": [{"key": "category", "op": "eq", "value": "books"}]}  # fmt: skip
    assert all("bot1" not in p for p in check(engines, {"conditions": [books]}))
    shenzhen = check(engines, {"conditions": [{"kind": "trait", "key": "city", "op": "eq",
                                               "value": "深圳"}]})  # fmt: skip
    assert len(shenzhen) == 1  # d0a's latest city came in context.traits


_leaf = st.one_of(
    st.builds(
        lambda ev, cat, op, n, days: {
            "kind": "event",
            "event": ev,
            "filters": [{"key": "category", "op": "eq", "value": cat}] if cat else [],
            "count": {"op": op, "value": n},
            **({"window": {"last_days": days}} if days else {}),
        },
        st.sampled_from(["Product Viewed", "Order Completed", "Added to Cart", "$pageview"]),
        st.sampled_from([None, *CATEGORIES]),
        st.sampled_from(["gte", "lte", "eq"]),
        st.integers(0, 3),
        st.sampled_from([None, 7, 30]),
    ),  # fmt: skip
    st.builds(
        lambda a, b, within: {
            "kind": "sequence",
            "first": {"event": a},
            "then": {"event": b},
            "within_days": within,
        },
        st.sampled_from(["Product Viewed", "Added to Cart"]),
        st.sampled_from(["Added to Cart", "Order Completed"]),
        st.sampled_from([1, 7, 30]),
    ),  # fmt: skip
    st.builds(
        lambda key, op, value: {
            "kind": "trait",
            "key": key,
            "op": op,
            **({} if op.startswith("is_") else {"value": value}),
        },
        st.sampled_from(["city", "plan"]),
        st.sampled_from(["eq", "neq", "is_set", "is_not_set"]),
        st.sampled_from(["上海", "北京", "pro", "free"]),
    ),  # fmt: skip
    st.builds(
        lambda v: {"kind": "trait", "key": "points", "op": "gt", "value": v},
        st.sampled_from([0, 5, 10]),
    ),  # fmt: skip
    st.builds(
        lambda kind, value: {"kind": kind, "field": "channel", "op": "eq", "value": value},
        st.sampled_from(["first_touch", "last_touch"]),
        st.sampled_from(CHANNELS),
    ),
    st.builds(
        lambda t, present: {"kind": "identifier", "type": t, "present": present},
        st.sampled_from(["user_id", "email"]),
        st.booleans(),
    ),
)


def _tree_of(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Conditions nested up to `depth` groups / NOTs deep."""
    if depth == 0:
        return _leaf
    inner = _tree_of(depth - 1)
    return st.one_of(
        _leaf,
        st.builds(lambda c: {"kind": "not", "condition": c}, inner),
        st.builds(
            lambda t, cs: {"kind": "group", "type": t, "conditions": cs},
            st.sampled_from(["AND", "OR"]),
            st.lists(inner, max_size=3),
        ),
    )


_tree = _tree_of(2)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(["AND", "OR"]), st.lists(_tree, min_size=1, max_size=3))
def test_any_definition_agrees_with_a_plain_reading(
    engines: Any, kind: str, conditions: list
) -> None:
    check(engines, {"type": kind, "conditions": conditions})


def test_trait_strategies_as_the_profile_applies_them(engines: Any) -> None:
    rules = IdentityRules.from_json({"trait_strategies": {"points": "sum", "city": "oldest"}})
    events, _ = _people(engines)
    summed, oldest = set(), set()
    for person, evs in events.items():
        latest: dict[str, Any] = {}  # each identifier's latest points
        city = None
        for r in sorted(evs, key=lambda r: (r["ts"], r["mid"])):
            points = (r.get("traits") or {}).get("points")
            if points is not None:
                latest[r.get("user_id") or r.get("anonymous_id")] = points
            city = city or (r.get("traits") or {}).get("city")
        if sum(latest.values()) >= 25:
            summed.add(person)
        if city == "上海":
            oldest.add(person)
    cases = (
        ({"kind": "trait", "key": "points", "op": "gte", "value": 25}, summed),
        ({"kind": "trait", "key": "city", "op": "eq", "value": "上海"}, oldest),
    )
    assert summed and oldest  # the data set has both
    for condition, want in cases:
        for engine in engines.values():
            compiled = compile_segment(
                SegmentDefinition.model_validate({"conditions": [condition]}), engine.dialect,
                engines.workspace, now=NOW, rules=rules,
            )  # fmt: skip
            assert {r[0] for r in engine.rows(compiled.sql, compiled.params)} == want


def test_definitions_are_checked_and_name_the_field() -> None:
    bad = [
        {"conditions": [{"kind": "event"}]},  # no event
        {"conditions": [{"kind": "trait", "key": "x", "op": "gt"}]},  # no value
        {"conditions": [{"kind": "event", "event": "x", "count": {"op": "gte", "value": -1}}]},
        {"conditions": [{"kind": "identifier", "type": "Bad Type"}]},
        {"conditions": [{"kind": "shoe_size"}]},
        {"conditions": [{"kind": "event", "event": "x", "window": {"last_days": 7,
                                                                   "from": "2026-01-01"}}]},
    ]  # fmt: skip
    for definition in bad:
        with pytest.raises(ValueError):
            SegmentDefinition.model_validate(definition)
