"""The events page (埋点): for chosen events (by default the most frequent track events), the
trend over time, counts, unique people and per-person frequency, and a breakdown by any
property as bars.

Numbers come from the `events` report (docs/reports/events.md), run with the page's period
and filter bar exactly as `POST /api/v1/reports/events` runs a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from haina.web.i18n import Translator
from haina.web.pages import PageContext, PageResult, Period, register_page
from haina.web.report_pages import event_names
from haina.web.report_pages.page_params import bar_keeping, period_and_filters
from haina.web.report_view import dated_body, render_report, run_page_report

INTERVALS = ("hour", "day", "week", "month")
DEFAULT_EVENTS = 5
MAX_EVENTS = 30
BREAKDOWN_LIMIT = 10
BREAKDOWN_SUGGESTIONS = (
    "$device_type", "$browser", "$os", "$country", "$city", "$path", "$channel", "$source",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EventsForm:
    events: tuple[str, ...]
    breakdown: str = ""
    interval: str = "day"

    @classmethod
    def from_query(cls, params: QueryParams, default: list[str]) -> EventsForm:
        chosen = [e.strip() for e in params.getlist("event") if e.strip()]
        interval = params.get("interval", "")
        return cls(
            events=tuple(dict.fromkeys(chosen or default[:DEFAULT_EVENTS]))[:MAX_EVENTS],
            breakdown=params.get("breakdown", "").strip(),
            interval=interval if interval in INTERVALS else "day",
        )

    def items(self) -> list[tuple[str, str]]:
        pairs = [("event", e) for e in self.events] + [("interval", self.interval)]
        return pairs + ([("breakdown", self.breakdown)] if self.breakdown else [])

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "events": [{"event": e} for e in self.events],
            "interval": self.interval,
        }
        if self.breakdown:
            body["breakdown"] = {"property": self.breakdown}
            body["limit"] = BREAKDOWN_LIMIT
        return body


def periods(period: Period, interval: str) -> list[str]:
    """Every period start of the page's dates (`YYYY-MM-DD HH:MM:SS`, as the report labels
    them), so days without events show as 0 instead of vanishing from the trend."""
    day = period.start
    if interval == "week":
        day -= timedelta(days=day.weekday())  # the report's weeks start on Monday
    elif interval == "month":
        day = day.replace(day=1)
    out: list[str] = []
    while day <= period.end:
        if interval == "hour":
            out += [f"{day.isoformat()} {h:02d}:00:00" for h in range(24)]
        else:
            out.append(f"{day.isoformat()} 00:00:00")
        day = _next(day, interval)
    return out


def _next(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(days=7)
    if interval == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def period_label(start: str, interval: str) -> str:
    return start[:16] if interval == "hour" else start[:7] if interval == "month" else start[:10]


def trend(result: dict[str, Any], period: Period, interval: str) -> tuple[list[str], list[Any]]:
    """The x axis (every period, plus any the report has beyond the page's dates) and, per
    event, its count in each period (0 where the report lists none)."""
    seen = {p["period"] for e in result["events"] for p in e["series"]}
    xs = sorted(set(periods(period, interval)) | seen)
    rows = []
    for e in result["events"]:
        counts = {p["period"]: p["count"] for p in e["series"]}
        rows.append([counts.get(x, 0) for x in xs])
    return xs, rows


def trend_option(
    names: list[str], xs: list[str], rows: list[list[int]], interval: str
) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll", "top": 0},
        "grid": {"left": 8, "right": 40, "top": 40, "bottom": 8, "containLabel": True},
        "xAxis": {
            "type": "category",
            "boundaryGap": False,
            "axisLabel": {"hideOverlap": True},
            "data": [period_label(x, interval) for x in xs],
        },
        "yAxis": {"type": "value", "minInterval": 1, "axisLabel": {"formatter": "haina:number"}},
        "series": [
            {"name": name, "type": "line", "showSymbol": len(xs) <= 60, "data": row}
            for name, row in zip(names, rows, strict=True)
        ],
    }


def breakdown_option(event: dict[str, Any], t: Translator) -> dict[str, Any]:
    """Horizontal bars of the event's count per breakdown value, the largest on top."""
    values = event["breakdown"]
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 56, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1, "axisLabel": {"formatter": "haina:number"}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [value_label(b, t) for b in values],
            "axisLabel": {"width": 160, "overflow": "truncate"},
        },
        "series": [
            {
                "name": t("events.count"),
                "type": "bar",
                "barMaxWidth": 22,
                "label": {"show": True, "position": "right", "formatter": "haina:number"},
                "data": [b["count"] for b in values],
            }
        ],
    }


def value_label(row: dict[str, Any], t: Translator) -> str:
    if row.get("other"):
        return t("events.other")
    return str(row["value"]) or t("report.not_set")


async def events(ctx: PageContext) -> PageResult:
    names = await event_names.track_event_names(ctx)
    form = EventsForm.from_query(ctx.request.query_params, names)
    body = dated_body(ctx, **form.body())
    outcome = await run_page_report(ctx, "events", body) if form.events else None
    result = outcome.result if outcome else None
    xs, rows = trend(result, ctx.period, form.interval) if result else ([], [])
    total = sum(e["count"] for e in result["events"]) if result else 0
    labels = list(form.events)
    return render_report(
        ctx,
        "reports/events.html",
        form=form,
        filter_bar=bar_keeping(ctx, form.items()),
        hidden=period_and_filters(ctx),
        suggestions=event_names.suggestions(names),
        breakdowns=BREAKDOWN_SUGGESTIONS,
        intervals=INTERVALS,
        outcome=outcome,
        result=result,
        empty=bool(result) and total == 0,
        labels=labels,
        trend=trend_option(labels, xs, rows, form.interval) if result else None,
        trend_x=[period_label(x, form.interval) for x in xs],
        trend_rows=rows,
        breakdown_option=lambda event: breakdown_option(event, ctx.t),
        value_label=lambda row: value_label(row, ctx.t),
        buckets=("1", "2", "3-5", "6-10", "11+"),
        body=body,
    )


register_page("events", "nav.events", events)
