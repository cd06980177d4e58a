"""Retention numbers periods in SQL and in Python: both engines and Python must agree for
any instant, zone, unit and week start (DST days, year ends, before and after 2000)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
from chdb import session as chdb_session
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.query import ChdbEngine, DuckDBEngine
from haina.query.dialect import Params
from haina.query.scope import fixed_offset_us
from haina.reports.retention import _number, trunc

ENGINES = [DuckDBEngine(duckdb.connect()), ChdbEngine(chdb_session.Session())]
ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
    st.sampled_from(ZONES),
    st.sampled_from(["monday", "sunday"]),
)
def test_period_numbers_agree(utc: datetime, tz: str, week_start: str) -> None:
    local = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    units = ("hour", "day", "week", "month")
    expected = [_number(trunc(local, u, week_start), u) for u in units]
    for engine in ENGINES:
        d, params = engine.dialect, Params(engine.dialect)
        ts = params.add(utc)
        local_sql = d.local(ts, params.add(tz))
        select = ", ".join(d.period_number(u, local_sql, week_start) for u in units)
        got = [int(v) for v in engine.rows(f"SELECT {select}", params.values)[0]]
        assert got == expected, (d.name, utc, tz)


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
    st.sampled_from(ZONES),
    st.sampled_from(["monday", "sunday"]),
)
def test_epoch_arithmetic_agrees_where_the_offset_is_fixed(
    utc: datetime, tz: str, week_start: str
) -> None:
    # The offset the zone has at that instant, as Scope.period_number uses it when the
    # offset holds over the whole range read.
    offset = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).utcoffset()
    assert offset is not None
    local = utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    units = ("hour", "day", "week")
    expected = [_number(trunc(local, u, week_start), u) for u in units]
    for engine in ENGINES:
        d, params = engine.dialect, Params(engine.dialect)
        ts, off = params.add(utc), params.add(int(offset.total_seconds() * 1_000_000))
        select = ", ".join(d.period_number_shifted(u, ts, off, week_start) for u in units)
        got = [int(v) for v in engine.rows(f"SELECT {select}", params.values)[0]]
        assert got == expected, (d.name, utc, tz)


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(0, 3 * 365 * 24),
    st.sampled_from(ZONES),
)
def test_a_fixed_offset_is_found_exactly_when_there_is_no_transition(
    start: datetime, hours: int, tz: str
) -> None:
    end = start + timedelta(hours=hours)
    zone = ZoneInfo(tz)
    offsets = {
        (start + timedelta(hours=h)).replace(tzinfo=UTC).astimezone(zone).utcoffset()
        for h in range(0, hours + 1)
    } | {end.replace(tzinfo=UTC).astimezone(zone).utcoffset()}
    found = fixed_offset_us(tz, start, end)
    if len(offsets) == 1:
        (only,) = offsets
        assert only is not None and found == int(only.total_seconds() * 1_000_000)
    else:
        assert found is None
