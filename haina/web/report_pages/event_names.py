"""The event names a workspace's builders suggest (funnel steps, retention, events).

They come from the `events` report over the page's period, without the filter bar, so they
share its cache and its guard; `$pageview` is always offered.
"""

from __future__ import annotations

from haina.web.pages import PageContext
from haina.web.report_view import run_page_report

PAGEVIEW = "$pageview"


async def track_event_names(ctx: PageContext) -> list[str]:
    """Track event names of the period, most frequent first ([] when the report fails)."""
    body = {"date_from": ctx.period.start.isoformat(), "date_to": ctx.period.end.isoformat()}
    outcome = await run_page_report(ctx, "events", body)
    if outcome.result is None:
        return []
    return [str(e["event"]) for e in outcome.result["events"]]


def suggestions(names: list[str]) -> list[str]:
    """What a datalist offers: page views first, then the track events."""
    return [PAGEVIEW, *(n for n in names if n != PAGEVIEW)]
