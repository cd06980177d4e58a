"""The traffic sources page: sessions by channel, source / medium, referrer, campaign, search
keyword ... with engagement, bounce and conversions per row.

Query string: the period and filter bar, and `dimension`. A row whose dimension has a filter
in the bar (channel, source, campaign) links to the overview filtered on it.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from haina.web.pages import PageContext, register_page
from haina.web.report_charts import horizontal_bars
from haina.web.report_view import dated_body, one_of, render_report, run_page_report

DIMENSIONS = (
    "channel", "source_medium", "source", "medium", "referrer", "campaign", "term", "content",
    "search_keyword",
)  # fmt: skip
# The filter bar's parameter for a row of a dimension, and the stored value it takes.
DRILL = {"channel": ("channel", "$channel"), "source_medium": ("source", "$source"),
         "source": ("source", "$source"), "campaign": ("campaign", "$campaign")}  # fmt: skip
COLUMNS = (
    ("visitors", "count"),
    ("sessions", "count"),
    ("engaged_sessions", "count"),
    ("avg_engagement_seconds", "seconds"),
    ("bounce_rate", "percent"),
    ("conversions", "count"),
    ("conversion_rate", "percent"),
)
TOP = 10
LIMIT = 200


def drill_url(ctx: PageContext, dimension: str, row: dict[str, Any]) -> str | None:
    """The overview filtered on this row (for dimensions the filter bar has)."""
    if dimension not in DRILL:
        return None
    param, key = DRILL[dimension]
    value = row["values"].get(key, "")
    if not value:
        return None
    url = ctx.request.url.include_query_params(**{param: value}).remove_query_params(["dimension"])
    return f"/dashboard/overview?{url.query}"


async def sources(ctx: PageContext) -> Markup:
    dimension = one_of(ctx.request.query_params, "dimension", DIMENSIONS, "channel")
    outcome = await run_page_report(
        ctx, "sources", dated_body(ctx, dimension=dimension, limit=LIMIT)
    )
    values: dict[str, Any] = {"outcome": outcome, "dimension": dimension, "columns": COLUMNS}
    if outcome.result is not None:
        rows = outcome.result["rows"]
        top = rows[:TOP]
        values |= {
            "links": [drill_url(ctx, dimension, row) for row in rows],
            "option": horizontal_bars(
                [row["key"] for row in top],
                ctx.t("sources.sessions"),
                [row["sessions"] for row in top],
            ),
            "dimensions": [(d, ctx.t(f"sources.dim_{d}")) for d in DIMENSIONS],
        }
    return render_report(ctx, "reports/sources.html", keep=("dimension",), **values)


register_page("sources", "nav.sources", sources)
