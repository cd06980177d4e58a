"""Pages: views, visitors, engagement, entries, exits, bounce, scroll depth and load time per
page (path, URL, title, or named URL patterns)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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
from haina.reports.overview import engaged_condition, ratio
from haina.reports.registry import ReportKind

OTHER = "(other)"
SCROLL_BUCKETS = ("0-25", "25-50", "50-75", "75-100")
ROW_FIELDS = (
    "views", "visitors", "sessions", "entries", "entered_engaged", "exits", "eng_pageviews",
    "eng_ms", "scroll_0", "scroll_1", "scroll_2", "scroll_3", "scroll_sum", "median_load_ms",
)  # fmt: skip


class PagePattern(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    regex: str = Field(min_length=1, max_length=1000, description="matched against the path")

    _regex = field_validator("regex")(re2_pattern)


class PagesQuery(ReportQuery):
    kind: Literal["pages"] = "pages"
    group_by: Literal["path", "url", "title", "pattern"] = "path"
    patterns: list[PagePattern] = Field(
        default_factory=list,
        max_length=100,
        validate_default=True,
        description="with group_by 'pattern': the first pattern whose regex matches wins",
    )
    limit: int = Field(50, ge=1, le=1000, description="rows to return (most views first)")

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, patterns: list[PagePattern], info: ValidationInfo) -> list[PagePattern]:
        grouped = info.data.get("group_by") == "pattern"
        if grouped and not patterns:
            raise ValueError("group_by 'pattern' needs at least one pattern")
        if patterns and not grouped:
            raise ValueError("patterns are only used with group_by 'pattern'")
        return patterns


def page_key(s: Scope, q: PagesQuery) -> str:
    """SQL text of a pageview's group in `sx`."""
    if q.group_by != "pattern":
        return f"coalesce(sx.{q.group_by}, '')"
    whens = " ".join(
        f"WHEN {s.d.regex('sx.path', s.p(p.regex))} THEN {s.p(p.name)}" for p in q.patterns
    )
    return f"CASE {whens} ELSE {s.p(OTHER)} END"


def session_key(s: Scope) -> str:
    """SQL text naming a `pv` row's session, for distinct counts of sessions."""
    return f"{s.d.text('vsid')} || ':' || {s.d.text('vper')}"


def pageviews_cte(s: Scope, key: str, conversions: bool = False, path_first: bool = False) -> str:
    """`pv`: the pageviews of counted sessions with their group `k`, `counted` (passes the
    filters), whether each is its session's first / last pageview, engagement, scroll, load
    time and the session's `engaged` flag; with `conversions`, `last_conv`: the time of the
    session's last conversion event; with `path_first`, `pfirst`: the session's first view
    of the path. Reference `pv` once: ClickHouse inlines each use."""
    load = "sx.load_ms"  # the pageview's perf_load_ms, as a number
    source, last_conv = "sx", ""
    if conversions:
        conv = f"max(CASE WHEN {s.conversion_cond()} THEN ts END) OVER (PARTITION BY person, sid)"
        source = f"(SELECT sx.*, {conv} AS last_conv FROM sx) sx"
        last_conv = ", sx.last_conv AS last_conv"
    first, last = s.pv_flags()
    pageview = "sx.event_name = '$pageview'"
    pfirst = f"CASE WHEN {s.path_first()} THEN 1 ELSE 0 END" if path_first else "0"

    def select(engaged: str) -> str:
        return (
            f"SELECT sx.person AS vper, sx.sid AS vsid, sx.ts AS vts, "
            f"{key} AS k, CASE WHEN sx.sel THEN 1 ELSE 0 END AS counted, "
            f"CASE WHEN {first} THEN 1 ELSE 0 END AS is_entry, "
            f"CASE WHEN {last} THEN 1 ELSE 0 END AS is_exit, {pfirst} AS pfirst, "
            # ClickHouse's LEFT JOIN gives eng_ms 0, not NULL, where a pageview has no
            # `$engagement`: "has data" is some engaged time or a scroll depth on both engines.
            "CASE WHEN coalesce(sx.eng_ms, 0) > 0 OR sx.eng_scroll IS NOT NULL THEN 1 ELSE 0 END "
            "AS has_eng, coalesce(sx.eng_ms, 0) AS ms, CASE WHEN sx.eng_scroll IS NOT NULL "
            "THEN least(greatest(sx.eng_scroll, 0.0), 100.0) END AS scroll, "
            f"{load} AS load_ms, {engaged} AS engaged{last_conv} FROM {source} "
        )

    os = (
        f"os AS (SELECT person AS oper, sid AS osid, CASE WHEN {engaged_condition(s)} "
        "THEN 1 ELSE 0 END AS engaged FROM sessions WHERE ok),\n"
    )
    joined = "JOIN os ON sx.person = os.oper AND sx.sid = os.osid "
    if not s.all_sessions_count or conversions:  # (`source` is a window: read it once)
        return f"{os}pv AS ({select('os.engaged')}{joined}WHERE {pageview})"
    # Every session counts: only a session's first pageview needs the session (whether it
    # was engaged, for the bounce rate), so only those rows are joined.
    return (
        f"{os}pv AS ({select('0')}WHERE {pageview} AND NOT {first}\n"
        f"UNION ALL {select('os.engaged')}{joined}WHERE {pageview} AND {first})"
    )


# Bitmaps of person numbers (Dialect.count_numbers) for the visitors per page while the
# groups times the people / 8 bytes stay under this; a distinct count beyond.
BITMAP_BYTES = 128 << 20


