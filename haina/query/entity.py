"""Entities and breakdowns: the building blocks of product-analytics bodies.

An entity (a funnel step, an exclusion, a retention start or return event, an event to count)
is `{"event": "name" | null, "filters": [...]}`: `$pageview` matches page calls, `$screen`
screen calls, any other name the track calls of that `event`; null matches any page, screen or
track event except `$engagement` (a measurement the tracker sends, not something the visitor
did). A breakdown `{"property", "source": "event|person"}` splits counts by a property's value
(missing = "").

Compile entities and breakdowns BEFORE `filtered_events(scope)` builds the CTEs: a person
trait they use is then joined into `ev` like the report's own person filters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from haina.query.filters import (
    ACQUISITION_KEYS,
    Filter,
    PropertyFilter,
    compile_filters,
    iter_filters,
)
from haina.query.scope import ENTRY_COLUMNS, SESSION_CAP_US, Scope

_NAME_RE = re.compile(r"^[^\x00-\x1f]{1,200}$")
ENGAGEMENT = "$engagement"


class Entity(BaseModel):
    """Events of one name (or any event) that pass the entity's own property filters."""

    model_config = ConfigDict(extra="forbid")

    event: str | None = Field(
        None, description="`$pageview`, `$screen` or a track event name; null = any event"
    )
    filters: list[Filter] = Field(default_factory=list)

    @field_validator("event")
    @classmethod
    def _event(cls, event: str | None) -> str | None:
        if event is not None and not _NAME_RE.match(event):
            raise ValueError("event must be 1-200 characters without control characters")
        return event


def entity_condition(scope: Scope, entity: Entity, with_filters: bool = True) -> str:
    """SQL condition (over `ev` columns) for the events an entity matches. `with_filters=False`
    leaves out the entity's own property filters (PostHog's first-ever anchor needs that)."""
    if entity.event is None:
        name = f"(event_name <> {scope.p(ENGAGEMENT)})"
    elif entity.event == "$pageview":
        name = "(type = 'page')"
    elif entity.event == "$screen":
        name = "(type = 'screen')"
    else:
        name = f"(type = 'track' AND event = {scope.p(entity.event)})"
    if not with_filters or not entity.filters:
        return name
    return f"({name} AND {compile_filters(entity.filters, scope.resolve, scope.d, scope.params)})"


class Breakdown(BaseModel):
    """Split a report by one property: of the event, or a trait of the person."""

    model_config = ConfigDict(extra="forbid")

    property: str = Field(description="event property, `$column` (e.g. `$browser`) or trait")
    source: Literal["event", "person"] = "event"

    @field_validator("property")
    @classmethod
    def _property(cls, key: str) -> str:
        try:
            PropertyFilter(key=key, op="is_set")
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc
        return key


def breakdown_value(scope: Scope, breakdown: Breakdown) -> str:
    """SQL text of a breakdown's value per `ev` row; a missing value is ''."""
    key = PropertyFilter(key=breakdown.property, op="is_set", source=breakdown.source)
    return f"coalesce({scope.resolve(key)}, {scope.p('')})"


def event_names(entities: Sequence[Entity], filters: list[Filter]) -> list[str] | None:
    """The event names a query over these entities reads, when every entity names one; None
    otherwise, and with acquisition filters (they need whole sessions, so every event)."""
    named = [e.event for e in entities]
    if None in named or needs_sessions(filters):
        return None
    return [str(n) for n in dict.fromkeys(named)]


def reads_no_property(entities: Sequence[Entity], breakdown: Breakdown | None) -> bool:
    """Whether a query over these entities needs only people, names and times (no entity
    filter, no breakdown, no `$engagement`): the stored session events can serve it."""
    return breakdown is None and not any(e.filters or e.event == ENGAGEMENT for e in entities)


def needs_sessions(filters: list[Filter]) -> bool:
    """Whether filters hold acquisition keys (matched on the session's entry)."""
    return any(f.key in ACQUISITION_KEYS and f.source == "event" for f in iter_filters(filters))


def session_lookback(filters: list[Filter], lookback_us: int = 0) -> int:
    """The look-back a scope needs: sessions that began before the range keep their entry."""
    return max(lookback_us, SESSION_CAP_US) if needs_sessions(filters) else lookback_us


def filtered_events(scope: Scope, sessions: bool = False, names: list[str] | None = None) -> str:
    """`WITH` text ending in `fe`: the rows of `ev` (of `sx` when sessions are built: with
    `sid`) that pass the report's filters, event-level ones and, through the event's session
    entry, acquisition ones. `in_range` tells events of the range from the look-back.
    `names` narrows the events read to those names (not with sessions: they need all)."""
    acquisition = needs_sessions(scope.q.filters)
    if not (acquisition or sessions):
        return scope.ctes(names=names) + ",\nfe AS (SELECT * FROM ev WHERE sel)"
    cond = scope.where(scope.q.filters, acquisition=True)
    entry = ", ".join(f"s_{c} AS {c}" for c in ENTRY_COLUMNS)
    return scope.ctes(sessions=True) + (
        f",\nsq AS (SELECT q_person, q_sid FROM (SELECT person AS q_person, sid AS q_sid, {entry} "
        f"FROM sessions) entry WHERE {cond}),\n"
        "fe AS (SELECT sx.* FROM sx JOIN sq ON sx.person = sq.q_person AND sx.sid = sq.q_sid "
        "WHERE sx.sel)"
    )
