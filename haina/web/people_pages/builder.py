"""The condition builder of the segment and tag-rule pages: form fields ⇄ a segment definition.

A definition's top level is AND or OR over conditions (docs/segments.md). The form edits the
simple ones as rows, one condition each with NOT per row: an event with its count, window
(the last N days) and one property filter; a trait, a tag, the first or last touch, an
identifier type, or a test on the score, grade or stage. Everything else (nested groups,
sequences, several filters, fixed date windows) is edited as JSON in the textarea the form
also shows: one condition, a list of them, or a whole definition.

    ?type=AND&c0_kind=event&c0_event=Order+Completed&c0_count_op=gte&c0_count=2&c0_days=30
     &c1_kind=trait&c1_not=1&c1_key=city&c1_op=eq&c1_value=上海&extra=[...]

Nothing here becomes SQL: the definition goes to haina/segments, which validates and compiles
it with every value as a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import TypeAdapter, ValidationError

from haina.segments.definition import TOUCH_FIELDS, Condition, SegmentDefinition
from haina.web.report_filters import PROPERTY_OPS, property_filter

ROW_KINDS = ("event", "trait", "tag", "first_touch", "last_touch", "identifier", "score")
COUNT_OPS = ("gte", "lte", "eq")
SCORE_FIELDS = ("score", "grade", "stage")
OPS = PROPERTY_OPS
MAX_ROWS = 30
# The fields each kind of row shows and sends (besides `kind` and `not`).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "event": ("event", "count_op", "count", "days", "key", "op", "value"),
    "trait": ("key", "op", "value"),
    "tag": ("tag", "confidence"),
    "first_touch": ("field", "op", "value"),
    "last_touch": ("field", "op", "value"),
    "identifier": ("type",),
    "score": ("field", "op", "value"),
}
_CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


@dataclass(frozen=True, slots=True)
class Row:
    """One top-level condition as the form shows it (every field as the text typed)."""

    kind: str
    negate: bool = False
    event: str = ""
    count_op: str = "gte"
    count: str = "1"
    days: str = ""
    key: str = ""  # a trait's key, or the event filter's property
    op: str = "eq"
    value: str = ""
    tag: str = ""
    confidence: str = ""
    field: str = ""  # first / last touch field, or score / grade / stage
    type: str = ""  # identifier type

    @classmethod
    def new(cls, kind: str) -> Row:
        """An empty row of a kind, with the choices its selects start on."""
        if kind in ("first_touch", "last_touch"):
            return cls(kind, field="channel")
        if kind == "score":
            return cls(kind, field="score", op="gte")
        if kind == "identifier":
            return cls(kind, type="email")
        return cls(kind)

    def items(self, index: int) -> list[tuple[str, str]]:
        out = [(f"c{index}_kind", self.kind)]
        if self.negate:
            out.append((f"c{index}_not", "1"))
        return out + [(f"c{index}_{name}", getattr(self, name)) for name in KIND_FIELDS[self.kind]]

    def condition(self) -> dict[str, Any] | None:
        """The condition, or None while the row is incomplete (no event, key, tag ...)."""
        positive = self._positive()
        if positive is None:
            return None
        return {"kind": "not", "condition": positive} if self.negate else positive

    def _positive(self) -> dict[str, Any] | None:
        kind = self.kind
        if kind == "event":
            if not self.event.strip():
                return None
            c: dict[str, Any] = {
                "kind": "event",
                "event": self.event.strip(),
                "count": {"op": self.count_op, "value": _number(self.count or "1")},
            }
            if self.days.strip():
                c["window"] = {"last_days": _number(self.days)}
            if self.key.strip():
                test = property_filter(self.key, self.op, self.value)
                if test is None:
                    return None
                c["filters"] = [test]
            return c
        if kind == "tag":
            if not self.tag.strip():
                return None
            c = {"kind": "tag", "tag": self.tag.strip()}
            if self.confidence.strip():
                c["min_confidence"] = _number(self.confidence)
            return c
        if kind == "identifier":
            return {"kind": "identifier", "type": self.type.strip()} if self.type.strip() else None
        # trait, first / last touch, score: a test of one value
        name = self.key if kind == "trait" else self.field
        test = property_filter(name, self.op, self.value)
        if test is None:
            return None
        if kind == "trait":
            return {"kind": "trait", **test}
        return {"kind": kind, "field": test.pop("key"), **test}

    @classmethod
    def from_condition(cls, condition: Any) -> Row | None:
        """The row showing a condition, or None when a row cannot hold it exactly."""
        c, negate = condition, False
        if isinstance(c, dict) and c.get("kind") == "not":
            c, negate = c.get("condition"), True
        if not isinstance(c, dict) or c.get("kind") not in ROW_KINDS:
            return None
        kind = c["kind"]
        if kind == "event":
            filters = c.get("filters") or []
            if len(filters) > 1 or not all(isinstance(f, dict) for f in filters):
                return None
            test = filters[0] if filters else {}
            count, window = c.get("count") or {}, c.get("window") or {}
            row = cls(
                kind,
                negate,
                event=_text(c.get("event")),
                count_op=_text(count.get("op", "gte")),
                count=_text(count.get("value", 1)),
                days=_text(window.get("last_days")),
                key=_text(test.get("key")),
                op=_text(test.get("op", "eq")),
                value=_text(test.get("value")),
            )
        elif kind == "tag":
            confidence = _text(c.get("min_confidence"))
            row = cls(kind, negate, tag=_text(c.get("tag")), confidence=confidence)
        elif kind == "identifier":
            row = cls(kind, negate, type=_text(c.get("type")))
        else:
            name = "key" if kind == "trait" else "field"
            row = cls(
                kind,
                negate,
                op=_text(c.get("op", "gte" if kind == "score" else "eq")),
                value=_text(c.get("value")),
                **{name: _text(c.get(name, "score" if kind == "score" else ""))},
            )
        return row if _same(row.condition(), condition) else None


def _number(raw: str) -> Any:
    """A whole or decimal number from a form, else the text (the definition's validation then
    says what is wrong with it)."""
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _normal(condition: Any) -> Any:
    return _CONDITION.validate_python(condition).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )


def _same(a: Any, b: Any) -> bool:
    if a is None:
        return False
    try:
        return bool(_normal(a) == _normal(b))
    except (ValidationError, ValueError, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a definition cannot run: the service's field and message, and the row it is in."""

    field: str
    message: str
    row: int | None = None


