"""A workspace's identity-resolution rules, as data: custom identifier types, priority, limits,
junk values, the phone region and per-trait merge strategies.

Stored in the workspace settings under `identity` (docs/profiles.md); `IdentityRules.from_json`
validates them and names the field that is wrong.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from haina.identity.identifiers import (
    ANONYMOUS_ID,
    BUILTIN_TYPES,
    EMAIL,
    PHONE,
    TYPE_NAME,
    USER_ID,
    WECHAT_OPENID,
    WECHAT_UNIONID,
    WECOM_EXTERNAL_USERID,
)

TRAIT_STRATEGIES = ("latest", "oldest", "sum", "non_empty")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max` identifiers of one type per profile (linked within `window_days` of each
    other when a window is set; ever when not)."""

    max: int
    window_days: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"max": self.max, "window_days": self.window_days}


# User ids: exactly one per profile, always (two different user ids never merge).
DEFAULT_LIMITS: dict[str, Limit] = {
    USER_ID: Limit(1),
    EMAIL: Limit(3),
    PHONE: Limit(3),
    WECHAT_UNIONID: Limit(1),
    WECOM_EXTERNAL_USERID: Limit(3),
    WECHAT_OPENID: Limit(10),
}
DEFAULT_CUSTOM_LIMIT = Limit(5)


class RulesError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class IdentityRules:
    custom_types: tuple[str, ...] = ()
    priority: tuple[str, ...] = BUILTIN_TYPES
    limits: dict[str, Limit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    blocked_values: frozenset[str] = frozenset()
    phone_region: str = "CN"
    trait_strategies: dict[str, str] = field(default_factory=dict)

    def rank(self, kind: str) -> int:
        """0 for the highest priority."""
        try:
            return self.priority.index(kind)
        except ValueError:
            return len(self.priority)

    def limit(self, kind: str) -> Limit | None:
        return self.limits.get(kind)

    def strategy(self, trait: str) -> str:
        return self.trait_strategies.get(trait, "latest")

    @property
    def types(self) -> tuple[str, ...]:
        return BUILTIN_TYPES + self.custom_types

    def fingerprint(self) -> str:
        """Changes when a rule that decides links changes (the graph is then rebuilt)."""
        text = json.dumps(
            {k: v for k, v in self.to_json().items() if k != "trait_strategies"}, sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "custom_types": list(self.custom_types),
            "priority": list(self.priority),
            "limits": {k: v.to_json() for k, v in sorted(self.limits.items())},
            "blocked_values": sorted(self.blocked_values),
            "phone_region": self.phone_region,
            "trait_strategies": dict(sorted(self.trait_strategies.items())),
        }

    @classmethod
    def from_json(cls, raw: Any) -> IdentityRules:
        """Rules from settings JSON (missing keys take their defaults). Raises RulesError."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise RulesError("identity", "identity settings must be an object")
        unknown = set(raw) - {
            "custom_types", "priority", "limits", "blocked_values", "phone_region",
            "trait_strategies",
        }  # fmt: skip
        if unknown:
            raise RulesError(f"identity.{sorted(unknown)[0]}", "unknown identity setting")
        custom = tuple(_strings(raw.get("custom_types", []), "identity.custom_types"))
        for name in custom:
            if not TYPE_NAME.match(name) or name in BUILTIN_TYPES:
                raise RulesError(
                    "identity.custom_types",
                    f"{name!r}: a custom type is a new lower-case name (a-z, 0-9, _)",
                )
        types = BUILTIN_TYPES + custom
        priority = tuple(_strings(raw.get("priority", []), "identity.priority"))
        for name in priority:
            if name not in types:
                raise RulesError("identity.priority", f"{name!r} is not an identifier type")
        if len(set(priority)) != len(priority):
            raise RulesError("identity.priority", "a type is listed twice")
        if priority and priority[0] != USER_ID:
            raise RulesError("identity.priority", "user_id must come first")
        # Types left out keep their default order after the listed ones; anonymous ids last.
        rest = [t for t in types if t not in priority and t != ANONYMOUS_ID]
        order = (*priority, *rest) if priority else (*BUILTIN_TYPES[:-1], *custom)
        order = tuple(t for t in order if t != ANONYMOUS_ID) + (ANONYMOUS_ID,)
        limits = dict(DEFAULT_LIMITS)
        limits.update({name: DEFAULT_CUSTOM_LIMIT for name in custom})
        given = raw.get("limits", {})
        if not isinstance(given, dict):
            raise RulesError("identity.limits", "limits must be an object of type → limit")
        for name, spec in given.items():
            where = f"identity.limits.{name}"
            if name not in types:
                raise RulesError(where, f"{name!r} is not an identifier type")
            if spec is None:
                limits.pop(name, None)
                continue
            limits[name] = _limit(spec, where)
        if limits.get(USER_ID) != Limit(1):
            raise RulesError("identity.limits.user_id", "a profile has exactly one user id")
        values = _strings(raw.get("blocked_values", []), "identity.blocked_values")
        blocked = frozenset(v.strip().lower() for v in values)
        region = raw.get("phone_region", "CN")
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise RulesError("identity.phone_region", f"{region!r} is not a region (CN, US, ...)")
        strategies = raw.get("trait_strategies", {})
        if not isinstance(strategies, dict):
            raise RulesError("identity.trait_strategies", "must be an object of trait → strategy")
        for trait, strategy in strategies.items():
            if strategy not in TRAIT_STRATEGIES:
                raise RulesError(
                    f"identity.trait_strategies.{trait}",
                    f"strategy must be one of {', '.join(TRAIT_STRATEGIES)}",
                )
        return cls(
            custom_types=custom,
            priority=order,
            limits=limits,
            blocked_values=blocked,
            phone_region=region.upper(),
            trait_strategies=dict(strategies),
        )


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(where, "must be a list of strings")
    return value


def _limit(spec: Any, where: str) -> Limit:
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = {"max": spec}
    if not isinstance(spec, dict) or set(spec) - {"max", "window_days"}:
        raise RulesError(where, "a limit is a number or {max, window_days}")
    most, window = spec.get("max"), spec.get("window_days")
    if not isinstance(most, int) or isinstance(most, bool) or not 1 <= most <= 10_000:
        raise RulesError(f"{where}.max", "max must be a whole number from 1 to 10000")
    if window is not None and (
        not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 3650
    ):
        raise RulesError(f"{where}.window_days", "window_days must be 1 to 3650 days")
    return Limit(most, window)
