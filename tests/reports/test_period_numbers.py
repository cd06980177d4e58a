"""Retention numbers periods in SQL and in Python: both engines and Python must agree for
any instant, zone, unit and week start (DST days, year ends, before and after 2000)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
from chdb import session as chdb_session
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.query import ChdbEngine, DuckDBEngine
from haina.query.dialect import Params
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
