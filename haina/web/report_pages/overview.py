"""The overview page: KPI cards against the previous period, and the metrics over time.

Query string: the period and filter bar, `interval` (hour, day, week, month) and `metric`
(the KPI drawn in the chart; clicking a card picks it). The dashed line is the previous
period of the same length, period by period.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup

from haina.web.pages import PageContext, register_page
from haina.web.report_charts import lines
from haina.web.report_view import (
    Change,
    Numbers,
    change,
    dated_body,
    one_of,
    render_report,
    run_page_report,
)

INTERVALS = ("hour", "day", "week", "month")
# (metric, how it is shown); the cards, the chart's choices and the table's columns.
KPIS = (
    ("visitors", "count"),
    ("sessions", "count"),
    ("pageviews", "count"),
    ("pages_per_session", "decimal"),
    ("avg_engagement_seconds", "seconds"),
    ("bounce_rate", "percent"),
    ("single_page_session_rate", "percent"),
    ("conversions", "count"),
    ("conversion_rate", "percent"),
)
FORMATS = dict(KPIS)
LOWER_IS_BETTER = frozenset({"bounce_rate", "single_page_session_rate"})
CHART_FORMAT = {"count": "number", "decimal": "number", "seconds": "seconds", "percent": "percent"}


@dataclass(frozen=True, slots=True)
class Card:
    metric: str
    value: str
    raw: float | None
    change: Change | None
    good: bool | None  # is the change good news (bounce going down is)


def period_keys(start: date, end: date, interval: str) -> list[str]:
    """Every period of the range as the report names them ('YYYY-MM-DD HH:MM:SS'), so the
    chart shows empty periods as 0 instead of skipping them (weeks start on Monday)."""
    if interval == "hour":
        first = datetime.combine(start, datetime.min.time())
        hours = ((end - start).days + 1) * 24
        return [(first + timedelta(hours=h)).strftime("%Y-%m-%d %H:00:00") for h in range(hours)]
    if interval == "week":
        day = start - timedelta(days=start.weekday())
    elif interval == "month":
        day = start.replace(day=1)
    else:
        day = start
    keys = []
    while day <= end:
        keys.append(f"{day.isoformat()} 00:00:00")
        if interval == "week":
            day += timedelta(days=7)
        elif interval == "month":
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            day += timedelta(days=1)
    return keys


def period_label(key: str, interval: str) -> str:
    """'2026-11-20 13:00:00' → '2026-11-20 13:00' (hour), '2026-11' (month), '2026-11-20'."""
    return {"hour": key[:16], "month": key[:7]}.get(interval, key[:10])


def series_rows(result: dict[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    """One row per period key, with the report's row where it has one (else empty)."""
    by_period = {row["period"]: row for row in result["series"]}
    all_keys = sorted(set(keys) | set(by_period))
    return [by_period.get(key, {"period": key}) for key in all_keys]


def value_of(row: dict[str, Any], metric: str) -> float | None:
    """A period's value; a period without sessions counts 0 (rates: no value)."""
    if metric in row:
        value: float | None = row[metric]
        return value
    return None if FORMATS[metric] in ("percent", "seconds", "decimal") else 0


def show(num: Numbers, metric: str, value: float | None) -> str:
    formatter = getattr(num, FORMATS[metric])
    text: str = formatter(value)
    return text


def cards(num: Numbers, totals: dict[str, Any], previous: dict[str, Any]) -> list[Card]:
    out = []
    for metric, _ in KPIS:
        moved = change(totals.get(metric), previous.get(metric))
        good = None
        if moved and moved.direction != "flat":
            good = (moved.direction == "up") != (metric in LOWER_IS_BETTER)
        value = totals.get(metric)
        out.append(Card(metric, show(num, metric, value), value, moved, good))
    return out


def previous_dates(ctx: PageContext) -> tuple[date, date]:
    days = (ctx.period.end - ctx.period.start).days + 1
    return ctx.period.start - timedelta(days=days), ctx.period.start - timedelta(days=1)


async def overview(ctx: PageContext) -> Markup:
    params = ctx.request.query_params
    interval = one_of(params, "interval", INTERVALS, "day")
    metric = one_of(params, "metric", tuple(FORMATS), "visitors")
    body = dated_body(ctx, interval=interval, compare=True)
    prev_from, prev_to = previous_dates(ctx)
    prev_body = {**body, "date_from": prev_from.isoformat(), "date_to": prev_to.isoformat()}
    current, before = await asyncio.gather(
        run_page_report(ctx, "overview", body),
        run_page_report(ctx, "overview", {**prev_body, "compare": False}),
    )
    values: dict[str, Any] = {"outcome": current, "interval": interval, "metric": metric}
    result = current.result
    if result is not None:
        num = Numbers(ctx.lang)
        keys = period_keys(ctx.period.start, ctx.period.end, interval)
        rows = series_rows(result, keys)
        previous_rows: list[dict[str, Any]] = []
        if before.result is not None:
            previous_rows = series_rows(before.result, period_keys(prev_from, prev_to, interval))
        values |= {
            "cards": cards(num, result["totals"], result.get("previous") or {}),
            "rows": rows,
            "labels": [period_label(r["period"], interval) for r in rows],
            "option": chart(ctx, rows, previous_rows, metric, interval),
            "kpis": KPIS,
        }
    return render_report(ctx, "reports/overview.html", keep=("interval", "metric"), **values)


def chart(
    ctx: PageContext,
    rows: list[dict[str, Any]],
    previous_rows: list[dict[str, Any]],
    metric: str,
    interval: str,
) -> dict[str, Any]:
    name = ctx.t(f"overview.{metric}")
    series = [(name, [value_of(r, metric) for r in rows], False)]
    if previous_rows:
        before = [value_of(r, metric) for r in previous_rows[: len(rows)]]
        series.append((ctx.t("overview.previous_period", name=name), before, True))
    labels = [period_label(r["period"], interval) for r in rows]
    return lines(labels, series, CHART_FORMAT[FORMATS[metric]])


register_page("overview", "nav.overview", overview)
