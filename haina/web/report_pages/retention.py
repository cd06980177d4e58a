"""The retention page: cohorts by a start event, coming back with a return event; a heat map of
cohorts × periods, the cohort triangle below it, and the average curve.

Numbers come from the `retention` report (docs/reports/retention.md), run with the page's
period and filter bar exactly as `POST /api/v1/reports/retention` runs a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from haina.web.i18n import Translator
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.report_pages import event_names
from haina.web.report_pages.event_names import PAGEVIEW
from haina.web.report_pages.page_params import period_and_filters
from haina.web.report_view import dated_body, render_report, run_page_report

TYPES = ("recurring", "first_time", "first_ever_occurrence")
PERIODS = ("hour", "day", "week", "month")
FORM_PARAMS = ("start", "return", "type", "period", "intervals")
MAX_INTERVALS = 60
# Heat-map colours by retained percent (period 0 is always 100%).
PIECES = ((0, 5), (5, 10), (10, 20), (20, 40), (40, 70), (70, 100.01))
COLORS = ("#eef6fa", "#cfe8f3", "#9fd0e6", "#5fb0d4", "#1478a3", "#0b4f6c")


@dataclass(frozen=True, slots=True)
class RetentionForm:
    start: str = PAGEVIEW
    return_event: str = PAGEVIEW
    retention_type: str = "recurring"
    period: str = "day"
    intervals: int = 7

    @classmethod
    def from_query(cls, params: QueryParams) -> RetentionForm:
        kind = params.get("type", "")
        period = params.get("period", "")
        try:
            intervals = min(max(int(params.get("intervals", "")), 1), MAX_INTERVALS)
        except ValueError:
            intervals = 7
        return cls(
            start=params.get("start", "").strip() or PAGEVIEW,
            return_event=params.get("return", "").strip() or PAGEVIEW,
            retention_type=kind if kind in TYPES else "recurring",
            period=period if period in PERIODS else "day",
            intervals=intervals,
        )

    def body(self) -> dict[str, Any]:
        return {
            "start_event": {"event": self.start},
            "return_event": {"event": self.return_event},
            "retention_type": self.retention_type,
            "period": self.period,
            "intervals": self.intervals,
        }


def cohort_label(start: str, period: str) -> str:
    """'2026-11-17 00:00:00' → '2026-11-17' (day, week), '2026-11' (month), '11-17 13:00'."""
    if period == "month":
        return start[:7]
    if period == "hour":
        return start[5:16]
    return start[:10]


def percent(n: int, size: int) -> float | None:
    return round(100 * n / size, 1) if size else None


def heatmap_option(result: dict[str, Any], form: RetentionForm, t: Translator) -> dict[str, Any]:
    """Cells [period, cohort, percent, people] for the periods each cohort reached."""
    cohorts = result["cohorts"]
    cells = [
        [k, i, percent(n, c["size"]), n]
        for i, c in enumerate(cohorts)
        for k, n in enumerate(c["values"][: c["reached"]])
        if c["size"]
    ]
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 8, "right": 16, "top": 8, "bottom": 56, "containLabel": True},
        "xAxis": {"type": "category", "data": period_names(form, t), "splitArea": {"show": True}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [cohort_label(c["start"], form.period) for c in cohorts],
            "splitArea": {"show": True},
        },
        "visualMap": {
            "type": "piecewise",
            "dimension": 2,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "pieces": [
                {"gte": lo, "lt": hi, "label": f"{lo}–{min(hi, 100):.0f}%", "color": color}
                for (lo, hi), color in zip(PIECES, COLORS, strict=True)
            ],
        },
        "series": [
            {
                "name": t("retention.retained"),
                "type": "heatmap",
                "data": cells,
                "label": {"show": True, "formatter": "{@[2]}%", "fontSize": 11},
                "emphasis": {"itemStyle": {"borderColor": "#1d2433", "borderWidth": 1}},
            }
        ],
    }


def period_names(form: RetentionForm, t: Translator) -> list[str]:
    return [t(f"retention.{form.period}_n", n=k) for k in range(form.intervals)]


def average_option(result: dict[str, Any], form: RetentionForm, t: Translator) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 24, "top": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": period_names(form, t), "boundaryGap": False},
        "yAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "name": t("retention.average"),
                "type": "line",
                "smooth": False,
                "symbolSize": 7,
                "areaStyle": {"opacity": 0.12},
                "data": [a["percent"] for a in result["average"]],
            }
        ],
    }


async def retention(ctx: PageContext) -> PageResult:
    form = RetentionForm.from_query(ctx.request.query_params)
    names = await event_names.track_event_names(ctx)
    body = dated_body(ctx, **form.body())
    outcome = await run_page_report(ctx, "retention", body)
    result = outcome.result
    people = sum(c["size"] for c in result["cohorts"]) if result else 0
    return render_report(
        ctx,
        "reports/retention.html",
        form=form,
        keep=FORM_PARAMS,
        hidden=period_and_filters(ctx),
        suggestions=event_names.suggestions(names),
        types=TYPES,
        periods=PERIODS,
        max_intervals=MAX_INTERVALS,
        outcome=outcome,
        result=result,
        empty=bool(result) and people == 0,
        heatmap=heatmap_option(result, form, ctx.t) if result else None,
        heatmap_height=min(120 + 28 * len(result["cohorts"]), 2400) if result else 0,
        average=average_option(result, form, ctx.t) if result else None,
        periods_shown=period_names(form, ctx.t),
        cohort_label=lambda start: cohort_label(start, form.period),
        percent=percent,
        body=body,
    )


register_page("retention", "nav.retention", retention)
