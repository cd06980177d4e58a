"""The realtime page: visitors in the last 30 minutes, minute by minute, and the pages and
sources they are on now.

The page has no period. Its live panel is also served alone at `/dashboard/realtime/live`
(with the same filter parameters), and htmx swaps it in every 10 seconds.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from haina.web.pages import PageContext, register_page
from haina.web.report_charts import columns
from haina.web.report_filters import filters_from_query
from haina.web.report_view import render_report, run_page_report

MINUTES = 30
TOP = 10
REFRESH_SECONDS = 10


def minute_label(minutes_ago: int) -> str:
    return f"-{minutes_ago}"


async def _live_values(ctx: PageContext) -> dict[str, Any]:
    body = {
        "minutes": MINUTES,
        "limit": TOP,
        "filters": filters_from_query(ctx.request.query_params),
    }
    outcome = await run_page_report(ctx, "realtime", body)
    query = ctx.request.url.query
    values: dict[str, Any] = {
        "outcome": outcome,
        "live_url": f"/dashboard/realtime/live{'?' + query if query else ''}",
        "refresh": REFRESH_SECONDS,
    }
    if outcome.result is not None:
        per_minute = outcome.result["per_minute"]
        labels = [minute_label(m["minutes_ago"]) for m in per_minute]
        option = columns(
            labels,
            [
                (ctx.t("realtime.visitors"), [m["visitors"] for m in per_minute]),
                (ctx.t("realtime.pageviews"), [m["pageviews"] for m in per_minute]),
            ],
        )
        option["xAxis"]["name"] = ctx.t("realtime.minutes_axis")
        option["xAxis"]["nameLocation"] = "middle"
        option["xAxis"]["nameGap"] = 28
        option["grid"]["bottom"] = 32
        values |= {"labels": labels, "option": option, "now": outcome.result["range"]["to"]}
    return values


async def live(ctx: PageContext) -> Markup:
    """The live panel alone, for htmx's refresh."""
    return render_report(ctx, "reports/realtime_live.html", **await _live_values(ctx))


async def realtime(ctx: PageContext) -> Markup:
    return render_report(ctx, "reports/realtime.html", **await _live_values(ctx))


register_page("realtime", "nav.realtime", realtime, dated=False, fragments={"live": live})
