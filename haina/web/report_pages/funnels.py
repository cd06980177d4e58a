"""The funnels page: a step builder whose GET form keeps the funnel in the URL, the steps as
bars and a table, the time to convert, and the people behind each step (an htmx fragment).

Numbers come from the `funnel` report (and `funnel_people` for the people), run with the
page's period and filter bar exactly as `POST /api/v1/reports/funnel` runs a body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import QueryParams

from haina.reports.funnel import PEOPLE, FunnelPeopleQuery
from haina.reports.routes import run_report_request
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.report_pages import event_names
from haina.web.report_pages.event_names import PAGEVIEW
from haina.web.report_pages.funnel_form import (
    ATTRIBUTIONS,
    BREAKDOWN_SOURCES,
    MAX_EXCLUSIONS,
    MAX_STEPS,
    ORDERS,
    STEP_OPS,
    WINDOW_UNITS,
    FunnelForm,
    Step,
    default_steps,
)
from haina.web.report_pages.funnel_view import (
    chart_height,
    duration,
    groups,
    steps_option,
    ttc_option,
)
from haina.web.report_pages.page_params import bar_keeping, period_and_filters
from haina.web.report_view import Numbers, Outcome, dated_body, render_report, run_page_report

PEOPLE_LIMIT = 100
BREAKDOWN_SUGGESTIONS = (
    "$device_type", "$browser", "$os", "$country", "$city", "$channel", "$source", "$campaign",
)  # fmt: skip


def step_label(t: Any, index: int, step: Step) -> str:
    name = t("funnels.pageview") if step.event == PAGEVIEW else step.event
    return f"{index + 1}. {name}" + (f" {step.path}" if step.path else "")


async def funnels(ctx: PageContext) -> PageResult:
    params = ctx.request.query_params
    names = await event_names.track_event_names(ctx)
    form = FunnelForm.from_query(params, default_steps(names))
    removed = _removed(form, params)
    if removed is not None:  # a remove button (step or exclusion): back to a clean URL
        url = f"{ctx.request.url.path}?{removed.query(period_and_filters(ctx))}"
        return RedirectResponse(url, status_code=303)
    outcome = None
    problems = form.problems(ctx.t)
    if len(form.steps) >= 2 and problems:
        outcome = Outcome(None, "; ".join(problems))
    elif len(form.steps) >= 2:
        outcome = await run_page_report(ctx, "funnel", dated_body(ctx, **form.body()))
    result = outcome.result if outcome else None
    found = groups(result) if result else []
    labels = [step_label(ctx.t, i, s) for i, s in enumerate(form.steps)]
    num_people = sum(g.steps[0]["count"] for g in found) if found else 0
    return render_report(
        ctx,
        "reports/funnels.html",
        form=form,
        filter_bar=bar_keeping(ctx, form.items()),
        hidden=period_and_filters(ctx),
        suggestions=event_names.suggestions(names),
        breakdowns=BREAKDOWN_SUGGESTIONS,
        orders=ORDERS,
        units=WINDOW_UNITS,
        sources=BREAKDOWN_SOURCES,
        attributions=ATTRIBUTIONS,
        ops=STEP_OPS,
        max_steps=MAX_STEPS,
        max_exclusions=MAX_EXCLUSIONS,
        outcome=outcome,
        result=result,
        groups=found,
        labels=labels,
        empty=bool(result) and num_people == 0,
        steps_option=steps_option(found, labels, ctx.t, Numbers(ctx.lang)) if found else None,
        steps_height=chart_height(found, len(form.steps)),
        ttc_option=ttc_option(found, ctx.lang, ctx.t) if found else None,
        duration=lambda s: duration(ctx.lang, s),
        people_url=lambda **extra: people_url(ctx, form, **extra),
        body=dated_body(ctx, **form.body()),
    )


def _removed(form: FunnelForm, params: QueryParams) -> FunnelForm | None:
    if params.get("remove", "").isdigit():
        return form.without_step(int(params["remove"]))
    if params.get("remove_exclusion", "").isdigit():
        return form.without_exclusion(int(params["remove_exclusion"]))
    return None


def people_url(ctx: PageContext, form: FunnelForm, **extra: Any) -> str:
    pairs = [(k, str(v)) for k, v in extra.items() if v is not None]
    return f"/dashboard/funnels/people?{form.query([*period_and_filters(ctx), *pairs])}"


async def people(ctx: PageContext) -> Markup:
    """The people who reached a step (`converted=1`) or dropped just before it."""
    params = ctx.request.query_params
    form = FunnelForm.from_query(params)
    step = _int(params.get("people_step"), 1)
    converted = params.get("converted", "1") != "0"
    value = params.get("value") if "value" in params else None
    offset = max(_int(params.get("offset"), 0), 0)
    body = dated_body(
        ctx,
        **form.body(),
        step=step,
        converted=converted,
        breakdown_value=value,
        limit=PEOPLE_LIMIT,
        offset=offset,
    )
    found, error = await _run_people(ctx, body)
    labels = [step_label(ctx.t, i, s) for i, s in enumerate(form.steps)]
    page = {"people_step": step, "converted": int(converted), "value": value}
    return render_report(
        ctx,
        "reports/funnel_people.html",
        result=found,
        error=error,
        step=step,
        converted=converted,
        value=value,
        labels=labels,
        offset=offset,
        limit=PEOPLE_LIMIT,
        local_time=lambda us: local_time(us, ctx.workspace.timezone),
        more_url=lambda off: people_url(ctx, form, **page, offset=off),
    )


async def _run_people(
    ctx: PageContext, body: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        query = FunnelPeopleQuery.model_validate(body)
    except ValidationError as exc:
        return None, "; ".join(str(e.get("msg", "invalid")) for e in exc.errors())
    try:
        return await run_report_request(ctx.request, ctx.workspace_id, query, PEOPLE), None
    except HTTPException as exc:
        detail = exc.detail
        return None, str(detail.get("message") if isinstance(detail, dict) else detail)


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return default


def local_time(us: int, timezone: str) -> str:
    """Epoch microseconds (UTC) → local `YYYY-MM-DD HH:MM:SS` in the workspace's zone."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    moment = datetime.fromtimestamp(us / 1e6, UTC).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


register_page("funnels", "nav.funnels", funnels, fragments={"people": people})
