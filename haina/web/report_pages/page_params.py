"""The period and filter-bar parameters of the current URL, which a page's own form (a funnel
or retention builder) resubmits as hidden inputs and its links carry along."""

from __future__ import annotations

from dataclasses import replace

from haina.web.pages import PageContext
from haina.web.report_filters import FILTER_PARAMS, PROPERTY_PARAMS, FilterBar, filter_bar


def period_and_filters(ctx: PageContext) -> list[tuple[str, str]]:
    params = ctx.request.query_params
    items = [("from", ctx.period.start.isoformat()), ("to", ctx.period.end.isoformat())]
    return items + [
        (n, params[n]) for n in (*FILTER_PARAMS, *PROPERTY_PARAMS) if params.get(n, "").strip()
    ]


def bar_keeping(ctx: PageContext, items: list[tuple[str, str]]) -> FilterBar:
    """The shared filter bar, resubmitting the period and `items` (a page's own parameters,
    repeated ones included: funnel steps, chosen events)."""
    bar = filter_bar(ctx)
    names = {name for name, _ in items}
    return replace(bar, keep=[kv for kv in bar.keep if kv[0] not in names] + items)
