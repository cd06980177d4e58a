"""The page speed page: for a page group, the conversion rate of sessions by load-time bucket.

Query string: the period and filter bar, `page` (a path, or a regular expression on the path)
and `match` (`path`: exact path, `regex`). Without `page`, every page is in the group.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from haina.web.pages import PageContext, register_page
from haina.web.report_charts import bars_with_line
from haina.web.report_view import dated_body, one_of, render_report, run_page_report

MATCHES = ("path", "regex")
UNKNOWN = "unknown"


def page_group(params: Any) -> str | dict[str, str] | None:
    """The report's `page`: an exact path, `{"regex": ...}`, or None for all pages."""
    page = str(params.get("page", "")).strip()
    if not page:
        return None
    return {"regex": page} if one_of(params, "match", MATCHES, "path") == "regex" else page


def bucket_label(ctx: PageContext, bucket: str) -> str:
    return ctx.t("pagespeed.unknown") if bucket == UNKNOWN else bucket


async def pagespeed(ctx: PageContext) -> Markup:
    params = ctx.request.query_params
    body = dated_body(ctx, page=page_group(params))
    outcome = await run_page_report(ctx, "pagespeed", body)
    values: dict[str, Any] = {
        "outcome": outcome,
        "page": params.get("page", ""),
        "match": one_of(params, "match", MATCHES, "path"),
    }
    result = outcome.result
    if result is not None:
        buckets = result["buckets"]
        labels = [bucket_label(ctx, b["bucket"]) for b in buckets]
        timed = sum(b["pageviews"] for b in buckets if b["bucket"] != UNKNOWN)
        values |= {
            "labels": labels,
            "timed": timed,
            "option": bars_with_line(
                labels,
                (
                    ctx.t("pagespeed.conversion_rate"),
                    [b["conversion_rate"] for b in buckets],
                    "percent",
                ),
                (ctx.t("pagespeed.pageviews"), [b["pageviews"] for b in buckets], "number"),
            ),
        }
    return render_report(ctx, "reports/pagespeed.html", keep=("page", "match"), **values)


register_page("pagespeed", "nav.pagespeed", pagespeed)
