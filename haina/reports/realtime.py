"""Realtime: who is on the site right now. Visitors and pageviews in the last N minutes (by the
report clock), pageviews per minute, and the top pages and sources of that moment; the
dashboard polls it every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from haina.query.entity import filtered_events
from haina.query.scope import (
    SESSION_CAP_US,
    Range,
    ReportContext,
    ReportQuery,
    Scope,
    freshness,
)
from haina.reports.registry import ReportKind

MINUTE_US = 60_000_000
PAGE = "event_name IN ('$pageview', '$screen')"


class RealtimeQuery(ReportQuery):
    kind: Literal["realtime"] = "realtime"
    minutes: int = Field(30, ge=1, le=60, description="the window: the last N minutes")
    limit: int = Field(10, ge=1, le=100, description="top pages and sources shown")

    @model_validator(mode="after")
    def _no_dates(self) -> RealtimeQuery:
        if self.date_from is not None or self.date_to is not None:
            raise ValueError("realtime takes no date range; set `minutes` (1-60)")
        return self


def window(ctx: ReportContext, q: RealtimeQuery) -> Range:
    """(now - minutes, now]: the first microsecond after the window's start is its lower bound,
    so minute buckets split it into exactly `minutes` parts."""
    tz = q.timezone or ctx.settings.timezone
    to = ctx.utc_now()
    start = to - timedelta(minutes=q.minutes) + timedelta(microseconds=1)

    def local(utc: datetime) -> datetime:
        return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)

    return Range(tz, local(start), local(to), start, to)


def build(ctx: ReportContext, q: RealtimeQuery, rng: Range) -> tuple[Scope, list[str]]:
    """Three queries: per-minute and total visitors and pageviews, top pages, top sources."""
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US)
    base = filtered_events(s)  # sessions only where needed: the window functions cost
    start_us = s.p(int((rng.utc_from - datetime(1970, 1, 1)).total_seconds() * 1_000_000))
    minute = f"CAST(floor(({s.d.epoch_us('ts')} - {start_us}) / {MINUTE_US}) AS BIGINT)"
    views = f"sum(CASE WHEN {PAGE} THEN 1 ELSE 0 END)"
    minutes = (
        f"{base}\nSELECT i, visitors, pageviews FROM (SELECT CAST(-1 AS BIGINT) AS i, "
        f"count(DISTINCT person) AS visitors, {views} AS pageviews FROM fe WHERE in_range "
        f"UNION ALL SELECT {minute} AS i, count(DISTINCT person) AS visitors, {views} AS "
        f"pageviews FROM fe WHERE in_range GROUP BY i) m ORDER BY i"
    )
    top = s.p(q.limit)
    sources = _sources_sql(filtered_events(s, sessions=True), top)
    return s, [minutes, _pages_sql(base, top), sources]


def _pages_sql(base: str, top: str) -> str:
    """Paths of pageviews in the window, by visitors, then views, then path."""
    return (
        f"{base},\npg AS (SELECT coalesce(path, '') AS page, count(*) AS views, "
        "count(DISTINCT person) AS visitors FROM fe WHERE in_range AND event_name = '$pageview' "
        "GROUP BY page)\nSELECT page, views, visitors FROM (SELECT pg.*, row_number() OVER "
        f"(ORDER BY visitors DESC, views DESC, page) AS r FROM pg) t WHERE r <= {top} ORDER BY r"
    )


def _sources_sql(base: str, top: str) -> str:
    """Entry channel and referrer host of the sessions active in the window (begun in it or
    before it)."""
    return (
        f"{base},\nact AS (SELECT DISTINCT person AS a_person, sid AS a_sid FROM fe "
        "WHERE in_range),\n"
        "src AS (SELECT s_channel AS channel, s_referrer_host AS host, "
        "count(DISTINCT person) AS visitors, count(*) AS n FROM sessions "
        "JOIN act ON sessions.person = act.a_person AND sessions.sid = act.a_sid "
        "GROUP BY s_channel, s_referrer_host)\n"
        "SELECT channel, host, visitors, n FROM (SELECT src.*, row_number() OVER "
        "(ORDER BY visitors DESC, n DESC, channel, host) AS r FROM src) t "
        f"WHERE r <= {top} ORDER BY r"
    )


def shape(q: RealtimeQuery, rows: list[list[tuple[Any, ...]]]) -> dict[str, Any]:
    minutes, pages, sources = rows
    per_minute = {int(i): (int(v), int(p or 0)) for i, v, p in minutes}
    visitors, pageviews = per_minute.pop(-1, (0, 0))
    return {
        "visitors": visitors,
        "pageviews": pageviews,
        "per_minute": [
            {
                "minutes_ago": q.minutes - i,
                "visitors": per_minute.get(i, (0, 0))[0],
                "pageviews": per_minute.get(i, (0, 0))[1],
            }
            for i in range(q.minutes)
        ],
        "pages": [{"path": path, "pageviews": int(n), "visitors": int(v)} for path, n, v in pages],
        "sources": [
            {"channel": channel, "referrer_host": host, "visitors": int(v), "sessions": int(n)}
            for channel, host, v, n in sources
        ],
    }


def run(ctx: ReportContext, q: RealtimeQuery) -> dict[str, Any]:
    rng = window(ctx, q)
    s, sql = build(ctx, q, rng)
    rows = [ctx.engine.rows(text, s.params.values) for text in sql]
    return {
        "kind": "realtime",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "minutes": q.minutes,
        **shape(q, rows),
        "freshness": freshness(ctx),
        "sql": sql,
    }


REPORT = ReportKind(
    "realtime", RealtimeQuery, run, "Visitors, pageviews, top pages and sources right now"
)
