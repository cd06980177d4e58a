"""Page speed and conversion: for a page group, the share of sessions that convert after a
pageview, by the pageview's load time (so a slow product page shows what it costs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from haina.query.filters import re2_pattern
from haina.query.scope import (
    SESSION_CAP_US,
    Range,
    ReportContext,
    ReportQuery,
    Scope,
    freshness,
    resolve_range,
)
from haina.reports.overview import ratio
from haina.reports.pages import number_as_sent, pageviews_cte, session_key
from haina.reports.registry import ReportKind

DEFAULT_BUCKETS = (1000, 2000, 3000, 5000, 8000)
UNKNOWN = "unknown"
FIELDS = ("pageviews", "sessions", "converted_sessions")


class PageRegex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regex: str = Field(min_length=1, max_length=1000, description="matched against the path")

    _regex = field_validator("regex")(re2_pattern)


class PagespeedQuery(ReportQuery):
    kind: Literal["pagespeed"] = "pagespeed"
    page: str | PageRegex | None = Field(
        None, description="a path (exact), {'regex': ...} on the path, or null for all pages"
    )
    buckets_ms: list[int] = Field(
        default_factory=lambda: list(DEFAULT_BUCKETS), min_length=1, max_length=20
    )

    @field_validator("buckets_ms")
    @classmethod
    def _buckets(cls, bounds: list[int]) -> list[int]:
        if any(b <= 0 or b > 600_000 for b in bounds):
            raise ValueError("bucket bounds are milliseconds, 1 to 600000")
        if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise ValueError("bucket bounds must increase")
        return bounds


def labels(bounds: list[int]) -> list[str]:
    """ "<1 s", "1–2 s", ..., "≥8 s" for bounds [1000, 2000, ..., 8000]."""
    sec = [f"{b / 1000:g}" for b in bounds]
    middle = [f"{a}–{b} s" for a, b in zip(sec, sec[1:], strict=False)]
    return [f"<{sec[0]} s", *middle, f"≥{sec[-1]} s"]


def _page_cond(s: Scope, page: str | PageRegex | None) -> str:
    if page is None:
        return "TRUE"
    if isinstance(page, PageRegex):
        return f"coalesce({s.d.regex('sx.path', s.p(page.regex))}, FALSE)"
    return f"coalesce(sx.path = {s.p(page)}, FALSE)"


def _bucket(s: Scope, bounds: list[int]) -> str:
    """The bucket index of `load_ms`: 0 .. len(bounds); -1 without timing."""
    whens = " ".join(f"WHEN load_ms < {s.p(float(b))} THEN {i}" for i, b in enumerate(bounds))
    return f"CASE WHEN load_ms IS NULL OR load_ms < 0 THEN -1 {whens} ELSE {len(bounds)} END"


def build(ctx: ReportContext, q: PagespeedQuery, rng: Range, totals: bool) -> Scope:
    """Per bucket index (or, with `totals`, one row): pageviews, sessions, sessions with a
    conversion at or after one of their pageviews of the bucket, median load time."""
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    ctes = s.ctes(sessions=True)
    page = _page_cond(s, q.page)
    bucket = "0" if totals else _bucket(s, q.buckets_ms)
    session = session_key(s)
    s.sql = (
        f"{ctes},\n{pageviews_cte(s, page, conversions=True)}\n"
        f"SELECT {bucket} AS b, count(*), count(DISTINCT {session}), "
        f"count(DISTINCT CASE WHEN last_conv >= vts THEN {session} END), "
        f"{s.d.median('CASE WHEN load_ms >= 0 THEN load_ms END')} "
        "FROM pv WHERE counted = 1 AND k GROUP BY b ORDER BY b"
    )
    return s


def shape(row: tuple[Any, ...] | None) -> dict[str, Any]:
    """Counts, the conversion rate and the median load time of one bucket (or all)."""
    n = {f: int(v or 0) for f, v in zip(FIELDS, (row or (0, 0, 0))[:3], strict=True)}
    rate = ratio(n["converted_sessions"], n["sessions"])
    median = number_as_sent(row[3]) if row else None
    return {**n, "conversion_rate": rate, "median_load_ms": median}


def shape_buckets(q: PagespeedQuery, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every bucket, empty ones included, then "unknown" (pageviews without timing)."""
    by_index = {int(r[0]): r[1:] for r in rows}
    bounds: list[int | None] = [None, *q.buckets_ms, None]
    out = [
        {"bucket": label, "min_ms": bounds[i], "max_ms": bounds[i + 1], **shape(by_index.get(i))}
        for i, label in enumerate(labels(q.buckets_ms))
    ]
    out.append({"bucket": UNKNOWN, "min_ms": None, "max_ms": None, **shape(by_index.get(-1))})
    return out


def run(ctx: ReportContext, q: PagespeedQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    s = build(ctx, q, rng, totals=False)
    rows = ctx.engine.rows(s.sql, s.params.values)
    t = build(ctx, q, rng, totals=True)
    total = ctx.engine.rows(t.sql, t.params.values)
    return {
        "kind": "pagespeed",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "page": q.page.model_dump() if isinstance(q.page, PageRegex) else q.page,
        "conversion_events": list(ctx.settings.conversion_events),
        "buckets": shape_buckets(q, rows),
        "totals": shape(total[0][1:] if total else None),
        "freshness": freshness(ctx),
        "sql": [s.sql, t.sql],
    }


REPORT = ReportKind(
    "pagespeed",
    PagespeedQuery,
    run,
    "Conversion rate by page load time, for a page group",
    stored_sessions=True,
)
