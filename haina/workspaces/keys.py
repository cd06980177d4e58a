"""Creating workspaces and sources, issuing and checking keys.

Write keys identify a source and are public (they ship in web pages). API tokens read data and
are secrets: they are shown once and only their SHA-256 is stored, found by a short prefix.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from haina.identity.rules import IdentityRules, RulesError
from haina.pipeline.sitesearch import DEFAULT_SEARCH_PARAMS
from haina.query.scope import ReportSettings
from haina.store.meta import ApiToken, MetaStore, Source, Workspace, WriteKey

log = logging.getLogger(__name__)

# Client-side sources (browsers, apps) send from the person's device: their IP is the
# connection's. Server-side ones (servers, imports) may say which IP an event came from.
SOURCE_KINDS = ("web", "app", "server", "import")
CLIENT_SIDE_KINDS = frozenset({"web", "app"})


# Roles of API tokens; issue 5 gives each its permissions. Today every token reads its workspace.
ROLES = ("owner", "admin", "analyst", "marketer", "sales", "privacy_officer")


class NotFound(LookupError):
    """A workspace, source or key that does not exist."""


@dataclass(frozen=True, slots=True)
class WorkspaceSettings:
    """What the pipeline needs to know about a workspace."""

    anonymise_ip: bool = True
    site_search_params: tuple[str, ...] = DEFAULT_SEARCH_PARAMS
    own_hosts: tuple[str, ...] = ()
    identity: IdentityRules = field(default_factory=IdentityRules)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WorkspaceSettings:
        return cls(
            anonymise_ip=bool(raw.get("anonymise_ip", True)),
            site_search_params=tuple(raw["site_search_params"])
            if "site_search_params" in raw
            else DEFAULT_SEARCH_PARAMS,
            own_hosts=tuple(raw.get("own_hosts", ())),
            identity=_identity_rules(raw.get("identity")),
            extra={k: v for k, v in raw.items() if k not in _KNOWN},
        )


_KNOWN = {"anonymise_ip", "site_search_params", "own_hosts", "identity"}


def _identity_rules(raw: Any) -> IdentityRules:
    """Stored rules were validated when set; ones that no longer validate (an older version's)
    fall back to the defaults rather than stop collection."""
    try:
        return IdentityRules.from_json(raw)
    except RulesError:
        log.warning("workspace identity settings are invalid; using the defaults")
        return IdentityRules()


# Report settings (docs/reports.md): name → (default, lower bound, upper bound) for numbers.
REPORT_INT_SETTINGS: dict[str, tuple[int, int, int]] = {
    "session_timeout_minutes": (30, 1, 600),
    "engaged_seconds": (10, 10, 60),
}
SESSION_SPLITS = ("none", "midnight_campaign")
# Conversion events until a workspace names its own: the Segment e-commerce / B2B spec names
# and GA4's recommended ones.
DEFAULT_CONVERSION_EVENTS = (
    "Order Completed", "Signed Up", "Demo Requested", "purchase", "sign_up", "generate_lead",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a valid write key stands for."""

    key: str
    workspace_id: str
    source_id: str
    source_kind: str
    plan_mode: str
    settings: WorkspaceSettings


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    workspace_id: str
    role: str


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_workspace(meta: MetaStore, name: str, timezone: str = "UTC") -> dict[str, str]:
    """Create a workspace with a default web source; return its id, write key and API token."""
    name = name.strip()
    if not name:
        raise ValueError("workspace name must not be empty")
    with meta.session() as s:
        if s.scalar(select(Workspace).where(Workspace.name == name)) is not None:
            raise ValueError(f"workspace {name!r} exists already")
        ws = Workspace(id=_id("ws"), name=name, timezone=timezone, settings={})
        s.add(ws)
    source_id, write_key = create_source(meta, ws.id, "web")
    token = create_api_token(meta, ws.id, role="admin", name="default")
    return {
        "workspace_id": ws.id,
        "source_id": source_id,
        "write_key": write_key,
        "api_token": token,
    }


def create_source(
    meta: MetaStore, workspace_id: str, name: str, kind: str = "web", plan_mode: str = "flag"
) -> tuple[str, str]:
    """Create a source with one write key; return (source_id, write_key)."""
    if plan_mode not in ("allow", "flag", "quarantine"):
        raise ValueError("plan_mode must be allow, flag or quarantine")
    if kind not in SOURCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SOURCE_KINDS)}")
    with meta.session() as s:
        taken = s.scalar(
            select(Source).where(Source.workspace_id == workspace_id, Source.name == name)
        )
        if taken is not None:
            raise ValueError(f"the workspace has a source named {name!r} already")
        src = Source(
            id=_id("src"), workspace_id=workspace_id, name=name, kind=kind, plan_mode=plan_mode
        )
        s.add(src)
        s.flush()
        key = "wk_" + secrets.token_urlsafe(24)
        s.add(WriteKey(key=key, workspace_id=workspace_id, source_id=src.id))
    return src.id, key


