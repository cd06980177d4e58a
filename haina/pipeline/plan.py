"""Tracking plan (埋点方案): the events a workspace expects and the JSON Schema of their properties.

`TrackingPlan.check(message)` returns the violations of one message — an empty list when it
keeps the plan. What happens to a violating message is the source's `plan_mode`: allow (store,
no flag), flag (store with `plan_violations`), or quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

Violation = dict[str, str]
_REBUILT: dict[str, TrackingPlan] = {}


def _rebuilt(key: str, events: tuple[PlannedEvent, ...], flag_unplanned: bool) -> TrackingPlan:
    plan = _REBUILT.get(key)
    if plan is None:
        if len(_REBUILT) > 256:
            _REBUILT.clear()
        plan = _REBUILT[key] = TrackingPlan(events, flag_unplanned=flag_unplanned)
    return plan


class _Checked(Protocol):
    type: str
    event: str | None
    name: str | None
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    event_type: str
    event: str
    schema: Mapping[str, Any]


def property_schema(properties: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Build JSON Schema from the plan's short form: {name: {type, required, enum, ...}}."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in properties.items():
        spec = dict(spec)
        if spec.pop("required", False):
            required.append(name)
        if "allowed" in spec:
            spec["enum"] = spec.pop("allowed")
        props[name] = spec
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


class TrackingPlan:
    def __init__(self, events: Iterable[PlannedEvent], *, flag_unplanned: bool = False) -> None:
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self._events = tuple(events)
        for e in self._events:
            try:
                Draft202012Validator.check_schema(e.schema)
            except SchemaError as exc:
                raise ValueError(
                    f"schema of {e.event!r} is not valid JSON Schema: {exc.message}"
                ) from exc
            self._validators[(e.event_type, e.event)] = Draft202012Validator(e.schema)
        self.flag_unplanned = flag_unplanned

    def __len__(self) -> int:
        return len(self._validators)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (for the collection worker processes) as its events; compiled validators do
        not pickle. A process rebuilds a plan it has seen once (`_rebuilt`)."""
        key = json.dumps(
            [self.flag_unplanned, [[e.event_type, e.event, e.schema] for e in self._events]],
            sort_keys=True,
            default=str,
        )
        return (_rebuilt, (key, self._events, self.flag_unplanned))

    def check(self, m: _Checked) -> list[Violation]:
        name = m.event if m.type == "track" else m.name
        if m.type not in ("track", "page", "screen") or name is None:
            return []
        validator = self._validators.get((m.type, name))
        if validator is None:
            if self.flag_unplanned and m.type == "track":
                return [
                    {
                        "field": "event",
                        "code": "unplanned_event",
                        "reason": f"event {name!r} is not in the tracking plan",
                    }
                ]
            return []
        out: list[Violation] = []
        for err in sorted(validator.iter_errors(m.properties), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in err.absolute_path)
            if err.validator == "required" and isinstance(err.validator_value, list):
                missing = [p for p in err.validator_value if p not in (err.instance or {})]
                path = ".".join(filter(None, [path, missing[0] if missing else ""]))
            out.append(
                {
                    "field": "properties" + (f".{path}" if path else ""),
                    "code": f"plan_{err.validator}",
                    "reason": err.message[:300],
                }
            )
        return out
