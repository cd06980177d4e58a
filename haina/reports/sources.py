"""Traffic sources: sessions grouped by how they began (channel, source / medium, referrer,
campaign tags) or by the site-search keywords they used, with overview's session metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from haina.query.scope import (
    SESSION_CAP_US,
    Range,
    ReportContext,
    ReportQuery,
    Scope,
    freshness,
    resolve_range,
)
from haina.reports.overview import session_measures, shape
from haina.reports.registry import ReportKind

Dimension = Literal[
    "channel", "source_medium", "source", "medium", "referrer", "campaign", "term", "content",
    "search_keyword",
]  # fmt: skip
# Dimension → the stored columns its key is made of (session entry values, `s_<column>`).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "channel": ("channel",),
    "source_medium": ("source", "medium"),
    "source": ("source",),
    "medium": ("medium",),
    "referrer": ("referrer_host",),
    "campaign": ("campaign",),
    "term": ("term",),
    "content": ("content",),
    "search_keyword": ("search_keyword",),
}
NOT_SET = "(not set)"


class SourcesQuery(ReportQuery):
    kind: Literal["sources"] = "sources"
    dimension: Dimension = "channel"
    limit: int = Field(50, ge=1, le=1000, description="rows to return (most sessions first)")


def build(ctx: ReportContext, q: SourcesQuery, rng: Range, totals: bool) -> Scope:
    """Rows: key column(s) k0, k1 ... then overview's METRICS, most sessions first (ties by
    key), `limit + 1` rows so the caller can tell that more exist. Totals: METRICS only."""
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    measures = session_measures(s)
    ctes = s.ctes(sessions=True)
    if totals:
        s.sql = f"{ctes}\nSELECT {measures} FROM sessions WHERE ok"
        return s
    columns = DIMENSIONS[q.dimension]
    keys = [f"k{i}" for i in range(len(columns))]
    if q.dimension == "search_keyword":
        ctes += f",\n{_keywords()}"
        source = "sessions LEFT JOIN kw ON sessions.person = kw.kperson AND sessions.sid = kw.ksid"
        select = "coalesce(kw.keyword, '') AS k0"
    else:
        source = "sessions"
        select = ", ".join(f"s_{c} AS {k}" for c, k in zip(columns, keys, strict=True))
    s.sql = (
        f"{ctes}\nSELECT {select}, {measures} FROM {source} WHERE ok "
        f"GROUP BY {', '.join(keys)} ORDER BY count(*) DESC, {', '.join(keys)} "
        f"LIMIT {s.p(q.limit + 1)}"
    )
    return s


def _keywords() -> str:
    """Each session's distinct site-search keywords (a session that searched for two
    keywords counts under both; one that searched for none, under "")."""
    return (
        "kw AS (SELECT DISTINCT person AS kperson, sid AS ksid, search_keyword AS keyword "
        "FROM sx WHERE search_keyword IS NOT NULL AND search_keyword <> '')"
    )


def shape_row(dimension: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """One dimension value: `key` to show ("(not set)" for an empty value; "source /
    medium" for source_medium), `values` to filter on (`$column` → stored value, "" = not
    set) and overview's metrics."""
    columns = DIMENSIONS[dimension]
    raw = [str(v or "") for v in row[: len(columns)]]
    return {
        "key": " / ".join(v or NOT_SET for v in raw),
        "values": {f"${c}": v for c, v in zip(columns, raw, strict=True)},
        **shape(row[len(columns) :]),
    }


def run(ctx: ReportContext, q: SourcesQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    t = build(ctx, q, rng, totals=True)
    total_rows = ctx.engine.rows(t.sql, t.params.values)
    s = build(ctx, q, rng, totals=False)
    rows = ctx.engine.rows(s.sql, s.params.values)
    return {
        "kind": "sources",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "dimension": q.dimension,
        "rows": [shape_row(q.dimension, r) for r in rows[: q.limit]],
        "truncated": len(rows) > q.limit,
        "totals": shape(total_rows[0] if total_rows else None),
        "freshness": freshness(ctx),
        "sql": [s.sql, t.sql],
    }


REPORT = ReportKind(
    "sources",
    SourcesQuery,
    run,
    "Sessions by channel, source / medium, referrer, campaign or search keyword",
    stored_sessions=True,
)
