"""A segment (人群包) definition as data: conditions on who people are and what they did,
nested with AND / OR / NOT. Validated here; compiled to SQL by `compile.py`
(docs/segments.md).

```json
{"type": "AND", "conditions": [
  {"kind": "trait", "key": "city", "op": "eq", "value": ["上海", "北京"]},
  {"kind": "event", "event": "Product Viewed",
   "filters": [{"key": "category", "op": "eq", "value": "electronics"}],
   "count": {"op": "gte", "value": 3}, "window": {"last_days": 30}},
  {"kind": "not", "condition": {"kind": "event", "event": "Order Completed",
                                "window": {"last_days": 30}}},
  {"kind": "sequence", "first": {"event": "Added to Cart"}, "then": {"event": "Order Completed"},
   "within_days": 7, "window": {"last_days": 90}},
  {"kind": "first_touch", "field": "channel", "op": "eq", "value": "Paid Search"},
  {"kind": "identifier", "type": "phone"}
]}
```
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from haina.identity.identifiers import BUILTIN_TYPES, TYPE_NAME
from haina.query.filters import Filter, Op, PropertyFilter, Scalar, iter_filters

MAX_CONDITIONS = 50
MAX_DEPTH = 6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(_Strict):
    """When the behaviour happened: the last N days up to now, or between two times (UTC when
    no offset is given). No window: ever."""

    last_days: int | None = Field(default=None, ge=1, le=3650)
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        if self.last_days is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("give last_days, or from / to, not both")
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("to is before from")
        return self


class Count(_Strict):
    op: Literal["gte", "lte", "eq"] = "gte"
    value: int = Field(default=1, ge=0, le=1_000_000)


class EventSpec(_Strict):
    """An event by name (`$pageview` for pages, `$screen` for screens) and property filters
    on it (`$columns` such as `$path`, or properties)."""

    event: str = Field(min_length=1, max_length=200)
    filters: list[Filter] = Field(default_factory=list)

    @field_validator("filters")
    @classmethod
    def _event_filters_only(cls, filters: list[Filter]) -> list[Filter]:
        for f in iter_filters(filters):
            if f.source != "event":
                raise ValueError(
                    "an event condition filters the event; use trait conditions for people"
                )
        return filters


class EventCondition(EventSpec):
    """Did the event at least / at most / exactly N times in the window (`{"op": "eq",
    "value": 0}`: did not)."""

    kind: Literal["event"]
    count: Count = Field(default_factory=Count)
    window: Window | None = None


class SequenceCondition(_Strict):
    """Did `first`, then `then` within `within_days` after it, both in the window."""

    kind: Literal["sequence"]
    first: EventSpec
    then: EventSpec
    within_days: int = Field(ge=1, le=3650)
    window: Window | None = None


class TraitCondition(_Strict):
    """A trait's value as the profile shows it (its merge strategy applied)."""

    kind: Literal["trait"]
    key: str = Field(min_length=1, max_length=200)
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> TraitCondition:
        self.as_filter()  # the filter model's checks (a value for the op, RE2 patterns ...)
        if self.key.startswith("$"):
            raise ValueError("trait keys do not start with $")
        return self

    def as_filter(self) -> PropertyFilter:
        return PropertyFilter(key=self.key, op=self.op, value=self.value, source="person")


TOUCH_FIELDS = ("channel", "source", "medium", "campaign", "term", "content", "referrer_host")


class TouchCondition(_Strict):
    """The person's first or last touch (their first / last pageview with a channel)."""

    kind: Literal["first_touch", "last_touch"]
    field: Literal["channel", "source", "medium", "campaign", "term", "content", "referrer_host"]
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> TouchCondition:
        PropertyFilter(key="$" + self.field, op=self.op, value=self.value)
        return self


class IdentifierCondition(_Strict):
    """The person has (or, with `present: false`, has no) identifier of this type."""

    kind: Literal["identifier"]
    type: str
    present: bool = True

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in BUILTIN_TYPES and not TYPE_NAME.match(value):
            raise ValueError(f"{value!r} is not an identifier type")
        return value


class TagCondition(_Strict):
    """The person has (or, with `present: false`, has not) the tag: manual, rule or inferred;
    inferred ones with at least `min_confidence`."""

    kind: Literal["tag"]
    tag: str = Field(min_length=1, max_length=100)
    present: bool = True
    min_confidence: float | None = Field(default=None, ge=0, le=1)


class ScoreCondition(_Strict):
    """The lead score (0-100), its grade (A-D) or the lifecycle stage."""

    kind: Literal["score"]
    field: Literal["score", "grade", "stage"] = "score"
    op: Op = "gte"
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScoreCondition:
        PropertyFilter(key=self.field, op=self.op, value=self.value, source="person")
        return self


class NotCondition(_Strict):
    kind: Literal["not"]
    condition: Condition


class GroupCondition(_Strict):
    kind: Literal["group"] = "group"
    type: Literal["AND", "OR"] = "AND"
    conditions: list[Condition] = Field(default_factory=list)


Condition = Annotated[
    EventCondition
    | SequenceCondition
    | TraitCondition
    | TouchCondition
    | IdentifierCondition
    | TagCondition
    | ScoreCondition
    | NotCondition
    | GroupCondition,
    Field(discriminator="kind"),
]
NotCondition.model_rebuild()
GroupCondition.model_rebuild()


class SegmentDefinition(_Strict):
    """The top level is a group: `type` (AND / OR) over `conditions`."""

    type: Literal["AND", "OR"] = "AND"
    conditions: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _size(self) -> SegmentDefinition:
        n, depth = _measure(self.conditions, 1)
        if n > MAX_CONDITIONS:
            raise ValueError(f"a segment has at most {MAX_CONDITIONS} conditions")
        if depth > MAX_DEPTH:
            raise ValueError(f"conditions nest at most {MAX_DEPTH} deep")
        return self

    def as_group(self) -> GroupCondition:
        return GroupCondition(kind="group", type=self.type, conditions=self.conditions)


def _measure(conditions: list[Any], depth: int) -> tuple[int, int]:
    n, deepest = 0, depth
    for c in conditions:
        if isinstance(c, GroupCondition):
            m, d = _measure(c.conditions, depth + 1)
        elif isinstance(c, NotCondition):
            m, d = _measure([c.condition], depth + 1)
        else:
            m, d = 1, depth
        n, deepest = n + m, max(deepest, d)
    return n, deepest
