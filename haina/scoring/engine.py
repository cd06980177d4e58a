"""Lead scores: computed for everyone of a workspace from its scoring model, kept with their
explanation, their history and the lifecycle stage they imply (docs/scoring.md).

One query gives, per person, whether each fit rule matches, each engagement rule's decayed
occurrences (sum and most recent), each signal's count, orders and whether the person is
known; the points, grade, contributions and stage are worked out here from those numbers.
Bots' events never score (the event conditions leave them out).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from haina.identity.rules import IdentityRules
from haina.identity.store import refresh as refresh_identity
from haina.profiles.events import PersonEvent
from haina.query.dialect import DUCKDB
from haina.query.filters import PropertyFilter, compile_filters
from haina.scoring.model import GRADES, Grade, ScoringModel
from haina.segments.compile import NOT_BOT, Compiler
from haina.segments.definition import Window
from haina.store.events.duckdb_store import insert_rows, transaction

STAGES = ("anonymous_visitor", "known_lead", "marketing_qualified", "sales_qualified", "customer")
STAGE_CHANGED = "lifecycle stage changed"
ORDER_EVENTS = ("Order Completed", "purchase")


@dataclass(frozen=True, slots=True)
class Scored:
    person_id: str
    score: float
    grade: Grade
    fit: float
    engagement: float
    stage: str
    contributions: list[dict[str, Any]]


def _clamp(value: float, hi: float) -> float:
    return max(0.0, min(hi, value))


def compute(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    model: ScoringModel,
    now: datetime,
) -> list[Scored]:
    """Everyone's score now (the identity graph refreshed first)."""
    refresh_identity(conn, workspace_id, rules)
    c = Compiler(DUCKDB, workspace_id, now, rules)
    d, p = c.d, c.params
    select = ["pp.pid"]
    for fr in model.fit:
        cond = compile_filters([fr.as_filter()], _always(c.trait_value(fr.key)), d, p)
        select.append(f"CASE WHEN {cond} THEN 1 ELSE 0 END")
    for rule in model.engagement:
        half = (rule.half_life_days or model.half_life_days) * 86_400_000_000
        decay = (
            f"pow(0.5, ({d.epoch_us(p.add(now))} - {d.epoch_us('e.timestamp')}) / {p.add(half)})"
        )
        hit = f"{c.matches(rule)} AND e.timestamp <= {p.add(now)}"
        select.append(c.column(f"sum(CASE WHEN {hit} THEN {decay} ELSE 0 END)"))
        select.append(c.column(f"max(CASE WHEN {hit} THEN {decay} ELSE 0 END)"))
    for signal in model.signals:
        window = Window(last_days=signal.window_days) if signal.window_days else None
        hit = f"{c.matches(signal)} AND {c.window(window)}"
        select.append(c.column(d.count_if(hit)))
    orders = f"e.type = 'track' AND e.event IN {p.add(list(ORDER_EVENTS))} AND {NOT_BOT}"
    select.append(c.column(d.count_if(orders)))
    known = (
        f"pp.pid IN (SELECT person_id FROM identity_nodes WHERE workspace_id = {c.ws} "
        "AND id_type <> 'anonymous_id')"
    )
    select.append(f"CASE WHEN {known} THEN 1 ELSE 0 END")
    compiled = c.query(select)
    out = []
    for row in conn.execute(compiled.sql, compiled.params).fetchall():
        out.append(_score(model, row))
    return out


def _always(expr: str) -> Callable[[PropertyFilter], str]:
    return lambda _f: expr