def _bitmaps_fit(s: Scope, q: PagesQuery) -> bool:
    """Whether the visitors of each group can be counted by `Dialect.count_numbers`: only
    on the stored tables (person numbers); with DuckDB's bitmaps, only for few enough groups
    (patterns: known; else the column's distinct values in the whole table, from its
    statistics: an instant upper estimate) times people."""
    if not s.stored:
        return False
    if not s.d.bitmaps:
        return True
    engine, values = s.ctx.engine, s.params.values
    people = engine.rows(
        f"SELECT max(pnum) FROM derive_people WHERE workspace_id = {s.ws}", values
    )[0][0]
    if q.group_by == "pattern":
        groups = len(q.patterns) + 1
    else:
        found = engine.rows(f"SELECT stats({q.group_by}) FROM session_events LIMIT 1", {})
        stats = found[0][0] if found else None
        if not isinstance(stats, dict) or "approx_unique" not in stats:
            return False
        groups = int(stats["approx_unique"] * 1.1) + 10  # HyperLogLog: a few % off
    return groups * (int(people or 0) // 8 + 1) <= BITMAP_BYTES


def _measures(s: Scope, q: PagesQuery, bitmaps: bool = False) -> str:
    """Aggregates over `pv` grouped by GROUPING SETS ((k), ()), in ROW_FIELDS order.
    Sessions: of the total, one entry each; of a path, its first views; of other groups, a
    distinct count."""
    with_scroll = "counted = 1 AND scroll IS NOT NULL"
    buckets = ", ".join(
        f"sum(CASE WHEN {with_scroll} AND scroll >= {lo}.0"
        + (f" AND scroll < {lo + 25}.0" if lo < 75 else "")
        + " THEN 1 ELSE 0 END)"
        for lo in (0, 25, 50, 75)
    )
    per_group = "sum(pfirst)" if q.group_by == "path" else f"count(DISTINCT {session_key(s)})"
    visitors = "count(DISTINCT CASE WHEN counted = 1 THEN vper END)"
    if bitmaps:
        visitors = s.d.count_numbers("vper")
    return (
        # Stored rows are all counted (stored sessions serve no event-level filter).
        f"sum(counted), {visitors}, "
        f"CASE WHEN grouping(k) = 1 THEN sum(is_entry) ELSE {per_group} END, "
        "sum(is_entry), sum(is_entry * engaged), "
        "sum(is_exit), sum(CASE WHEN counted = 1 AND has_eng = 1 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN counted = 1 AND has_eng = 1 THEN ms ELSE 0.0 END), "
        f"{buckets}, sum(CASE WHEN {with_scroll} THEN scroll ELSE 0.0 END), "
        f"{s.d.median('CASE WHEN counted = 1 AND load_ms >= 0 THEN load_ms END')}"
    )


def build(ctx: ReportContext, q: PagesQuery, rng: Range) -> Scope:
    """The totals row (all pageviews; `is_total` 1) first, then one row per page group: the
    key, `is_total`, then ROW_FIELDS; most views first (ties by key), `limit + 1` groups."""
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    ctes = s.ctes(sessions=True)
    key = page_key(s, q)
    pv = pageviews_cte(s, key, path_first=q.group_by == "path")
    measures = _measures(s, q, bitmaps=_bitmaps_fit(s, q))
    s.sql = (
        f"{ctes},\n{pv}\n"
        f"SELECT k, grouping(k) AS is_total, {measures} FROM pv "
        "GROUP BY GROUPING SETS ((k), ()) HAVING sum(counted) > 0 "
        f"ORDER BY grouping(k) DESC, sum(counted) DESC, k LIMIT {s.p(q.limit + 2)}"
    )
    return s


def shape(row: tuple[Any, ...] | None) -> dict[str, Any]:
    """Counts as integers; rates, averages and the scroll distribution computed here."""
    v = dict(zip(ROW_FIELDS, row or (0,) * len(ROW_FIELDS), strict=True))
    n = {
        f: int(v[f] or 0) for f in ROW_FIELDS if f not in ("eng_ms", "scroll_sum", "median_load_ms")
    }
    with_scroll = sum(n[f"scroll_{i}"] for i in range(4))
    return {
        "views": n["views"],
        "visitors": n["visitors"],
        "sessions": n["sessions"],
        "avg_engagement_seconds": ratio(round(float(v["eng_ms"] or 0)), n["eng_pageviews"] * 1000),
        "entries": n["entries"],
        "exits": n["exits"],
        "exit_rate": ratio(n["exits"], n["sessions"]),
        "bounce_rate": ratio(n["entries"] - n["entered_engaged"], n["entries"]),
        "scroll": {
            "pageviews": with_scroll,
            "buckets": {b: n[f"scroll_{i}"] for i, b in enumerate(SCROLL_BUCKETS)},
            "average": ratio(round(float(v["scroll_sum"] or 0) * 100), with_scroll * 100),
        },
        "median_load_ms": number_as_sent(v["median_load_ms"]),
    }


def number_as_sent(value: Any) -> int | float | None:
    """A stored number as it was sent: 910, not 910.0."""
    if value is None:
        return None
    f = float(value)
    return int(f) if f.is_integer() else f


def run(ctx: ReportContext, q: PagesQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    s = build(ctx, q, rng)
    found = ctx.engine.rows(s.sql, s.params.values)
    total = [r for r in found if r[1] == 1]
    rows = [r[:1] + r[2:] for r in found if r[1] != 1]
    return {
        "kind": "pages",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        "group_by": q.group_by,
        "rows": [{"key": str(r[0]), **shape(r[1:])} for r in rows[: q.limit]],
        "truncated": len(rows) > q.limit,
        "totals": shape(total[0][2:] if total else None),
        "freshness": freshness(ctx),
        "sql": [s.sql],
    }


REPORT = ReportKind(
    "pages",
    PagesQuery,
    run,
    "Views, engagement, entries, exits, bounce, scroll, load time per page",
    stored_sessions=True,
)