def create_api_token(
    meta: MetaStore, workspace_id: str, role: str = "admin", name: str = ""
) -> str:
    """Issue an API token; the token itself is returned once and never stored."""
    secret = secrets.token_urlsafe(32)
    prefix = secrets.token_hex(4)
    token = f"hk_{prefix}_{secret}"
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with meta.session() as s:
        s.add(
            ApiToken(
                id=_id("tok"),
                workspace_id=workspace_id,
                prefix=prefix,
                token_hash=_hash(token),
                role=role,
                name=name,
            )
        )
    return token


def verify_api_token(meta: MetaStore, token: str) -> TokenInfo | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "hk":
        return None
    digest = _hash(token)
    with meta.session() as s:
        rows = s.scalars(select(ApiToken).where(ApiToken.prefix == parts[1])).all()
        for row in rows:
            if row.revoked_at is None and hmac.compare_digest(row.token_hash, digest):
                return TokenInfo(row.id, row.workspace_id, row.role)
    return None


def lookup_write_key(meta: MetaStore, key: str) -> KeyInfo | None:
    """The source behind a write key, or None when the key is unknown or revoked."""
    with meta.session() as s:
        row = s.execute(
            select(WriteKey, Source, Workspace)
            .join(Source, Source.id == WriteKey.source_id)
            .join(Workspace, Workspace.id == WriteKey.workspace_id)
            .where(WriteKey.key == key)
        ).first()
        if row is None or row[0].revoked_at is not None:
            return None
        wk, src, ws = row
        return KeyInfo(
            wk.key,
            ws.id,
            src.id,
            src.kind,
            src.plan_mode,
            WorkspaceSettings.from_json(ws.settings or {}),
        )


def revoke_write_key(meta: MetaStore, key: str) -> None:
    with meta.session() as s:
        wk = s.get(WriteKey, key)
        if wk is None:
            raise NotFound(f"no write key {key!r}")
        wk.revoked_at = datetime.now(UTC)


def find_workspace(meta: MetaStore, name_or_id: str) -> Workspace:
    with meta.session() as s:
        ws = s.scalar(
            select(Workspace).where((Workspace.id == name_or_id) | (Workspace.name == name_or_id))
        )
        if ws is None:
            raise NotFound(f"no workspace {name_or_id!r}")
        return ws


def list_workspaces(meta: MetaStore) -> list[Workspace]:
    with meta.session() as s:
        return list(s.scalars(select(Workspace).order_by(Workspace.created_at)))


def workspace_settings(meta: MetaStore, workspace_id: str) -> WorkspaceSettings:
    with meta.session() as s:
        ws = s.get(Workspace, workspace_id)
        if ws is None:
            raise NotFound(f"no workspace {workspace_id!r}")
        return WorkspaceSettings.from_json(ws.settings or {})


def write_keys_of(meta: MetaStore, workspace_id: str, kind: str | None = None) -> list[WriteKey]:
    """The workspace's write keys, oldest first; only those of sources of `kind` if given."""
    with meta.session() as s:
        query = (
            select(WriteKey)
            .join(Source, Source.id == WriteKey.source_id)
            .where(WriteKey.workspace_id == workspace_id)
            .order_by(WriteKey.created_at)
        )
        if kind is not None:
            query = query.where(Source.kind == kind)
        return list(s.scalars(query))


