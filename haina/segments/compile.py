"""A segment definition → one parameterised query of the people in it, for DuckDB and
ClickHouse alike. No user text becomes SQL: names, values and patterns are parameters.

The query groups the workspace's events by person (resolved through the identity graph, as
reports do) into one row per person with a column per condition (behaviour counts, trait
values, first / last touch), plus a CTE per sequence or summed trait; the definition's
AND / OR / NOT tree becomes the WHERE clause over those columns. Everyone with an event is in
the universe a NOT is taken against (events whose identifiers are all junk values are
nobody's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from haina.identity.rules import IdentityRules
from haina.query.dialect import Dialect, Params
from haina.query.filters import COLUMN_KEYS, PropertyFilter, compile_filters
from haina.query.scope import PERSON, PERSON_JOINS, identity_ctes
from haina.segments.definition import (
    EventCondition,
    EventSpec,
    GroupCondition,
    IdentifierCondition,
    NotCondition,
    ScoreCondition,
    SegmentDefinition,
    SequenceCondition,
    TagCondition,
    TouchCondition,
    TraitCondition,
    Window,
)

EVENT_NAME = (
    "CASE WHEN e.type = 'page' THEN '$pageview' WHEN e.type = 'screen' THEN '$screen' "
    "ELSE e.event END"
)
NOT_BOT = "NOT coalesce(e.is_bot, FALSE)"
# Candidates are the graph's people: events whose only identifiers are junk ("null", ...) are
# nobody's.
KNOWN = "(idu.person IS NOT NULL OR ida.person IS NOT NULL)"
TRAITS = '"traits"'  # how a context that carries traits is spotted in its JSON text


@dataclass
class Compiled:
    """`sql` selects `person` of every member; `params` are its values."""

    sql: str
    params: dict[str, Any]

    def count(self) -> str:
        return f"SELECT count(*) FROM ({self.sql}) m"

    def sample(self, limit: int) -> str:
        return f"SELECT person FROM ({self.sql}) m ORDER BY person LIMIT {int(limit)}"


@dataclass
class Compiler:
    d: Dialect
    workspace_id: str
    now: datetime
    rules: IdentityRules
    params: Params = field(init=False)
    columns: list[str] = field(default_factory=list)  # aggregates of the per-person row
    ctes: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)  # of the per-person row, by `pid`
    _traits: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = Params(self.d)
        self.ws = self.params.add(self.workspace_id)

    def column(self, expr: str) -> str:
        name = f"c{len(self.columns)}"
        self.columns.append(f"{expr} AS {name}")
        return f"pp.{name}"

    def query(self, select: list[str], where: str = "TRUE") -> Compiled:
        """One row per person (everyone with an event), the columns and CTEs the conditions
        compiled so far asked for, then `select` over them where `where` holds."""
        columns = "".join(f", {col}" for col in self.columns)
        extra = "".join(f",\n{cte}" for cte in self.ctes)
        sql = (
            f"WITH {identity_ctes(self.ws)},\n"
            f"pp AS (SELECT {PERSON} AS pid{columns} FROM events e {PERSON_JOINS} "
            f"WHERE e.workspace_id = {self.ws} AND {KNOWN} GROUP BY pid){extra}\n"
            f"SELECT {', '.join(select)} FROM pp{''.join(self.joins)} WHERE {where}"
        )
        return Compiled(sql, self.params.values)

    # -- conditions -----------------------------------------------------------------------

    def condition(self, c: Any) -> str:
        if isinstance(c, GroupCondition):
            parts = [self.condition(x) for x in c.conditions]
            if not parts:
                return "TRUE"
            return "(" + f" {c.type} ".join(parts) + ")"
        if isinstance(c, NotCondition):
            return f"(NOT {self.condition(c.condition)})"
        if isinstance(c, EventCondition):
            return self._event(c)
        if isinstance(c, SequenceCondition):
            return self._sequence(c)
        if isinstance(c, TraitCondition):
            return self._trait(c)
        if isinstance(c, TouchCondition):
            return self._touch(c)
        if isinstance(c, IdentifierCondition):
            return self._identifier(c)
        if isinstance(c, TagCondition):
            return self._tag(c)
        if isinstance(c, ScoreCondition):
            return self._score(c)
        raise TypeError(f"unknown condition {type(c).__name__}")

    def matches(self, spec: EventSpec) -> str:
        name = self.params.add(spec.event)
        filters = compile_filters(spec.filters, self._event_column, self.d, self.params)
        return f"({EVENT_NAME} = {name} AND {NOT_BOT} AND {filters})"

    def _event_column(self, f: PropertyFilter) -> str:
        if f.key.startswith("$"):
            return self.d.text(f"e.{COLUMN_KEYS[f.key]}")
        return self.d.prop("e.properties", f.key, self.params)

    def window(self, w: Window | None) -> str:
        if w is None:
            return "TRUE"
        if w.last_days is not None:
            lo: datetime | None = self.now - timedelta(days=w.last_days)
            hi: datetime | None = self.now
        else:
            lo, hi = _utc(w.from_), _utc(w.to)
        parts = []
        if lo is not None:
            parts.append(f"e.timestamp >= {self.params.add(lo)}")
        if hi is not None:
            parts.append(f"e.timestamp <= {self.params.add(hi)}")
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"

    def _event(self, c: EventCondition) -> str:
        hit = f"{self.matches(c)} AND {self.window(c.window)}"
        n = self.column(self.d.count_if(hit))
        op = {"gte": ">=", "lte": "<=", "eq": "="}[c.count.op]
        return f"({n} {op} {int(c.count.value)})"

    def _sequence(self, c: SequenceCondition) -> str:
        name = f"sq{len(self.ctes)}"
        a, b = self.matches(c.first), self.matches(c.then)
        within = self.params.add(c.within_days * 86_400_000_000)
        order = (
            "PARTITION BY person ORDER BY ts, mid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
        )
        self.ctes.append(
            f"{name} AS (SELECT DISTINCT person FROM (SELECT person, ts, b, "
            f"max(CASE WHEN a THEN ts END) OVER ({order}) AS last_a FROM ("
            f"SELECT {PERSON} AS person, e.timestamp AS ts, e.message_id AS mid, {a} AS a, "
            f"{b} AS b FROM events e {PERSON_JOINS} WHERE e.workspace_id = {self.ws} "
            f"AND {self.window(c.window)} AND ({a} OR {b})) s1) s2 "
            f"WHERE b AND last_a IS NOT NULL "
            f"AND {self.d.epoch_us('ts')} - {self.d.epoch_us('last_a')} <= {within})"
        )
        return f"(pp.pid IN (SELECT person FROM {name}))"

    def trait_value(self, key: str) -> str:
        """The trait as the profile shows it: each event's `traits`, else `context.traits`,
        by the trait's merge strategy."""
        if key in self._traits:
            return self._traits[key]
        d = self.d
        raw = (
            f"coalesce({d.prop('e.traits', key, self.params)}, "
            f"{d.nested_prop('e.context', 'traits', key, self.params)})"
        )
        at = d.tuple_("e.timestamp", "e.message_id")
        strategy = self.rules.strategy(key)
        # Only events that carry traits are read (a text search before any JSON is parsed:
        # parsing every event's context costs most of a segment's time at 10 M events).
        carries = f"(e.traits IS NOT NULL OR {d.contains('e.context', self.params.add(TRAITS))})"
        source = (
            f"FROM events e {PERSON_JOINS} WHERE e.workspace_id = {self.ws} AND {KNOWN} "
            f"AND {carries}"
        )
        name = f"tv{len(self.ctes)}"
        if strategy == "sum":
            num = d.to_number(raw)
            self.ctes.append(
                f"{name} AS (SELECT pid, sum(lv) AS v FROM (SELECT {PERSON} AS pid, "
                f"coalesce(e.user_id, e.anonymous_id) AS own_id, "
                f"{d.arg_max_if(num, at, f'{num} IS NOT NULL')} AS lv {source} "
                f"GROUP BY pid, own_id) s WHERE lv IS NOT NULL GROUP BY pid)"
            )
            value = d.text(f"{name}.v")
        else:
            if strategy == "non_empty":
                cond = f"{raw} IS NOT NULL AND {raw} NOT IN ('', '[]', '{{}}')"
            else:
                cond = f"{raw} IS NOT NULL"
            pick = d.arg_min_if if strategy == "oldest" else d.arg_max_if
            self.ctes.append(
                f"{name} AS (SELECT {PERSON} AS pid, {pick(raw, at, cond)} AS v {source} "
                "GROUP BY pid)"
            )
            value = f"{name}.v"
        self.joins.append(f" LEFT JOIN {name} ON {name}.pid = pp.pid")
        self._traits[key] = value
        return value

    def _trait(self, c: TraitCondition) -> str:
        value = self.trait_value(c.key)
        return compile_filters([c.as_filter()], lambda _f: value, self.d, self.params)

    def _touch(self, c: TouchCondition) -> str:
        d = self.d
        col = f"e.{c.field}"
        at = d.tuple_("e.timestamp", "e.message_id")
        pick = d.arg_min_if if c.kind == "first_touch" else d.arg_max_if
        value = self.column(pick(col, at, "e.type = 'page' AND e.channel IS NOT NULL"))
        f = PropertyFilter(key="$" + c.field, op=c.op, value=c.value)
        return compile_filters([f], lambda _f: value, d, self.params)

    def _tag(self, c: TagCondition) -> str:
        tag = self.params.add(c.tag)
        confident = ""
        if c.min_confidence is not None:
            confident = (
                f" AND coalesce(confidence, 1.0) >= {self.params.add(float(c.min_confidence))}"
            )
        has = (
            f"pp.pid IN (SELECT person_id FROM person_tags WHERE workspace_id = {self.ws} "
            f"AND tag = {tag}{confident} UNION ALL SELECT n.person_id FROM manual_tags m "
            "JOIN identity_nodes n ON n.workspace_id = m.workspace_id AND n.id_type = m.id_type "
            f"AND n.id_value = m.id_value WHERE m.workspace_id = {self.ws} AND m.tag = {tag})"
        )
        return f"({has})" if c.present else f"(NOT ({has}))"

    def _score(self, c: ScoreCondition) -> str:
        name = f"sc{len(self.ctes)}"
        column = {"score": self.d.text("score"), "grade": "grade", "stage": "stage"}[c.field]
        self.ctes.append(
            f"{name} AS (SELECT person_id AS pid, {column} AS v FROM person_scores "
            f"WHERE workspace_id = {self.ws})"
        )
        self.joins.append(f" LEFT JOIN {name} ON {name}.pid = pp.pid")
        f = PropertyFilter(key=c.field, op=c.op, value=c.value, source="person")
        return compile_filters([f], lambda _f: f"{name}.v", self.d, self.params)

    def _identifier(self, c: IdentifierCondition) -> str:
        kind = self.params.add(c.type)
        has = (
            f"pp.pid IN (SELECT person_id FROM identity_nodes WHERE workspace_id = {self.ws} "
            f"AND id_type = {kind})"
        )
        return f"({has})" if c.present else f"(NOT ({has}))"


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def compile_segment(
    definition: SegmentDefinition,
    dialect: Dialect,
    workspace_id: str,
    *,
    now: datetime | None = None,
    rules: IdentityRules | None = None,
    with_traits: Sequence[str] = (),
) -> Compiled:
    """The query of a segment's members (`now`: naive UTC, for `last_days` windows), with
    the values of `with_traits` (as the profile shows them) after `person`."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    c = Compiler(dialect, workspace_id, now, rules or IdentityRules())
    where = c.condition(definition.as_group())
    shown = [f"{c.trait_value(t)} AS t{i}" for i, t in enumerate(with_traits)]
    return c.query(["pp.pid AS person", *shown], where)