def _score(model: ScoringModel, row: tuple[Any, ...]) -> Scored:
    it = iter(row)
    pid = next(it)
    parts: list[dict[str, Any]] = []
    fit_points = 0.0
    for fr in model.fit:
        if next(it):
            fit_points += fr.points
            parts.append({"rule": fr.name, "kind": "fit", "points": float(fr.points)})
    engaged = 0.0
    for rule in model.engagement:
        total, latest = float(next(it) or 0), float(next(it) or 0)
        points = rule.points * (latest if rule.count == "once" else total)
        points = min(points, rule.limit)
        if points >= 0.05:
            engaged += points
            parts.append({"rule": rule.name, "kind": "engagement", "points": round(points, 1)})
    floor: Grade | None = None
    for signal in model.signals:
        if int(next(it) or 0) >= signal.min_count:
            engaged += signal.points
            parts.append(
                {"rule": signal.name, "kind": "signal", "points": float(signal.points),
                 "min_grade": signal.min_grade}
            )  # fmt: skip
            if signal.min_grade and (
                floor is None or GRADES.index(signal.min_grade) < GRADES.index(floor)
            ):
                floor = signal.min_grade
    orders, known = int(next(it) or 0), bool(next(it))
    fit = _clamp(fit_points, model.fit_max)
    engagement = _clamp(engaged, model.engagement_max)
    score = round(min(100.0, fit + engagement), 1)
    st = model.stages
    if orders:
        stage = "customer"
    elif not model.empty and score >= st.sales_qualified and known:
        stage = "sales_qualified"
    elif not model.empty and score >= st.marketing_qualified and known:
        stage = "marketing_qualified"
    else:
        stage = "known_lead" if known else "anonymous_visitor"
    parts.sort(key=lambda x: (-x["points"], x["rule"]))
    return Scored(pid, score, model.grade(score, floor), round(fit, 1), round(engagement, 1),
                  stage, parts)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Refreshed:
    people: int
    changed: int  # scores, grades or stages that changed (history rows)
    stage_events: list[PersonEvent]


def refresh(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    model: ScoringModel,
    *,
    now: datetime | None = None,
) -> Refreshed:
    """Recompute the workspace's scores; record what changed in the history and return the
    lifecycle stage changes as events. Stages only move forward: a lead whose score decays
    below the threshold stays qualified, so each crossing is one event."""
    at = now or datetime.now(UTC).replace(tzinfo=None)
    new = compute(conn, workspace_id, rules, model, at)
    old = {
        pid: (score, grade, stage)
        for pid, score, grade, stage in conn.execute(
            "SELECT person_id, score, grade, stage FROM person_scores WHERE workspace_id = ?",
            [workspace_id],
        ).fetchall()
    }
    history, events, rows = [], [], []
    for s in new:
        before = old.get(s.person_id)
        stage = s.stage
        if before is not None and STAGES.index(before[2]) > STAGES.index(stage):
            stage = before[2]  # never backwards
        if before is None and s.score == 0 and stage == "anonymous_visitor":
            pass  # nothing to say about a new anonymous visitor
        elif before is None or abs(before[0] - s.score) >= 1 or before[1:] != (s.grade, stage):
            why: dict[str, Any] = {"contributions": s.contributions[:5]}
            if before is not None:
                why["previous"] = {"score": before[0], "grade": before[1], "stage": before[2]}
            history.append(
                (
                    workspace_id,
                    s.person_id,
                    at,
                    s.score,
                    s.grade,
                    stage,
                    json.dumps(why, ensure_ascii=False),
                )
            )
        previous_stage = before[2] if before is not None else "anonymous_visitor"
        if stage != previous_stage:
            events.append(
                PersonEvent(
                    s.person_id,
                    STAGE_CHANGED,
                    at,
                    f"stage-{s.person_id}-{stage}",
                    {"from": previous_stage, "to": stage, "score": s.score, "grade": s.grade},
                )
            )
        rows.append(
            (workspace_id, s.person_id, s.score, s.grade, s.fit, s.engagement, stage,
             json.dumps(s.contributions, ensure_ascii=False), at)
        )  # fmt: skip
    with transaction(conn):
        conn.execute("DELETE FROM person_scores WHERE workspace_id = ?", [workspace_id])
        insert_rows(conn, "person_scores", rows)
        insert_rows(conn, "score_history", history)
    return Refreshed(len(rows), len(history), events)


def score_of(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person_id: str
) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT score, grade, fit, engagement, stage, contributions, updated_at "
        "FROM person_scores WHERE workspace_id = ? AND person_id = ?",
        [workspace_id, person_id],
    ).fetchone()
    if row is None:
        return None
    score, grade, fit, engagement, stage, contributions, at = row
    return {
        "value": score,
        "grade": grade,
        "fit": fit,
        "engagement": engagement,
        "stage": stage,
        "contributions": json.loads(contributions),
        "updated_at": at.isoformat(timespec="seconds") + "Z",
    }


def history_of(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, person_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT changed_at, score, grade, stage, why FROM score_history WHERE workspace_id = ? "
        "AND person_id = ? ORDER BY changed_at DESC LIMIT ?",
        [workspace_id, person_id, limit],
    ).fetchall()
    return [
        {"at": at.isoformat(timespec="seconds") + "Z", "score": score, "grade": grade,
         "stage": stage, **json.loads(why)}
        for at, score, grade, stage, why in rows
    ]  # fmt: skip
