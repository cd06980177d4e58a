"""Overview: visitors, sessions, pageviews, engagement, bounce and conversions, over time and
against the previous period of the same length."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from haina.query.dialect import Unit
from haina.query.scope import (
    SESSION_CAP_US,
    Range,
    ReportContext,
    ReportQuery,
    Scope,
    freshness,
    local_range,
    resolve_range,
)
from haina.reports.registry import ReportKind

METRICS = (
    "visitors",
    "sessions",
    "pageviews",
    "sessions_with_pageview",
    "engaged_ms",
    "engaged_sessions",
    "single_page_sessions",
    "conversions",
    "converting_sessions",
)


class OverviewQuery(ReportQuery):
    kind: Literal["overview"] = "overview"
    interval: Unit = "day"
    week_start: Literal["monday", "sunday"] = "monday"
    compare: bool = True


def engaged_condition(s: Scope) -> str:
    """SQL condition on a `sessions` row: the session is engaged (GA4's definition)."""
    engaged = s.p(s.ctx.settings.engaged_seconds * 1000)
    return f"(pageviews >= 2 OR conversions >= 1 OR engaged_ms > {engaged})"


def session_measures(s: Scope) -> str:
    """Aggregates over `sessions` rows giving METRICS in order: what `shape` reads (the
    sources report groups the same measures by a dimension)."""
    has_page = "pageviews > 0"
    return (
        "count(DISTINCT person), count(*), sum(sel_pageviews), "
        f"sum(CASE WHEN {has_page} THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {has_page} THEN engaged_ms ELSE 0 END), "
        f"sum(CASE WHEN {has_page} AND {engaged_condition(s)} THEN 1 ELSE 0 END), "
        "sum(CASE WHEN pageviews = 1 THEN 1 ELSE 0 END), "
        "sum(sel_conversions), sum(CASE WHEN sel_conversions > 0 THEN 1 ELSE 0 END)"
    )


def build(ctx: ReportContext, q: OverviewQuery, rng: Range, series: bool) -> Scope:
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    measures = session_measures(s)
    ctes = s.ctes(sessions=True)
    if series:
        period = s.d.trunc_text(q.interval, s.local("start"), q.week_start)
        s.sql = (
            f"{ctes}\nSELECT {period} AS period, {measures} FROM sessions WHERE ok "
            "GROUP BY period ORDER BY period"
        )
    else:
        s.sql = f"{ctes}\nSELECT {measures} FROM sessions WHERE ok"
    return s


def shape(row: tuple[Any, ...] | None) -> dict[str, Any]:
    """Counts as integers, rates and averages computed here (identical on every engine)."""
    raw = {m: int(v or 0) for m, v in zip(METRICS, row or (0,) * len(METRICS), strict=True)}
    sessions, with_page = raw["sessions"], raw["sessions_with_pageview"]
    return {
        "visitors": raw["visitors"],
        "sessions": sessions,
        "pageviews": raw["pageviews"],
        "pages_per_session": ratio(raw["pageviews"], sessions),
        "avg_engagement_seconds": ratio(raw["engaged_ms"], with_page * 1000),
        "engaged_sessions": raw["engaged_sessions"],
        "bounce_rate": ratio(with_page - raw["engaged_sessions"], with_page),
        "single_page_session_rate": ratio(raw["single_page_sessions"], with_page),
        "conversions": raw["conversions"],
        "conversion_rate": ratio(raw["converting_sessions"], sessions),
    }


def ratio(a: int, b: int) -> float | None:
    """a ÷ b to 4 decimal places (every report's rates and averages); None when b is 0."""
    return round(a / b, 4) if b else None


def _totals(ctx: ReportContext, q: OverviewQuery, rng: Range) -> tuple[dict[str, Any], str]:
    s = build(ctx, q, rng, series=False)
    rows = ctx.engine.rows(s.sql, s.params.values)
    return shape(rows[0] if rows else None), s.sql


def previous(rng: Range) -> Range:
    """The period of the same length that ends just before `rng` starts."""
    length = rng.local_to - rng.local_from
    to = rng.local_from - timedelta(microseconds=1)
    return local_range(rng.tz, to - length, to)


def run(ctx: ReportContext, q: OverviewQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    totals, sql_totals = _totals(ctx, q, rng)
    s = build(ctx, q, rng, series=True)
    series = [{"period": r[0], **shape(r[1:])} for r in ctx.engine.rows(s.sql, s.params.values)]
    result: dict[str, Any] = {
        "kind": "overview",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "totals": totals,
        "series": series,
        "freshness": freshness(ctx),
        "sql": [sql_totals, s.sql],
    }
    if q.compare:
        result["previous"], _ = _totals(ctx, q, previous(rng))
    return result


REPORT = ReportKind(
    "overview",
    OverviewQuery,
    run,
    "Visitors, sessions, engagement, bounce, conversions",
    stored_sessions=True,
)