def source_info(meta: MetaStore, source_id: str) -> KeyInfo:
    """What a write key of this source would stand for (used by replay and import)."""
    with meta.session() as s:
        row = s.execute(
            select(Source, Workspace)
            .join(Workspace, Workspace.id == Source.workspace_id)
            .where(Source.id == source_id)
        ).first()
        if row is None:
            raise NotFound(f"no source {source_id!r}")
        src, ws = row
        return KeyInfo(
            "",
            ws.id,
            src.id,
            src.kind,
            src.plan_mode,
            WorkspaceSettings.from_json(ws.settings or {}),
        )


def source_by_name(meta: MetaStore, workspace_id: str, name: str, kind: str) -> KeyInfo:
    """The workspace's source of this name, created on first use (e.g. "import")."""
    with meta.session() as s:
        src = s.scalar(
            select(Source).where(Source.workspace_id == workspace_id, Source.name == name)
        )
        source_id = src.id if src is not None else None
    if source_id is None:
        source_id, _ = create_source(meta, workspace_id, name, kind=kind)
    return source_info(meta, source_id)


class SettingError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


SETTING_TYPES: dict[str, str] = {
    "anonymise_ip": "bool",
    "site_search_params": "list",
    "own_hosts": "list",
    "session_timeout_minutes": "int",
    "engaged_seconds": "int",
    "session_split": "choice",
    "conversion_events": "list",
    "timezone": "timezone",
    "identity": "identity",
    "scoring": "scoring",
    "tag_rules": "tag_rules",
    "tags": "tags",
}


def parse_setting(name: str, value: Any) -> Any:
    """Check one workspace setting (as JSON, or as CLI text `a,b` / `true`)."""
    kind = SETTING_TYPES.get(name)
    if kind is None:
        raise ValueError(f"unknown setting {name!r}; known: {', '.join(sorted(SETTING_TYPES))}")
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false")
    if kind == "int":
        return _int_setting(name, value)
    if kind == "choice":
        if value not in SESSION_SPLITS:
            raise ValueError(f"{name} must be one of {', '.join(SESSION_SPLITS)}")
        return value
    if kind == "timezone":
        return _timezone(value)
    if kind in ("scoring", "tag_rules", "tags"):
        return _people_setting(kind, value)
    if kind == "identity":
        if isinstance(value, str):  # on the command line: JSON text
            try:
                value = json.loads(value)
            except ValueError:
                raise RulesError("identity", "identity must be a JSON object") from None
        return IdentityRules.from_json(value).to_json()  # RulesError names the field
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return value


def _people_setting(kind: str, value: Any) -> Any:
    """The scoring model, tag rules and tag inference settings, checked (docs/scoring.md,
    docs/tags.md)."""
    from pydantic import ValidationError

    from haina.profiles.tags import Inference, check_tag
    from haina.scoring.model import ScoringModel
    from haina.segments.definition import SegmentDefinition

    if isinstance(value, str):  # on the command line: JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise RulesError(kind, f"{kind} must be JSON") from None
    try:
        if kind == "scoring":
            return ScoringModel.model_validate(value).model_dump(mode="json", exclude_none=True)
        if kind == "tags":
            inference = Inference.from_json(value)
            return {"half_life_days": inference.half_life_days, "inferred": inference.enabled}
        if not isinstance(value, list):
            raise RulesError("tag_rules", "tag_rules is a list of {tag, description, definition}")
        seen, out = set(), []
        for i, rule in enumerate(value):
            if not isinstance(rule, dict) or set(rule) - {"tag", "description", "definition"}:
                raise RulesError(f"tag_rules.{i}", "a tag rule is {tag, description, definition}")
            try:
                tag = check_tag(rule.get("tag"))
            except ValueError as exc:
                raise RulesError(f"tag_rules.{i}.tag", str(exc)) from None
            if tag in seen:
                raise RulesError(f"tag_rules.{i}.tag", f"two rules give the tag {tag!r}")
            seen.add(tag)
            try:
                definition = SegmentDefinition.model_validate(rule.get("definition") or {})
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                raise RulesError(f"tag_rules.{i}.definition.{loc}", first["msg"]) from None
            out.append(
                {
                    "tag": tag,
                    "description": str(rule.get("description", ""))[:2000],
                    "definition": definition.model_dump(
                        mode="json", by_alias=True, exclude_none=True
                    ),
                }
            )
        return out
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise RulesError(f"{kind}.{loc}" if loc else kind, first["msg"]) from None
    except ValueError as exc:
        if isinstance(exc, RulesError):
            raise
        raise RulesError(getattr(exc, "field", kind), str(exc)) from None


