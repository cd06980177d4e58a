"""Anything a user puts in a filter reaches the engines as a parameter, never as SQL text."""

from __future__ import annotations

from typing import Any

import pytest
from chdb import session as chdb_session
from conftest import NOW, load_duckdb, make_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from haina.query import ChdbEngine, DuckDBEngine, ReportContext, ReportSettings
from haina.query.dialect import Params
from haina.query.filters import COLUMN_KEYS, re2_pattern
from haina.reports.registry import run_report

ROWS = [
    {"ts": "2026-11-10 10:00:00", "type": "page", "anonymous_id": "a", "path": "/",
     "properties": {"plan": "pro", "n": 12, "flag": True}},
    {"ts": "2026-11-10 10:01:00", "type": "track", "event": "Signed Up", "anonymous_id": "a",
     "properties": {"plan": "o'reilly", "n": "7"}},
]  # fmt: skip
TABLE = make_events(ROWS, "ws_fuzz")
ENGINE = DuckDBEngine(load_duckdb(TABLE))
CHDB = ChdbEngine(chdb_session.Session())
OPS = ["eq", "neq", "icontains", "not_icontains", "regex", "gt", "gte", "lt", "lte", "is_set",
       "is_not_set"]  # fmt: skip
scalars = st.one_of(
    st.text(min_size=1, max_size=30),
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6),
    st.booleans(),
)
keys = st.one_of(
    st.sampled_from(sorted(COLUMN_KEYS)),
    st.text(min_size=1, max_size=40),
    st.text(max_size=10).map(lambda t: t + "') --"),
)
filters = st.fixed_dictionaries(
    {
        "key": keys,
        "op": st.sampled_from(OPS),
        "value": st.one_of(scalars, st.lists(scalars, max_size=3)),
    },
    optional={"source": st.sampled_from(["event", "person"])},
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(filters, max_size=3), st.sampled_from(["overview", "funnel", "events"]))
def test_filters_are_parameters_and_never_break_a_query(
    fs: list[dict[str, Any]], kind: str
) -> None:
    body: dict[str, Any] = {"date_from": "2026-11-01", "date_to": "2026-11-30", "filters": fs}
    if kind == "funnel":
        body["steps"] = [{"event": "$pageview", "filters": fs}, {"event": "Signed Up"}]
    ctx = ReportContext(ENGINE, "ws_fuzz", ReportSettings(timezone="UTC"), NOW)
    try:
        result = run_report(ctx, kind, body)
    except ValidationError:
        return  # refused with a field named: fine
    sql = "\n".join(result["sql"])
    for f in fs:
        if isinstance(f["key"], str) and "'" in f["key"]:
            assert f["key"] not in sql, "a user key was pasted into the SQL text"
    # Values are parameters: other string values of the same lengths give the same SQL text.
    plain = run_report(ctx, kind, _replace_strings(body, fs))
    assert plain["sql"] == result["sql"], "a user value changed the SQL text"


def _replace_strings(body: dict[str, Any], fs: list[dict[str, Any]]) -> dict[str, Any]:
    def swap(v: Any) -> Any:
        return "v" * len(v) if isinstance(v, str) else v

    swapped = [
        {**f, "value": [swap(v) for v in f["value"]] if isinstance(f["value"], list) else
         swap(f["value"])}
        for f in fs
    ]  # fmt: skip
    out = {**body, "filters": swapped}
    if "steps" in body:
        out["steps"] = [{"event": "$pageview", "filters": swapped}, {"event": "Signed Up"}]
    return out


def test_an_injection_attempt_is_just_a_value() -> None:
    ctx = ReportContext(ENGINE, "ws_fuzz", ReportSettings(timezone="UTC"), NOW)
    evil = "x' OR 1=1; DROP TABLE events; --"
    body = {"date_from": "2026-11-01", "date_to": "2026-11-30",
            "filters": [{"key": "plan", "op": "eq", "value": evil}]}  # fmt: skip
    result = run_report(ctx, "overview", body)
    assert result["totals"]["sessions"] == 0 and evil not in "".join(result["sql"])
    quoted = {**body, "filters": [{"key": "plan", "op": "eq", "value": "o'reilly"}]}
    assert run_report(ctx, "overview", quoted)["totals"]["sessions"] == 1


@pytest.mark.parametrize("pattern", ["(", "(?=x)", "a++", "a{1001}", r"\Z", r"(a)\1"])
def test_a_regex_the_engines_cannot_run_is_refused_with_the_field_named(pattern: str) -> None:
    """Python's `re` accepts some of these; RE2 (both engines) does not: 422, never a 500."""
    ctx = ReportContext(ENGINE, "ws_fuzz", ReportSettings(timezone="UTC"), NOW)
    bodies = {
        "pages": {"group_by": "pattern", "patterns": [{"name": "P", "regex": pattern}]},
        "pagespeed": {"page": {"regex": pattern}},
        "overview": {"filters": [{"key": "$path", "op": "regex", "value": pattern}]},
    }
    for kind, body in bodies.items():
        with pytest.raises(ValidationError, match="RE2"):
            run_report(ctx, kind, body)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab()[]{}*+?|\\^$.-1,=!:pPHan<>", max_size=12))
def test_a_regex_accepted_runs_on_both_engines(pattern: str) -> None:
    try:
        re2_pattern(pattern)
    except ValueError:
        return
    for engine in (ENGINE, CHDB):
        params = Params(engine.dialect)
        sql = f"SELECT {engine.dialect.regex(params.add('ab'), params.add(pattern))}"
        engine.rows(sql, params.values)  # raises if the engine cannot compile it


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_any_text_reaches_both_engines_unchanged(value: str) -> None:
    """Parameters are data: backslashes, quotes, tabs, newlines and any Unicode arrive as
    they were sent, alone and in a list (ClickHouse parses parameter text escaped)."""
    for engine in (ENGINE, CHDB):
        params = Params(engine.dialect)
        one, many = params.add(value), params.add([value, "x"])
        got = engine.rows(f"SELECT {one}, {many}", params.values)[0]
        assert (got[0], list(got[1])) == (value, [value, "x"]), engine.dialect.name
