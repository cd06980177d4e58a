"""Paths (behaviour flow): the most common paths of sessions from a start point or to an end
point, N steps, with drop-off at each step, shaped for ECharts' Sankey diagram.

PostHog's Paths semantics (posthog/hogql_queries/insights/paths_query_runner.py): paths run
within a session; excluded items are dropped, then each run of one item collapses to its last
event; steps are numbered ("1_/home", "2_/pricing") so the graph is a DAG; a start point keeps
the path from its first occurrence on, an end point the N steps that led to its first
occurrence; with both, a path longer than N keeps its head and tail around a "..." step. All
of it, aggregates included, is one SQL statement over the sessions.

With stored sessions it reads the stored runs and needs no window pass over the steps (about
1.6 s at 10 M events on the 2-core benchmark machine; the target is 2 s). Details:
docs/reports/paths.md, "Performance".
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from haina.identity.store import labels
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
from haina.query.stored import person_ids
from haina.reports.registry import ReportKind

ELLIPSIS = "..."
NOT_A_STEP = "$engagement"  # measures a pageview; not something the visitor did
SESSION = "PARTITION BY person, sid"
# The groupings of `agg`, as grouping(step, prev_item, item) numbers them (bit set = the
# column is not grouped on).
LINKS, NODES, STEPS, PATHS = 0, 2, 3, 7


class Row(NamedTuple):
    """One row of `build`; which fields mean something depends on the grouping."""

    step: int
    prev_item: str
    item: str
    path: tuple[str | None, ...]
    n: int
    us: int
    people: int
    ended: int
    firsts: int

    @classmethod
    def of(cls, r: tuple[Any, ...], width: int) -> Row:
        n, us, people, ended, firsts = (int(v or 0) for v in r[4 + width :])
        path = tuple(r[4 : 4 + width])
        return cls(int(r[1] or 0), r[2], r[3], path, n, us, people, ended, firsts)


class PathCleaning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regex: str = Field(min_length=1, max_length=1000, description="RE2 regular expression")
    alias: str = Field(max_length=1000, description="replacement; `\\1` is the first group")

    @model_validator(mode="after")
    def _re2(self) -> PathCleaning:
        re2_pattern(self.regex)
        return self


class PathsQuery(ReportQuery):
    kind: Literal["paths"] = "paths"
    path_type: Literal["page", "event", "page_and_event"] = "page"
    steps: int = Field(5, ge=2, le=10, description="steps shown per path")
    start_point: str | None = Field(None, min_length=1, max_length=2000)
    end_point: str | None = Field(None, min_length=1, max_length=2000)
    exclude: list[str] = Field(default_factory=list, max_length=100)
    path_regex_cleaning: list[PathCleaning] = Field(default_factory=list, max_length=20)
    min_edge_weight: int | None = Field(None, ge=1, description="drop links with fewer sessions")
    edge_limit: int = Field(50, ge=1, le=1000, description="keep the links with most sessions")
    path_limit: int = Field(20, ge=1, le=200, description="how many top paths to list")

    @model_validator(mode="after")
    def _room_for_both(self) -> PathsQuery:
        if self.start_point and self.end_point and self.steps < 3:
            raise ValueError("steps must be at least 3 with both start_point and end_point")
        return self


def item_sql(s: Scope, q: PathsQuery) -> tuple[str, str]:
    """(condition on the `sx` rows that are path items, SQL text of their cleaned item)."""
    page = "coalesce(sx.path, '')"
    if q.path_type == "page":
        cond, item = "sx.event_name = '$pageview'", page
    else:
        cond, item = f"sx.event_name <> {s.p(NOT_A_STEP)}", "coalesce(sx.event_name, '')"
        if q.path_type == "page_and_event":
            item = f"CASE WHEN sx.event_name = '$pageview' THEN {page} ELSE {item} END"
    for rule in q.path_regex_cleaning:
        item = s.d.regexp_replace(item, s.p(rule.regex), s.p(rule.alias))
    return cond, item


def items_cte(s: Scope, q: PathsQuery) -> str:
    """`pe`: the path items of counted sessions (selected events, exclusions dropped); `pc`:
    each run of one item collapsed to its last event, numbered k = 1..n in the session."""
    cond, item = item_sql(s, q)
    if s.stored and q.path_type == "page" and not q.exclude and not q.path_regex_cleaning:
        return _stored_items(s, q, cond, item)
    kept = f" WHERE pi NOT IN {s.p(q.exclude)}" if q.exclude else ""
    after = f"OVER ({SESSION} ORDER BY ts DESC, uuid DESC)"
    having, holding = _holding(s, q.start_point or q.end_point, cond, item)
    return (
        f"{having}pe0 AS (SELECT sx.person AS person, sx.sid AS sid, sx.ts AS ts, "
        f"sx.uuid AS uuid, {item} AS pi FROM sx JOIN sessions ss ON sx.person = ss.person "
        f"AND sx.sid = ss.sid{holding} WHERE ss.ok AND sx.sel AND {cond}),\n"
        f"pe AS (SELECT pe0.*, {s.d.prev('pi')} {after} AS next_pi FROM pe0{kept}),\n"
        "pc AS (SELECT person, sid, ts, pi, "
        f"CAST(row_number() OVER ({SESSION} ORDER BY ts, uuid) AS BIGINT) AS k, "
        f"CAST(count(*) OVER ({SESSION}) AS BIGINT) AS n "
        "FROM pe WHERE next_pi IS NULL OR next_pi <> pi)"
    )


def _holding(s: Scope, point: str | None, cond: str, item: str) -> tuple[str, str]:
    """(`ph` CTE, join on it): the sessions holding `point`. A session without the start (or
    end) point shows no path, so only those are numbered (at 10 M events most sessions never
    reach a given page). ("", "") without a point."""
    if not point:
        return "", ""
    return (
        f"ph AS (SELECT DISTINCT sx.person AS hperson, sx.sid AS hsid FROM sx "
        f"WHERE sx.sel AND {cond} AND {item} = {s.p(point)}),\n",
        " JOIN ph ON sx.person = ph.hperson AND sx.sid = ph.hsid",
    )


def _stored_items(s: Scope, q: PathsQuery, cond: str, item: str) -> str:
    """`pc` from the stored runs of pageviews: the collapse and the numbering that
    `items_cte` computes with two window passes (same rows, same k and n)."""
    having, holding = _holding(s, q.end_point, cond, item)  # a start point: bounds_cte
    ok = "TRUE"
    if not s.all_sessions_count:
        holding = f" JOIN sessions ss ON sx.person = ss.person AND sx.sid = ss.sid{holding}"
        ok = "ss.ok"
    return (
        f"{having}pc AS (SELECT sx.person AS person, sx.sid AS sid, sx.ts AS ts, "
        f"{item} AS pi, sx.run_k AS k, sx.runs AS n FROM sx{holding} "
        f"WHERE {ok} AND {cond} AND sx.run_last)"
    )


def bounds_cte(s: Scope, q: PathsQuery) -> str:
    """`pb`: items with the session's first and last shown k (`kf`, `kl`); NULL when the
    session lacks the start or end point (it then shows no path)."""
    n = s.p(q.steps)
    kf = "CAST(1 AS BIGINT)"
    if q.start_point and not q.end_point:
        # The first start point per session by aggregation and a join (an inner join: a
        # session without it shows no path) — cheaper than a window over every item.
        return (
            f"pk AS (SELECT person AS kperson, sid AS ksid, min(k) AS kf FROM pc "
            f"WHERE pi = {s.p(q.start_point)} GROUP BY person, sid),\n"
            f"pb AS (SELECT pc.*, pk.kf AS kf, least(n, pk.kf + {n} - 1) AS kl FROM pc "
            "JOIN pk ON pc.person = pk.kperson AND pc.sid = pk.ksid)"
        )
    if q.start_point:
        kf = f"min(CASE WHEN pi = {s.p(q.start_point)} THEN k END) OVER ({SESSION})"
    if not q.end_point:
        return f"pb AS (SELECT pc.*, {kf} AS kf, least(n, {kf} + {n} - 1) AS kl FROM pc)"
    kl = f"min(CASE WHEN pi = {s.p(q.end_point)} AND k >= kf THEN k END) OVER ({SESSION})"
    if q.start_point:
        return f"pf AS (SELECT pc.*, {kf} AS kf FROM pc),\npb AS (SELECT pf.*, {kl} AS kl FROM pf)"
    # The N steps that led to the end point.
    return (
        f"pf AS (SELECT pc.*, {kf} AS kf FROM pc),\n"
        f"pl AS (SELECT person, sid, ts, pi, k, n, {kl} AS kl FROM pf),\n"
        f"pb AS (SELECT pl.*, greatest(kl - {n} + 1, 1) AS kf FROM pl)"
    )


def steps_cte(s: Scope, q: PathsQuery) -> str:
    """`ps0`: shown items with their step and `ended` (the path's last step, and the session
    had no item after it). A path longer than N steps (possible only with both points) keeps
    `head` steps, "...", and `tail` steps. `sp`: one row per session with its path as
    columns i1..iN, the µs time of each step t1..tN and the step that ended it. `ps`: `sp`
    unpivoted, one row per step with the previous step's item and the µs since it (no
    window pass over the steps: an aggregate and N selects of the sessions)."""
    rel, size = "(k - kf + 1)", "(kl - kf + 1)"
    step, item, keep = rel, "pi", "k >= kf AND k <= kl"
    if q.start_point and q.end_point:
        tail = (q.steps - 1) // 2
        head, n = s.p(q.steps - 1 - tail), s.p(q.steps)
        shown = f"({size} <= {n} OR {rel} <= {head} + 1)"
        step = f"CASE WHEN {shown} THEN {rel} ELSE {n} - ({size} - {rel}) END"
        item = f"CASE WHEN {size} > {n} AND {rel} = {head} + 1 THEN {s.p(ELLIPSIS)} ELSE pi END"
        keep += f" AND ({shown} OR {rel} > {size} - {s.p(tail)})"
    d = s.d
    ended = f"CASE WHEN {step} = least({size}, {s.p(q.steps)}) AND n <= kl THEN 1 ELSE 0 END"
    per_step = ", ".join(
        f"max(CASE WHEN step = {k} THEN item END) AS i{k}, "
        f"max(CASE WHEN step = {k} THEN {d.epoch_us('ts')} END) AS t{k}"
        for k in range(1, q.steps + 1)
    )
    prev = " ".join(f"WHEN {k} THEN i{k - 1}" for k in range(2, q.steps + 1))
    gap = " ".join(f"WHEN {k} THEN t{k} - t{k - 1}" for k in range(2, q.steps + 1))
    this = " ".join(f"WHEN {k} THEN i{k}" for k in range(1, q.steps + 1))
    cols = ", ".join(f"i{k}" for k in range(1, q.steps + 1))
    return (
        f"ps0 AS (SELECT person, sid, ts, {step} AS step, {item} AS item, {ended} AS ended "
        f"FROM pb WHERE {keep}),\n"
        f"sp AS (SELECT person, sid, {per_step}, "
        "max(CASE WHEN ended = 1 THEN step END) AS ended_at FROM ps0 GROUP BY person, sid),\n"
        f"ps1 AS (SELECT sp.*, {d.unnest_range(1, q.steps)} AS step FROM sp),\n"
        f"ps AS (SELECT person, step, CASE step {this} END AS item, "
        f"CASE step {prev} END AS prev_item, CASE step {gap} ELSE 0 END AS gap_us, "
        f"CASE WHEN ended_at = step THEN 1 ELSE 0 END AS ended, {cols} FROM ps1 "
        f"WHERE (CASE step {this} END) IS NOT NULL)"
    )


def totals_cte(s: Scope, q: PathsQuery) -> str:
    """`agg`: one pass over `ps` for four groupings, told apart by `g`: links (step,
    prev_item, item), nodes (step, item), steps (step) and paths (i1..iN). Nodes show their
    visitors: rather than a distinct count (which would be computed for every grouping), a
    fifth grouping (step, item, person) has one row per visitor of a node, and `agg` folds
    those into their node's row. `ranked` numbers links and paths by sessions (ties by the
    keys); `cut` keeps the top links and paths, all steps, and the nodes at least as big as
    the smallest kept link (the only ones a kept link can touch). Each CTE reads the one
    before once, so ClickHouse, which inlines CTEs, runs the session steps once too."""
    cols = ", ".join(f"i{k}" for k in range(1, q.steps + 1))
    weak = f" OR n < {s.p(q.min_edge_weight)}" if q.min_edge_weight else ""
    sessions = f"CASE WHEN g = {PATHS} THEN firsts ELSE n END"
    top = f"min(CASE WHEN g = {LINKS} AND rn <= {s.p(q.edge_limit)} THEN n END) OVER ()"
    # grouping(step, prev_item, item, person): a bit set per column not grouped on
    sets = {1: LINKS, 5: NODES, 7: STEPS, 15: PATHS, 4: NODES}
    g = "CASE g0 " + " ".join(f"WHEN {k} THEN {v}" for k, v in sets.items()) + " END"
    visitor = "g0 = 4"
    return (
        "agg0 AS (SELECT grouping(step, prev_item, item, person) AS g0, step, prev_item, "
        f"item, {cols}, count(*) AS n, sum(gap_us) AS us, sum(ended) AS ended, "
        "sum(CASE WHEN step = 1 THEN 1 ELSE 0 END) AS firsts FROM ps GROUP BY GROUPING SETS "
        f"((step, prev_item, item), (step, item), (step), ({cols}), (step, item, person))),\n"
        f"agg AS (SELECT {g} AS g, step, prev_item, item, {cols}, "
        f"sum(CASE WHEN {visitor} THEN 0 ELSE n END) AS n, "
        f"sum(CASE WHEN {visitor} THEN 0 ELSE us END) AS us, "
        f"sum(CASE WHEN {visitor} THEN 1 ELSE 0 END) AS people, "
        f"sum(CASE WHEN {visitor} THEN 0 ELSE ended END) AS ended, "
        f"sum(CASE WHEN {visitor} THEN 0 ELSE firsts END) AS firsts FROM agg0 "
        f"GROUP BY {g}, step, prev_item, item, {cols}),\n"
        f"ranked AS (SELECT agg.*, row_number() OVER (PARTITION BY g ORDER BY {sessions} DESC, "
        f"step, prev_item, item, {cols}) AS rn FROM agg "
        f"WHERE NOT (g = {LINKS} AND (prev_item IS NULL{weak}))),\n"
        f"cut AS (SELECT ranked.*, {top} AS weakest FROM ranked)"
    )


def build(ctx: ReportContext, q: PathsQuery, rng: Range) -> Scope:
    """One statement; rows (g, step, prev_item, item, i1..iN, n, us, people, ended, firsts)
    as `totals_cte` describes."""
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    parts = [s.ctes(sessions=True), items_cte(s, q), bounds_cte(s, q), steps_cte(s, q)]
    parts.append(totals_cte(s, q))
    cols = ", ".join(f"i{k}" for k in range(1, q.steps + 1))
    s.sql = (
        ",\n".join(parts) + f"\nSELECT g, step, prev_item, item, {cols}, "
        "CAST(n AS BIGINT), CAST(us AS BIGINT), CAST(people AS BIGINT), "
        "CAST(ended AS BIGINT), CAST(firsts AS BIGINT) FROM cut "
        f"WHERE (g = {LINKS} AND rn <= {s.p(q.edge_limit)}) OR (g = {PATHS} AND rn <= "
        f"{s.p(q.path_limit)}) OR g = {STEPS} OR (g = {NODES} AND n >= weakest)"
    )
    return s


def shape(rows: list[tuple[Any, ...]], q: PathsQuery) -> dict[str, Any]:
    """Rows of `build` → Sankey nodes and links (only links reachable from step 1 through
    kept links, as PostHog's validate_results), steps with drop-off, and top paths."""
    by_set: dict[int, list[Row]] = {LINKS: [], NODES: [], STEPS: [], PATHS: []}
    for r in rows:
        by_set[int(r[0])].append(Row.of(r, q.steps))
    links = _links(by_set[LINKS])
    named = {n for link in links for n in (link["source"], link["target"])}
    nodes = [
        {"name": f"{r.step}_{r.item}", "item": r.item, "step": r.step, "sessions": r.n,
         "visitors": r.people}
        for r in sorted(by_set[NODES], key=lambda r: (r.step, -r.n, r.item))
        if f"{r.step}_{r.item}" in named
    ]  # fmt: skip
    steps = _steps(by_set[STEPS], q.steps)
    return {
        "sessions": steps[0]["sessions"],
        "nodes": nodes,
        "links": links,
        "steps": steps,
        "top_paths": _top_paths(by_set[PATHS]),
    }


def _links(rows: list[Row]) -> list[dict[str, Any]]:
    """Most sessions first; a link whose source no kept link reaches from step 1 is dropped
    (edge_limit or min_edge_weight cut the way to it)."""
    reached: set[str] = set()
    kept = []
    for r in sorted(rows, key=lambda r: r.step):  # step by step, so reach propagates
        if r.step == 2 or f"{r.step - 1}_{r.prev_item}" in reached:
            reached.add(f"{r.step}_{r.item}")
            kept.append(r)
    kept.sort(key=lambda r: (-r.n, r.step, r.prev_item, r.item))
    return [
        {"source": f"{r.step - 1}_{r.prev_item}", "target": f"{r.step}_{r.item}", "value": r.n,
         "avg_seconds": round(r.us / r.n / 1e6, 3)}
        for r in kept
    ]  # fmt: skip


def _steps(rows: list[Row], n: int) -> list[dict[str, Any]]:
    counts = {r.step: (r.n, r.ended) for r in rows}
    out = []
    for k in range(1, n + 1):
        sessions, ended = counts.get(k, (0, 0))
        rate = round(ended / sessions, 4) if sessions else None
        out.append({"step": k, "sessions": sessions, "dropoff": ended, "dropoff_rate": rate})
    return out


def _top_paths(rows: list[Row]) -> list[dict[str, Any]]:
    paths = [([i for i in r.path if i is not None], r.firsts) for r in rows]
    # As SQL orders them: most sessions first, then item by item, a shorter path after.
    paths.sort(key=lambda p: (-p[1], [(0, i) for i in p[0]] + [(1, "")]))
    return [{"path": path, "sessions": n} for path, n in paths]


def run(ctx: ReportContext, q: PathsQuery) -> dict[str, Any]:
    rng = resolve_range(q, ctx)
    s = build(ctx, q, rng)
    result = shape(ctx.engine.rows(s.sql, s.params.values), q)
    return {
        "kind": "paths",
        "range": {
            "from": rng.local_from.isoformat(),
            "to": rng.local_to.isoformat(),
            "timezone": rng.tz,
        },
        **result,
        "freshness": freshness(ctx),
        "sql": [s.sql],
    }


REPORT = ReportKind(
    "paths",
    PathsQuery,
    run,
    "Most common paths from a start or to an end point, for a Sankey",
    stored_sessions=True,
)


class PathsPeopleQuery(PathsQuery):
    """The people behind one node of the paths report: who went through `item` at `step`."""

    step: int = Field(ge=1, le=10, description="1-based step of the node")
    item: str = Field(max_length=2000, description="the node's item (page path or event)")
    limit: int = Field(100, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


def people(ctx: ReportContext, q: PathsPeopleQuery) -> dict[str, Any]:
    """Everyone counted in the node's `visitors` (sorted by person id), a page of them with
    the identifier to show and their person id, which is their profile's."""
    rng = resolve_range(q, ctx)
    s = Scope(ctx, q, rng, lookback_us=SESSION_CAP_US, stored=True)
    parts = [s.ctes(sessions=True), items_cte(s, q), bounds_cte(s, q), steps_cte(s, q)]
    s.sql = (
        ",\n".join(parts) + "\nSELECT DISTINCT person FROM ps "
        f"WHERE step = {s.p(q.step)} AND item = {s.p(q.item)}"
    )
    rows = ctx.engine.arrow(s.sql, s.params.values)
    who = rows.column("person")
    if pa.types.is_integer(who.type):  # numbers of the stored tables stand for people
        who = person_ids(ctx.engine, ctx.workspace_id, who.combine_chunks())
    everyone = sorted(str(p) for p in who.to_pylist())
    page = everyone[q.offset : q.offset + q.limit]
    named = labels(ctx.engine, ctx.workspace_id, page)
    return {
        "kind": "paths_people",
        "step": q.step,
        "item": q.item,
        "total": len(everyone),
        "people": [
            {"person": p, "identifier": named.get(p, {"type": None, "value": p})} for p in page
        ],
        "sql": s.sql,
    }


PEOPLE = ReportKind(
    "paths_people", PathsPeopleQuery, people, "The people through a node of the paths report",
    stored_sessions=True,
)  # fmt: skip
