"""The funnel page's query string ⇄ a funnel body, so a funnel lives in its URL (bookmarkable).

    ?step=Product%20Viewed&step_path=&step=%24pageview&step_path=/checkout*
     &order=ordered&window=14&window_unit=day&breakdown=$device_type

`step` and `step_path` repeat once per step, in order (the builder renders both for every
step, so they stay aligned); a path makes the step's events need that `$path`, where `*`
matches anything (`/product/*`). So do `step_prop`, `step_op` and `step_value`: one optional
property filter per step. Exclusions repeat `exclude`, `exclude_from` and `exclude_to`, and
`attribution` (with `attribution_step`) goes with a breakdown. Step numbers in the URL are
1-based, as the page shows them; the body's are 0-based.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from haina.reports.funnel import Window
from haina.web.i18n import Translator
from haina.web.report_filters import VALUELESS_OPS, property_filter

MAX_STEPS = 20
MAX_EXCLUSIONS = 5
ORDERS = ("ordered", "strict", "unordered")
WINDOW_UNITS = ("second", "minute", "hour", "day", "week", "month")
BREAKDOWN_SOURCES = ("event", "person")
ATTRIBUTIONS = ("first_touch", "last_touch", "all_events", "step")
STEP_OPS = ("eq", "neq", "icontains", "not_icontains", "gt", "lt", "is_set")
# The demo shop's purchase funnel: the default when a workspace has these events.
SHOP_FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
BREAKDOWN_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Step:
    event: str
    path: str = ""
    prop: str = ""  # the step's own property filter: key, condition, value
    op: str = "eq"
    value: str = ""

    def entity(self) -> dict[str, Any]:
        filters = [path_filter(self.path)] if self.path else []
        if (prop := property_filter(self.prop, self.op, self.value)) is not None:
            filters.append(prop)
        return {"event": self.event, "filters": filters} if filters else {"event": self.event}


@dataclass(frozen=True, slots=True)
class Exclusion:
    """People who do `event` between two steps (1-based, as shown) are left out."""

    event: str
    from_step: int
    to_step: int

    def entity(self) -> dict[str, Any]:
        return {"event": self.event, "from_step": self.from_step - 1, "to_step": self.to_step - 1}


def path_filter(path: str) -> dict[str, Any]:
    """`/product/*` → a regex filter on `$path`; a path without `*` must match exactly."""
    if "*" not in path:
        return {"key": "$path", "op": "eq", "value": path}
    pattern = ".*".join(re.escape(part) for part in path.split("*"))
    return {"key": "$path", "op": "regex", "value": f"^{pattern}$"}


@dataclass(frozen=True, slots=True)
class FunnelForm:
    """What the builder shows and the funnel body it stands for."""

    steps: tuple[Step, ...]
    order: str = "ordered"
    window: int = 14
    window_unit: str = "day"
    breakdown: str = ""
    breakdown_source: str = "event"
    exclusions: tuple[Exclusion, ...] = ()
    attribution: str = "first_touch"
    attribution_step: int = 1

    @classmethod
    def from_query(cls, params: QueryParams, default: Sequence[str] = ()) -> FunnelForm:
        """The form in the URL; without steps there, a funnel of the `default` events."""
        events = params.getlist("step")
        columns = {name: params.getlist(f"step_{name}") for name in ("path", "prop", "op", "value")}
        steps = [
            Step(event.strip(), **{name: _at(c, i).strip() for name, c in columns.items()})
            for i, event in enumerate(events)
        ]
        steps = [replace(s, op=s.op or "eq") for s in steps if s.event][:MAX_STEPS]
        if not events:
            steps = [Step(name) for name in default]
        order = params.get("order", "")
        unit = params.get("window_unit", "")
        source = params.get("breakdown_source", "")
        attribution = params.get("attribution", "")
        return cls(
            steps=tuple(steps),
            order=order if order in ORDERS else "ordered",
            window=_window_value(params.get("window", "")),
            window_unit=unit if unit in WINDOW_UNITS else "day",
            breakdown=params.get("breakdown", "").strip(),
            breakdown_source=source if source in BREAKDOWN_SOURCES else "event",
            exclusions=_exclusions(params, len(steps)),
            attribution=attribution if attribution in ATTRIBUTIONS else "first_touch",
            attribution_step=_int(params.get("attribution_step", ""), 1),
        )

    def without_step(self, index: int) -> FunnelForm:
        """The form without step `index` (0-based); exclusions and the attribution step keep
        pointing at the same steps where they can."""
        n = len(self.steps) - 1

        def moved(number: int) -> int:  # a 1-based step number after the removal
            return min(number - 1 if number > index + 1 else number, n)

        exclusions = [
            Exclusion(x.event, min(moved(x.from_step), moved(x.to_step) - 1), moved(x.to_step))
            for x in self.exclusions
        ]
        return replace(
            self,
            steps=tuple(s for i, s in enumerate(self.steps) if i != index),
            exclusions=tuple(x for x in exclusions if x.from_step >= 1),
            attribution_step=max(moved(self.attribution_step), 1),
        )

    def without_exclusion(self, index: int) -> FunnelForm:
        return replace(
            self, exclusions=tuple(x for i, x in enumerate(self.exclusions) if i != index)
        )

    def body(self) -> dict[str, Any]:
        """The funnel's own fields of the report body (dates and filters come from the page)."""
        body: dict[str, Any] = {
            "steps": [s.entity() for s in self.steps],
            "order": self.order,
            "window": {"value": self.window, "unit": self.window_unit},
        }
        if self.exclusions:
            body["exclusions"] = [x.entity() for x in self.exclusions]
        if self.breakdown:
            breakdown: dict[str, Any] = {
                "property": self.breakdown,
                "source": self.breakdown_source,
            }
            if self.attribution != "first_touch":
                breakdown["attribution"] = self.attribution
            if self.attribution == "step":
                breakdown["attribution_step"] = self.attribution_step - 1
            body["breakdown"] = breakdown
            body["breakdown_limit"] = BREAKDOWN_LIMIT
        return body

    def items(self) -> list[tuple[str, str]]:
        """The form as query-string pairs, steps in order (a step's filter fields only when
        some step has a filter, so they stay aligned)."""
        filtered = any(s.prop for s in self.steps)
        out: list[tuple[str, str]] = []
        for s in self.steps:
            out += [("step", s.event), ("step_path", s.path)]
            if filtered:
                out += [("step_prop", s.prop), ("step_op", s.op), ("step_value", s.value)]
        for x in self.exclusions:
            out += [("exclude", x.event), ("exclude_from", str(x.from_step))]
            out += [("exclude_to", str(x.to_step))]
        out += [("order", self.order), ("window", str(self.window))]
        out += [("window_unit", self.window_unit)]
        if self.breakdown:
            out += [("breakdown", self.breakdown), ("breakdown_source", self.breakdown_source)]
            if self.attribution != "first_touch":
                out += [("attribution", self.attribution)]
            if self.attribution == "step":
                out += [("attribution_step", str(self.attribution_step))]
        return out

    def query(self, extra: Sequence[tuple[str, str]] = ()) -> str:
        return urlencode([*extra, *self.items()])

    def problems(self, t: Translator) -> list[str]:
        """What the builder asks that no funnel can be, in the page's 1-based step numbers
        (the report's own messages count from 0)."""
        n = len(self.steps)
        out = [
            t("funnels.problem.value", step=i + 1, prop=s.prop)
            for i, s in enumerate(self.steps)
            if s.prop and s.op not in VALUELESS_OPS and not s.value
        ]
        for x in self.exclusions:
            if not 1 <= x.from_step < x.to_step <= n:
                out.append(t("funnels.problem.exclusion", event=x.event, n=n))
            elif self.order == "unordered" and (x.from_step, x.to_step) != (1, n):
                out.append(t("funnels.problem.exclusion_unordered", event=x.event, n=n))
        last = 1 if self.order == "unordered" else n
        stepped = self.breakdown and self.attribution == "step"
        if stepped and not 1 <= self.attribution_step <= last:
            out.append(t("funnels.problem.attribution_step", n=last))
        return out


def _at(values: list[str], i: int) -> str:
    return values[i] if i < len(values) else ""


def _int(raw: str, default: int) -> int:
    try:
        return int(raw)
    except ValueError:
        return default


def _exclusions(params: QueryParams, n_steps: int) -> tuple[Exclusion, ...]:
    """Exclusions with an event; a missing step number means the whole funnel."""
    starts, ends = params.getlist("exclude_from"), params.getlist("exclude_to")
    found = [
        Exclusion(event.strip(), _int(_at(starts, i), 1), _int(_at(ends, i), n_steps))
        for i, event in enumerate(params.getlist("exclude"))
    ]
    return tuple(x for x in found if x.event)[:MAX_EXCLUSIONS]


def _window_value(raw: str) -> int:
    default = Window.model_fields["value"].default
    try:
        value = int(raw)
    except ValueError:
        return int(default)
    return min(max(value, 1), 10_000)


def default_steps(names: Sequence[str]) -> list[str]:
    """The demo shop's purchase funnel when every one of its events occurred, else the three
    most frequent events (`names` is most frequent first)."""
    if all(name in names for name in SHOP_FUNNEL):
        return list(SHOP_FUNNEL)
    return list(names[:3])