def _int_setting(name: str, value: Any) -> int:
    _, lo, hi = REPORT_INT_SETTINGS[name]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}") from None
    if isinstance(value, bool) or not lo <= number <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}")
    return number


def _timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
        ) from None
    return str(value)


def update_settings(meta: MetaStore, workspace_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and apply setting changes; returns the workspace's settings as stored."""
    parsed = {}
    for k, v in changes.items():
        try:
            parsed[k] = parse_setting(k, v)
        except RulesError as exc:
            raise SettingError(exc.field, str(exc)) from exc
        except ValueError as exc:
            raise SettingError(k, str(exc)) from exc
    with meta.session() as s:
        ws = s.get(Workspace, workspace_id)
        if ws is None:
            raise NotFound(f"no workspace {workspace_id!r}")
        if "timezone" in parsed:
            ws.timezone = parsed.pop("timezone")
        ws.settings = {**(ws.settings or {}), **parsed}
        return dict(ws.settings)


def effective_settings(meta: MetaStore, workspace_id: str) -> dict[str, Any]:
    """Every setting with its value in force (defaults filled in)."""
    st = workspace_settings(meta, workspace_id)
    rs = report_settings(meta, workspace_id)
    return {
        "anonymise_ip": st.anonymise_ip,
        "site_search_params": list(st.site_search_params),
        "own_hosts": list(st.own_hosts),
        "timezone": rs.timezone,
        "session_timeout_minutes": rs.session_timeout_minutes,
        "engaged_seconds": rs.engaged_seconds,
        "session_split": rs.session_split,
        "conversion_events": list(rs.conversion_events),
        "identity": st.identity.to_json(),
        "scoring": st.extra.get("scoring", {}),
        "tag_rules": st.extra.get("tag_rules", []),
        "tags": st.extra.get("tags", {"half_life_days": 30.0, "inferred": True}),
    }


def report_settings(meta: MetaStore, workspace_id: str) -> ReportSettings:
    """What reports need to know about a workspace: time zone, sessions, conversions."""
    with meta.session() as s:
        ws = s.get(Workspace, workspace_id)
        if ws is None:
            raise NotFound(f"no workspace {workspace_id!r}")
        raw, tz = dict(ws.settings or {}), ws.timezone or "UTC"
    ints = {k: int(raw.get(k, d)) for k, (d, _, _) in REPORT_INT_SETTINGS.items()}
    split = raw.get("session_split", "none")
    return ReportSettings(
        timezone=tz,
        session_timeout_minutes=ints["session_timeout_minutes"],
        engaged_seconds=ints["engaged_seconds"],
        session_split="midnight_campaign" if split == "midnight_campaign" else "none",
        conversion_events=tuple(raw.get("conversion_events", DEFAULT_CONVERSION_EVENTS)),
    )


def revoke_api_token(meta: MetaStore, workspace_id: str, token_id: str) -> None:
    with meta.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.workspace_id != workspace_id:
            raise NotFound(f"no API token {token_id!r} in this workspace")
        row.revoked_at = datetime.now(UTC)


def api_tokens_of(meta: MetaStore, workspace_id: str) -> list[ApiToken]:
    with meta.session() as s:
        query = (
            select(ApiToken)
            .where(ApiToken.workspace_id == workspace_id)
            .order_by(ApiToken.created_at)
        )
        return list(s.scalars(query))
