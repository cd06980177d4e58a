"""The retention page: cohorts by a start event, coming back with a return event; a heat map of
cohorts × periods, the cohort triangle below it, and the average curve. With a breakdown, the
cohorts of one value at a time (`breakdown_value`, a switch) and an average curve per value.

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
from haina.web.report_pages.retention_view import (
    Group,
    average_option,
    cohort_label,
    groups,
    heatmap_option,
    percent,
)
from haina.web.report_view import dated_body, render_report, run_page_report

TYPES = ("recurring", "first_time", "first_ever_occurrence")
PERIODS = ("hour", "day", "week", "month")
BREAKDOWN_SOURCES = ("event", "person")
FORM_PARAMS = (
    "start", "return", "type", "period", "intervals", "cumulative", "min_occurrences",
    "breakdown", "breakdown_source", "breakdown_value",
)  # fmt: skip
MAX_INTERVALS = 60
MAX_OCCURRENCES = 10_000
BREAKDOWN_LIMIT = 10
BREAKDOWN_SUGGESTIONS = (
    "$device_type", "$browser", "$os", "$country", "$city", "$channel", "$source", "$campaign",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RetentionForm:
    start: str = PAGEVIEW
    return_event: str = PAGEVIEW
    retention_type: str = "recurring"
    period: str = "day"
    intervals: int = 7
    cumulative: bool = False
    min_occurrences: int = 1
    breakdown: str = ""
    breakdown_source: str = "event"

    @classmethod
    def from_query(cls, params: QueryParams) -> RetentionForm:
        kind = params.get("type", "")
        period = params.get("period", "")
        source = params.get("breakdown_source", "")
        return cls(
            start=params.get("start", "").strip() or PAGEVIEW,
            return_event=params.get("return", "").strip() or PAGEVIEW,
            retention_type=kind if kind in TYPES else "recurring",
            period=period if period in PERIODS else "day",
            intervals=_bounded(params.get("intervals", ""), 7, MAX_INTERVALS),
            cumulative=params.get("cumulative", "") not in ("", "0"),
            min_occurrences=_bounded(params.get("min_occurrences", ""), 1, MAX_OCCURRENCES),
            breakdown=params.get("breakdown", "").strip(),
            breakdown_source=source if source in BREAKDOWN_SOURCES else "event",
        )

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "start_event": {"event": self.start},
            "return_event": {"event": self.return_event},
            "retention_type": self.retention_type,
            "period": self.period,
            "intervals": self.intervals,
        }
        if self.cumulative:
            body["cumulative"] = True
        if self.min_occurrences > 1:
            body["minimum_occurrences"] = self.min_occurrences
        if self.breakdown:
            body["breakdown"] = {"property": self.breakdown, "source": self.breakdown_source}
            body["limit"] = BREAKDOWN_LIMIT
        return body


def _bounded(raw: str, default: int, most: int) -> int:
    """An integer parameter from 1 to `most` (clamped); `default` when it is not a number."""
    try:
        return min(max(int(raw), 1), most)
    except ValueError:
        return default


def period_names(form: RetentionForm, t: Translator) -> list[str]:
    return [t(f"retention.{form.period}_n", n=k) for k in range(form.intervals)]


def chosen(found: list[Group], value: str | None) -> Group | None:
    """The group whose cohorts the page shows: the breakdown value asked for, else the first
    (the value with most people)."""
    return next((g for g in found if g.value == value), found[0] if found else None)


async def retention(ctx: PageContext) -> PageResult:
    params = ctx.request.query_params
    form = RetentionForm.from_query(params)
    names = await event_names.track_event_names(ctx)
    body = dated_body(ctx, **form.body())
    outcome = await run_page_report(ctx, "retention", body)
    result = outcome.result
    found = groups(result) if result else []
    group = chosen(found, params.get("breakdown_value"))
    periods_shown = period_names(form, ctx.t)
    return render_report(
        ctx,
        "reports/retention.html",
        form=form,
        keep=FORM_PARAMS,
        hidden=period_and_filters(ctx),
        suggestions=event_names.suggestions(names),
        breakdowns=BREAKDOWN_SUGGESTIONS,
        types=TYPES,
        periods=PERIODS,
        sources=BREAKDOWN_SOURCES,
        max_intervals=MAX_INTERVALS,
        max_occurrences=MAX_OCCURRENCES,
        outcome=outcome,
        result=result,
        groups=found,
        group=group,
        values=[(g.value, g.label(ctx.t)) for g in found if g.value is not None],
        empty=bool(result) and sum(g.people for g in found) == 0,
        heatmap=heatmap_option(group, form.period, periods_shown, ctx.t) if group else None,
        heatmap_height=min(120 + 28 * len(group.cohorts), 2400) if group else 0,
        average=average_option(found, periods_shown, ctx.t) if found else None,
        periods_shown=periods_shown,
        cohort_label=lambda start: cohort_label(start, form.period),
        percent=percent,
        body=body,
    )


register_page("retention", "nav.retention", retention)
