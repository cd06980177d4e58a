"""The pages page: views, visitors, engagement, entries, exits, bounce, load time and scroll
depth per path, URL or title.

Query string: the period and filter bar, and `group_by` (path, url, title). Each row's scroll
depth shows as a small stacked bar of its four buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from haina.web.pages import PageContext, register_page
from haina.web.report_charts import horizontal_bars
from haina.web.report_view import dated_body, one_of, render_report, run_page_report

GROUPS = ("path", "url", "title")
COLUMNS = (
    ("views", "count"),
    ("visitors", "count"),
    ("avg_engagement_seconds", "seconds"),
    ("entries", "count"),
    ("exits", "count"),
    ("exit_rate", "percent"),
    ("bounce_rate", "percent"),
    ("median_load_ms", "millis"),
)
TOP = 10
LIMIT = 200


@dataclass(frozen=True, slots=True)
class ScrollPart:
    bucket: str
    count: int
    share: float  # of the row's pageviews with a scroll depth, 0-100


def scroll_parts(scroll: dict[str, Any]) -> list[ScrollPart]:
    """The stacked bar of a row: each bucket's share of its pageviews with a scroll depth."""
    total = scroll["pageviews"]
    return [
        ScrollPart(bucket, count, round(count * 100 / total, 2) if total else 0.0)
        for bucket, count in scroll["buckets"].items()
    ]


async def pages(ctx: PageContext) -> Markup:
    group_by = one_of(ctx.request.query_params, "group_by", GROUPS, "path")
    outcome = await run_page_report(ctx, "pages", dated_body(ctx, group_by=group_by, limit=LIMIT))
    values: dict[str, Any] = {"outcome": outcome, "group_by": group_by, "columns": COLUMNS}
    if outcome.result is not None:
        rows = outcome.result["rows"]
        not_set = ctx.t("report.not_set")
        top = rows[:TOP]
        values |= {
            "groups": [(g, ctx.t(f"pages.group_{g}")) for g in GROUPS],
            "scrolls": [scroll_parts(row["scroll"]) for row in rows],
            "not_set": not_set,
            "option": horizontal_bars(
                [row["key"] or not_set for row in top],
                ctx.t("pages.views"),
                [row["views"] for row in top],
            ),
        }
    return render_report(ctx, "reports/pages.html", keep=("group_by",), **values)


register_page("pages", "nav.pages", pages)
