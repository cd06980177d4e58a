"""What report pages share: running a report for a page, and showing its numbers.

`run_page_report` runs a report body through the same path as the HTTP API (server cache,
timeout, guard) and turns every refusal into a message for the page — never a 500.
`Numbers` formats counts, rates and durations for the viewer's language. Templates show the
data's freshness, errors, empty states and CSV buttons with the macros of
``reports/_parts.html``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from markupsafe import Markup
from pydantic import ValidationError

from haina.reports.registry import reports
from haina.reports.routes import run_report_request
from haina.web.pages import PageContext
from haina.web.report_filters import filter_bar, filters_from_query

DASH = "–"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A report's result, or why there is none (a message to show in the page)."""

    result: dict[str, Any] | None
    error: str | None = None


def dated_body(ctx: PageContext, **fields: Any) -> dict[str, Any]:
    """A report body for the page's period (workspace time zone) and filter bar."""
    return {
        "date_from": ctx.period.start.isoformat(),
        "date_to": ctx.period.end.isoformat(),
        "filters": filters_from_query(ctx.request.query_params),
        **fields,
    }


async def run_page_report(ctx: PageContext, kind: str, body: dict[str, Any]) -> Outcome:
    """Validate and run `body` as report `kind` for the page's workspace."""
    report = reports()[kind]
    try:
        query = report.query.model_validate(body)
    except ValidationError as exc:
        # A filter is a union (property or group): the group's "extra field" complaints
        # about a property filter only hide the real problem.
        errors = [e for e in exc.errors() if e["type"] != "extra_forbidden"] or exc.errors()
        return Outcome(None, "; ".join(dict.fromkeys(_problem(e) for e in errors)))
    try:
        result = await run_report_request(ctx.request, ctx.workspace_id, query, report)
    except HTTPException as exc:
        detail = exc.detail
        message = detail.get("message") if isinstance(detail, dict) else None
        return Outcome(None, str(message or detail))
    return Outcome(result)


def one_of(params: Mapping[str, str], name: str, options: Sequence[str], default: str) -> str:
    """A page switch's value from the query string (`default` when absent or unknown)."""
    value = params.get(name, "")
    return value if value in options else default


def _problem(error: Any) -> str:
    # Field names only: no list indexes, no pydantic validator or model names.
    loc = error.get("loc", ())
    where = ".".join(str(p) for p in loc if isinstance(p, str) and p.isidentifier() and p.islower())
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def freshness_text(value: str | None) -> str | None:
    """'2026-11-20T12:00:00.120000Z' → '2026-11-20 12:00:00' (UTC)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class Numbers:
    """Numbers for the viewer's language: `1,234`, `12.3%`, `1m 05s` / `1分05秒`; `–` for
    a missing value (a rate without a denominator)."""

    lang: str

    def count(self, value: float | None) -> str:
        return DASH if value is None else f"{round(value):,}"

    def decimal(self, value: float | None, digits: int = 2) -> str:
        return DASH if value is None else f"{value:,.{digits}f}"

    def percent(self, rate: float | None, digits: int = 1) -> str:
        return DASH if rate is None else f"{rate * 100:,.{digits}f}%"

    def seconds(self, value: float | None) -> str:
        if value is None:
            return DASH
        total = round(value)
        minutes, secs = divmod(total, 60)
        if self.lang == "zh":
            return f"{minutes}分{secs:02d}秒" if minutes else f"{secs}秒"
        return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"

    def millis(self, value: float | None) -> str:
        if value is None:
            return DASH
        return f"{value / 1000:,.2f} s" if value >= 1000 else f"{round(value):,} ms"


@dataclass(frozen=True, slots=True)
class Change:
    """The change of a metric against the previous period: `up`, `down` or `flat`."""

    direction: str
    text: str


def change(current: float | None, previous: float | None) -> Change | None:
    """Relative change in percent; None when the previous value is missing or zero."""
    if current is None or previous is None or previous == 0:
        return None
    ratio = (current - previous) / abs(previous)
    direction = "flat" if abs(ratio) < 0.0005 else ("up" if ratio > 0 else "down")
    return Change(direction, f"{abs(ratio) * 100:,.1f}%")


def render_report(
    ctx: PageContext, template: str, keep: Iterable[str] = (), **values: Any
) -> Markup:
    """`ctx.render` with what report templates use: `num` (Numbers), `freshness_text` and
    `filter_bar` (keeping the page's own parameters named in `keep`; a page whose parameters
    repeat, like funnel steps, passes its own `filter_bar`)."""
    values.setdefault("filter_bar", filter_bar(ctx, keep))
    return ctx.render(
        template,
        num=Numbers(ctx.lang),
        freshness_text=freshness_text,
        **values,
    )
