"""The pages page: views, visitors, engagement, entries, exits, bounce, load time and scroll
depth per path, URL, title or named URL pattern.

Query string: the period and filter bar, `group_by` (path, url, title, pattern) and, for
patterns, `pattern_name` and `pattern_regex` repeated once per pattern, in order (the form
renders both for every row, so they stay aligned). Each row's scroll depth shows as a small
stacked bar of its four buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.datastructures import QueryParams

from haina.query.filters import re2_pattern
from haina.web.i18n import Translator
from haina.web.pages import PageContext, register_page
from haina.web.report_charts import horizontal_bars
from haina.web.report_pages.page_params import bar_keeping, period_and_filters
from haina.web.report_view import Outcome, dated_body, one_of, render_report, run_page_report

GROUPS = ("path", "url", "title", "pattern")
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
MAX_PATTERNS = 5
OTHER = "(other)"  # the report's row of pageviews no pattern matched


@dataclass(frozen=True, slots=True)
class ScrollPart:
    bucket: str
    count: int
    share: float  # of the row's pageviews with a scroll depth, 0-100


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: str


def patterns_from_query(params: QueryParams) -> list[Pattern]:
    """The filled rows of the pattern form; a row without a name is named by its regex."""
    names, regexes = params.getlist("pattern_name"), params.getlist("pattern_regex")
    rows = [Pattern(_at(names, i), _at(regexes, i)) for i in range(max(len(names), len(regexes)))]
    return [Pattern(p.name or p.regex, p.regex) for p in rows if p.name or p.regex]


def invalid_patterns(patterns: list[Pattern]) -> list[tuple[str, str]]:
    """(name, reason) of each pattern whose regex the engines cannot run: the message names
    the row to correct (the API's names only the field)."""
    bad = []
    for p in patterns:
        try:
            re2_pattern(p.regex)
        except ValueError as exc:
            bad.append((p.name, str(exc)))
    return bad


def _at(values: list[str], i: int) -> str:
    return values[i].strip() if i < len(values) else ""


def pattern_items(patterns: list[Pattern]) -> list[tuple[str, str]]:
    return [kv for p in patterns for kv in (("pattern_name", p.name), ("pattern_regex", p.regex))]


def scroll_parts(scroll: dict[str, Any]) -> list[ScrollPart]:
    """The stacked bar of a row: each bucket's share of its pageviews with a scroll depth."""
    total = scroll["pageviews"]
    return [
        ScrollPart(bucket, count, round(count * 100 / total, 2) if total else 0.0)
        for bucket, count in scroll["buckets"].items()
    ]


async def pages(ctx: PageContext) -> Markup:
    params = ctx.request.query_params
    group_by = one_of(params, "group_by", GROUPS, "path")
    patterns = patterns_from_query(params)
    outcome = None  # grouping by patterns needs one first: the page then shows the form
    body: dict[str, Any] | None = None  # what ran, shown as the API query
    if group_by != "pattern":
        body = dated_body(ctx, group_by=group_by, limit=LIMIT)
        outcome = await run_page_report(ctx, "pages", body)
    elif missing := [p.name for p in patterns if not p.regex]:
        outcome = Outcome(None, ctx.t("pages.pattern_needs_regex", name=", ".join(missing)))
    elif bad := invalid_patterns(patterns):
        outcome = Outcome(None, "; ".join(ctx.t("pages.pattern_invalid", name=n, reason=r)
                                          for n, r in bad))  # fmt: skip
    elif patterns:
        fields = [{"name": p.name, "regex": p.regex} for p in patterns]
        body = dated_body(ctx, group_by=group_by, patterns=fields, limit=LIMIT)
        outcome = await run_page_report(ctx, "pages", body)
    values: dict[str, Any] = {
        "outcome": outcome,
        "body": body,
        "group_by": group_by,
        "groups": [(g, ctx.t(f"pages.group_{g}")) for g in GROUPS],
        "columns": COLUMNS,
        "patterns": patterns,
        "pattern_rows": max(MAX_PATTERNS, len(patterns)),
        "hidden": period_and_filters(ctx),
        "filter_bar": bar_keeping(ctx, [("group_by", group_by), *pattern_items(patterns)]),
    }
    if outcome is not None and outcome.result is not None:
        rows = outcome.result["rows"]
        top = rows[:TOP]
        values |= {
            "scrolls": [scroll_parts(row["scroll"]) for row in rows],
            "key_label": lambda key: key_label(key, group_by, ctx.t),
            "option": horizontal_bars(
                [key_label(row["key"], group_by, ctx.t) for row in top],
                ctx.t("pages.views"),
                [row["views"] for row in top],
            ),
        }
    return render_report(ctx, "reports/pages.html", **values)


def key_label(key: str, group_by: str, t: Translator) -> str:
    """A row's name as shown: `(not set)` for an empty key, `(other)` in the language."""
    if group_by == "pattern" and key == OTHER:
        return t("pages.other")
    return key or t("report.not_set")


register_page("pages", "nav.pages", pages)
