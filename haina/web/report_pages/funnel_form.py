"""The funnel page's query string ⇄ a funnel body, so a funnel lives in its URL (bookmarkable).

    ?step=Product%20Viewed&step_path=&step=%24pageview&step_path=/checkout*
     &order=ordered&window=14&window_unit=day&breakdown=$device_type

`step` and `step_path` repeat once per step, in order (the builder renders both for every
step, so they stay aligned); a path makes the step's events need that `$path`, where `*`
matches anything (`/product/*`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from haina.reports.funnel import Window

MAX_STEPS = 20
ORDERS = ("ordered", "strict", "unordered")
WINDOW_UNITS = ("second", "minute", "hour", "day", "week", "month")
BREAKDOWN_SOURCES = ("event", "person")
# The demo shop's purchase funnel: the default when a workspace has these events.
SHOP_FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
BREAKDOWN_LIMIT = 10


@dataclass(frozen=True, slots=True)
class Step:
    event: str
    path: str = ""

    def entity(self) -> dict[str, Any]:
        if not self.path:
            return {"event": self.event}
        return {"event": self.event, "filters": [path_filter(self.path)]}


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

    @classmethod
    def from_query(cls, params: QueryParams, default: Sequence[str] = ()) -> FunnelForm:
        """The form in the URL; without steps there, a funnel of the `default` events."""
        events = params.getlist("step")
        paths = params.getlist("step_path")
        steps = [
            Step(event.strip(), (paths[i] if i < len(paths) else "").strip())
            for i, event in enumerate(events)
        ]
        steps = [s for s in steps if s.event][:MAX_STEPS]
        if not events:
            steps = [Step(name) for name in default]
        order = params.get("order", "")
        unit = params.get("window_unit", "")
        source = params.get("breakdown_source", "")
        return cls(
            steps=tuple(steps),
            order=order if order in ORDERS else "ordered",
            window=_window_value(params.get("window", "")),
            window_unit=unit if unit in WINDOW_UNITS else "day",
            breakdown=params.get("breakdown", "").strip(),
            breakdown_source=source if source in BREAKDOWN_SOURCES else "event",
        )

    def without_step(self, index: int) -> FunnelForm:
        return replace(self, steps=tuple(s for i, s in enumerate(self.steps) if i != index))

    def body(self) -> dict[str, Any]:
        """The funnel's own fields of the report body (dates and filters come from the page)."""
        body: dict[str, Any] = {
            "steps": [s.entity() for s in self.steps],
            "order": self.order,
            "window": {"value": self.window, "unit": self.window_unit},
        }
        if self.breakdown:
            body["breakdown"] = {"property": self.breakdown, "source": self.breakdown_source}
            body["breakdown_limit"] = BREAKDOWN_LIMIT
        return body

    def items(self) -> list[tuple[str, str]]:
        """The form as query-string pairs, steps in order."""
        out: list[tuple[str, str]] = []
        for s in self.steps:
            out += [("step", s.event), ("step_path", s.path)]
        out += [("order", self.order), ("window", str(self.window))]
        out += [("window_unit", self.window_unit)]
        if self.breakdown:
            out += [("breakdown", self.breakdown), ("breakdown_source", self.breakdown_source)]
        return out

    def query(self, extra: Sequence[tuple[str, str]] = ()) -> str:
        return urlencode([*extra, *self.items()])


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