@dataclass(frozen=True, slots=True)
class Built:
    """The definition a builder stands for (None when its JSON cannot be read)."""

    definition: dict[str, Any] | None
    incomplete: int  # rows left out until they are filled in
    rows: tuple[int, ...]  # for each of the definition's first conditions, its row
    problem: Problem | None = None

    def checked(self) -> tuple[SegmentDefinition | None, Problem | None]:
        """The validated definition, or the first problem, named as the API names it."""
        if self.problem is not None or self.definition is None:
            return None, self.problem
        try:
            return SegmentDefinition.model_validate(self.definition), None
        except ValidationError as exc:
            return None, self.problem_of(exc)

    def problem_of(self, exc: ValidationError, prefix: str = "definition") -> Problem:
        errors = exc.errors()
        loc = [str(p) for p in errors[0]["loc"]] if errors else []
        message = str(errors[0]["msg"]) if errors else str(exc)
        row = None
        if len(loc) >= 2 and loc[0] == "conditions" and loc[1].isdigit():
            at = int(loc[1])
            row = self.rows[at] if at < len(self.rows) else None
        return Problem(".".join([prefix, *loc]), message.removeprefix("Value error, "), row)


@dataclass(frozen=True, slots=True)
class Builder:
    """The builder's state: AND / OR, the rows, and the JSON of the other conditions."""

    type: str = "AND"
    rows: tuple[Row, ...] = ()
    extra: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Builder:
        rows = []
        for i in range(MAX_ROWS):
            kind = params.get(f"c{i}_kind")
            if kind not in KIND_FIELDS:
                continue
            given = {
                name: params[f"c{i}_{name}"]
                for name in KIND_FIELDS[kind]
                if params.get(f"c{i}_{name}") is not None
            }
            rows.append(Row(kind, bool(params.get(f"c{i}_not")), **given))
        kind = params.get("type", "AND")
        return cls(kind if kind in ("AND", "OR") else "AND", tuple(rows), params.get("extra", ""))

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> Builder:
        """Rows for the conditions a row can hold, JSON for the rest."""
        rows: list[Row] = []
        rest = []
        for c in definition.get("conditions") or []:
            row = Row.from_condition(c) if len(rows) < MAX_ROWS else None
            if row is None:
                rest.append(c)
            else:
                rows.append(row)
        extra = json.dumps(rest, indent=2, ensure_ascii=False) if rest else ""
        kind = definition.get("type", "AND")
        return cls(kind if kind in ("AND", "OR") else "AND", tuple(rows), extra)

    def items(self) -> list[tuple[str, str]]:
        """The builder as query-string pairs (rows numbered from 0)."""
        out = [("type", self.type)]
        for i, row in enumerate(self.rows):
            out += row.items(i)
        return out + ([("extra", self.extra)] if self.extra.strip() else [])

    def with_row(self, kind: str) -> Builder:
        if kind not in KIND_FIELDS or len(self.rows) >= MAX_ROWS:
            return self
        return replace(self, rows=(*self.rows, Row.new(kind)))

    def without_row(self, index: int) -> Builder:
        return replace(self, rows=tuple(r for i, r in enumerate(self.rows) if i != index))

    def build(self) -> Built:
        conditions, rows, incomplete = [], [], 0
        for i, row in enumerate(self.rows):
            c = row.condition()
            if c is None:
                incomplete += 1
            else:
                conditions.append(c)
                rows.append(i)
        try:
            extra = self._extra()
        except ValueError as exc:
            return Built(None, incomplete, tuple(rows), Problem("extra", str(exc)))
        definition = {"type": self.type, "conditions": [*conditions, *extra]}
        return Built(definition, incomplete, tuple(rows))

    def _extra(self) -> list[Any]:
        """The JSON's conditions: a list, one condition, or a definition (whose conditions
        join the top level when its AND / OR is the same, else come as one group)."""
        if not self.extra.strip():
            return []
        try:
            value = json.loads(self.extra)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and "kind" in value:
            return [value]
        if isinstance(value, dict) and "conditions" in value:
            kind, conditions = value.get("type", "AND"), value["conditions"]
            if kind == self.type or (isinstance(conditions, list) and len(conditions) <= 1):
                return list(conditions) if isinstance(conditions, list) else [conditions]
            return [{"kind": "group", "type": kind, "conditions": conditions}]
        raise ValueError("give a condition, a list of conditions or a whole definition")


@dataclass(frozen=True, slots=True)
class Choices:
    """What the builder's selects and suggestions offer."""

    identity_types: tuple[str, ...]
    events: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ROW_KINDS
    count_ops: tuple[str, ...] = COUNT_OPS
    ops: tuple[str, ...] = OPS
    touch_fields: tuple[str, ...] = TOUCH_FIELDS
    score_fields: tuple[str, ...] = SCORE_FIELDS
