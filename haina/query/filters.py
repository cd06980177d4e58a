"""Property filters: one model for every report (and, later, segments), compiled to SQL.

`{"key", "op", "value", "source": "event|person"}`; filters in a list are ANDed; a group
`{"type": "AND|OR", "values": [...]}` nests. `eq` / `neq` with a list mean any-of / none-of.
Values compare as strings unless both sides are numbers. Keys starting with `$` name stored
columns (`$browser`, `$channel`, `$path`, ...); other keys are event properties, or person
traits with `source: person`. Values never enter SQL text (see dialect.Params).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from haina.query.dialect import Dialect, Params

Op = Literal[
    "eq", "neq", "icontains", "not_icontains", "regex",
    "gt", "gte", "lt", "lte", "is_set", "is_not_set",
]  # fmt: skip
Scalar = str | int | float | bool

# `$key` → stored column. Acquisition keys describe how a session began: they are matched
# on the session's first event (see docs/reports.md, "Filters").
COLUMN_KEYS: dict[str, str] = {
    "$browser": "browser",
    "$browser_version": "browser_version",
    "$os": "os",
    "$os_version": "os_version",
    "$device_type": "device_type",
    "$country": "country",
    "$region": "region",
    "$city": "city",
    "$host": "host",
    "$path": "path",
    "$url": "url",
    "$title": "title",
    "$referrer": "referrer",
    "$search_keyword": "search_keyword",
    "$library": "library_name",
    "$type": "type",
    "$source_id": "source_id",
    "$channel": "channel",
    "$source": "source",
    "$medium": "medium",
    "$campaign": "campaign",
    "$term": "term",
    "$content": "content",
    "$referrer_host": "referrer_host",
    "$click_id": "click_id",
}
ACQUISITION_KEYS = frozenset(
    {"$channel", "$source", "$medium", "$campaign", "$term", "$content", "$referrer_host",
     "$click_id"}
)  # fmt: skip
_KEY_RE = re.compile(r"^[^\x00-\x1f\"\\]{1,200}$")


class PropertyFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="property name, or a `$column` such as `$browser`")
    op: Op = "eq"
    value: Scalar | list[Scalar] | None = None
    source: Literal["event", "person"] = "event"

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        if not _KEY_RE.match(key):
            raise ValueError("key must be 1-200 characters without quotes or control characters")
        if key.startswith("$") and key not in COLUMN_KEYS:
            raise ValueError(f"unknown column key {key!r}; known: {', '.join(sorted(COLUMN_KEYS))}")
        return key

    @model_validator(mode="after")
    def _value(self) -> PropertyFilter:
        if self.op in ("is_set", "is_not_set"):
            return self
        if self.value is None or self.value == []:
            raise ValueError(f"op {self.op!r} needs a value")
        if isinstance(self.value, list) and self.op not in ("eq", "neq"):
            raise ValueError(f"op {self.op!r} takes one value, not a list")
        if self.op == "regex":
            re2_pattern(str(self.value))
        return self


_RE2 = duckdb.connect()  # RE2, as both engines run it: checks patterns before they run
_RE2_LOCK = threading.Lock()


@lru_cache(maxsize=4096)
def _re2_error(pattern: str) -> str | None:
    with _RE2_LOCK:
        try:
            _RE2.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            return str(exc).split("Error: ", 1)[-1].strip()
    return None


def re2_pattern(value: str) -> str:
    """A regular expression the engines can run (RE2 syntax: no look-around or
    back-references; `\\p{Han}` and the like are fine), else ValueError with RE2's reason."""
    if len(value) > 1000:
        raise ValueError("a regular expression is at most 1000 characters")
    error = _re2_error(value)
    if error is not None:
        raise ValueError(f"invalid regular expression (RE2 syntax): {error}")
    return value


class FilterGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["AND", "OR"] = "AND"
    values: list[Filter] = Field(default_factory=list)


Filter = Annotated[PropertyFilter | FilterGroup, Field(union_mode="left_to_right")]
FilterGroup.model_rebuild()

# How a filter's key becomes an SQL text expression (the caller knows the scope's columns).
Resolver = Callable[[PropertyFilter], str]


def compile_filters(
    filters: list[Filter], resolve: Resolver, dialect: Dialect, params: Params
) -> str:
    """SQL condition for a list of filters (ANDed); 'TRUE' when empty."""
    return _group(FilterGroup(type="AND", values=filters), resolve, dialect, params)


def iter_filters(filters: list[Filter]) -> list[PropertyFilter]:
    """Every leaf filter, depth first."""
    out: list[PropertyFilter] = []
    for f in filters:
        out.extend(iter_filters(f.values) if isinstance(f, FilterGroup) else [f])
    return out


def _group(group: FilterGroup, resolve: Resolver, dialect: Dialect, params: Params) -> str:
    parts = [
        _group(f, resolve, dialect, params)
        if isinstance(f, FilterGroup)
        else _leaf(f, resolve(f), dialect, params)
        for f in group.values
    ]
    if not parts:
        return "TRUE"
    return "(" + f" {group.type} ".join(parts) + ")"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equals(x: str, value: Scalar, dialect: Dialect, params: Params) -> str:
    text = _text(value)
    if _number(value):
        num = params.add(float(value))
        return f"coalesce({dialect.to_number(x)} = {num}, {x} = {params.add(text)}, FALSE)"
    return f"coalesce({x} = {params.add(text)}, FALSE)"


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _leaf(f: PropertyFilter, x: str, dialect: Dialect, params: Params) -> str:
    v = f.value
    match f.op:
        case "is_set":
            return f"({x} IS NOT NULL)"
        case "is_not_set":
            return f"({x} IS NULL)"
        case "eq" | "neq":
            values = v if isinstance(v, list) else [v]
            any_of = " OR ".join(
                _equals(x, item, dialect, params) for item in values if item is not None
            )
            return f"({any_of})" if f.op == "eq" else f"(NOT ({any_of}))"
        case "icontains":
            return f"coalesce({dialect.contains_ci(x, params.add(_text(v)))}, FALSE)"  # type: ignore[arg-type]
        case "not_icontains":
            return f"(NOT coalesce({dialect.contains_ci(x, params.add(_text(v)))}, FALSE))"  # type: ignore[arg-type]
        case "regex":
            return f"coalesce({dialect.regex(x, params.add(str(v)))}, FALSE)"
        case _:
            sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.op]
            if _number(v):
                return f"coalesce({dialect.to_number(x)} {sign} {params.add(float(v))}, FALSE)"  # type: ignore[arg-type]
            return f"coalesce({x} {sign} {params.add(_text(v))}, FALSE)"  # type: ignore[arg-type]
