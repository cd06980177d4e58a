"""The report pages' filter bar: query-string parameters ⇄ report `filters`.

Every report page reads the same parameters, so a link to a filtered page works on any
report page::

    ?channel=Organic%20Search&device=mobile&prop=plan&prop_op=eq&prop_value=pro

- one equality filter per acquisition or device parameter (`FILTER_PARAMS`);
- one free event-property filter: `prop` (the key), `prop_op` (an op of the shared filter
  model, `eq` by default) and `prop_value`.

A page builds its report body with `filters_from_query(ctx.request.query_params)` and renders
the bar with ``{% include "reports/_filters.html" %}``, passing ``filter_bar=filter_bar(ctx,
keep=("interval",))``: the bar shows the current values, and resubmits the period and the
page's own parameters named in `keep`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

from haina.web.pages import PageContext, page

# Query parameter → filter key (op `eq`). Acquisition keys match a session's entry.
FILTER_PARAMS: dict[str, str] = {
    "channel": "$channel",
    "source": "$source",
    "campaign": "$campaign",
    "device": "$device_type",
    "browser": "$browser",
    "os": "$os",
    "country": "$country",
}
PROPERTY_OPS = (
    "eq", "neq", "icontains", "not_icontains", "regex",
    "gt", "gte", "lt", "lte", "is_set", "is_not_set",
)  # fmt: skip
NUMERIC_OPS = frozenset({"gt", "gte", "lt", "lte"})
VALUELESS_OPS = frozenset({"is_set", "is_not_set"})
PROPERTY_PARAMS = ("prop", "prop_op", "prop_value")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "tv", "console", "wearable")


def filters_from_query(params: Mapping[str, str]) -> list[dict[str, Any]]:
    """Report `filters` from a page's query string; empty parameters are ignored.

    A comparison (`gt`, `gte`, `lt`, `lte`) with a numeric value sends a number, so it
    compares as one. An unknown `prop_op` is passed on: the report's validation refuses it
    with a message the page shows.
    """
    filters: list[dict[str, Any]] = [
        {"key": key, "op": "eq", "value": value}
        for param, key in FILTER_PARAMS.items()
        if (value := params.get(param, "").strip())
    ]
    prop = property_filter(
        params.get("prop", ""), params.get("prop_op", ""), params.get("prop_value", "")
    )
    return filters if prop is None else [*filters, prop]


def property_filter(key: str, op: str, raw: str) -> dict[str, Any] | None:
    """One property filter from a form's key, condition and value (`eq` by default); None
    when the key is empty, or the value is and the condition needs one."""
    key, op, raw = key.strip(), op.strip() or "eq", raw.strip()
    if key and op in VALUELESS_OPS:
        return {"key": key, "op": op}
    if key and raw:
        return {"key": key, "op": op, "value": _value(op, raw)}
    return None


def _value(op: str, raw: str) -> str | float | int:
    if op not in NUMERIC_OPS:
        return raw
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if number.is_integer() and "." not in raw else number


@dataclass(frozen=True, slots=True)
class FilterBar:
    """What `reports/_filters.html` renders: current values and the parameters it keeps."""

    action: str
    values: dict[str, str]
    keep: list[tuple[str, str]]
    active: bool
    channels: tuple[str, ...]
    device_types: tuple[str, ...] = DEVICE_TYPES
    params: tuple[str, ...] = tuple(FILTER_PARAMS)
    ops: tuple[str, ...] = PROPERTY_OPS

    @property
    def clear_url(self) -> str:
        """The page without filters, keeping the period and the kept parameters."""
        query = urlencode(self.keep)
        return f"{self.action}?{query}" if query else self.action


def filter_bar(ctx: PageContext, keep: Iterable[str] = ()) -> FilterBar:
    """The bar for the page being rendered; `keep` names the page's own parameters that
    applying filters must not drop (the period is always kept on dated pages)."""
    params = ctx.request.query_params
    names = (*FILTER_PARAMS, *PROPERTY_PARAMS)
    values = {name: params.get(name, "") for name in names}
    entry = page(ctx.slug)
    kept = []
    if entry is None or entry.dated:
        kept = [("from", ctx.period.start.isoformat()), ("to", ctx.period.end.isoformat())]
    kept += [(name, params[name]) for name in keep if params.get(name)]
    return FilterBar(
        action=ctx.request.url.path,
        values=values,
        keep=kept,
        active=bool(filters_from_query(params)),
        channels=known_channels(),
    )


@cache
def known_channels() -> tuple[str, ...]:
    """The channel names of the built-in channel rules, for the bar's suggestions."""
    from haina.pipeline.channel import default_rules

    names = dict.fromkeys(channel for channel, _ in default_rules().rules)
    return (*names, "Unassigned")
