"""Acquisition enrichment: source, medium, campaign and channel of an event.

Inputs are the page URL, the referrer, Segment's ``context.campaign`` and the site's own hosts.
Source lists, click ids and the ordered channel rules are data in ``channel_rules.yaml``;
this module interprets them. docs/channels.md states every rule.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote_plus

import yaml

__all__ = [
    "FIELDS",
    "Acquisition",
    "ChannelRules",
    "ChannelRulesError",
    "acquisition_for",
    "default_rules",
    "load_rules",
]

FIELDS: Final = ("source", "medium", "campaign", "term", "content", "referrer_host", "click_id")
CATEGORIES: Final = frozenset({"search", "social", "video", "shopping", "ai"})
MAX_VALUE_LENGTH: Final = 200
_MAX_QUERY_LENGTH: Final = 4096  # query strings are cached; UTM parameters come early anyway
_MAX_ORIGIN_LENGTH: Final = 512  # scheme, user info, host (at most 253) and port
_UTM_PARAMS: Final = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Segment's context.campaign keys, then the utm_* spellings some SDKs send instead.
_CAMPAIGN_KEYS: Final = (
    ("source", "utm_source"),
    ("medium", "utm_medium"),
    ("name", "utm_campaign"),
    ("term", "utm_term"),
    ("content", "utm_content"),
)
_NETLOC_RE: Final = re.compile(r"\s*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//([^/?#\\\s]*)")
_HOST_RE: Final = re.compile(r"[\w-]+(?:\.[\w-]+)*|[0-9a-fA-F:.]+")
_NO_UTM: Final = (None, None, None, None, None)

Values = Mapping[str, str]
Utm = tuple[str | None, str | None, str | None, str | None, str | None]
Predicate = Callable[[Values], bool]


@dataclass(frozen=True, slots=True)
class Acquisition:
    channel: str  # e.g. "Organic Search", "Direct", "Paid Social", "Unassigned"
    source: str  # normalised, lower-case: "baidu", "wechat"; "(direct)" when none
    medium: str  # "(none)" for direct, "organic", "referral", "cpc", "social", ...
    campaign: str | None
    term: str | None
    content: str | None
    referrer_host: str | None  # lower-case host of an external referrer
    click_id: str | None  # name of the click-id parameter seen: "gclid", "bd_vid", ...


class ChannelRulesError(ValueError):
    """A channel rules file is malformed; the message names the file and the place."""


@dataclass(frozen=True, slots=True)
class _Source:
    name: str
    categories: frozenset[str]


@dataclass(frozen=True, slots=True)
class _ClickId:
    param: str
    source: str
    medium: str


class ChannelRules:
    """Compiled source lists, click ids and ordered channel rules (see `load_rules`)."""

    def __init__(
        self,
        sources: Mapping[str, object],
        click_ids: Mapping[str, object],
        rules: Iterable[object],
    ) -> None:
        self._exact: dict[str, _Source] = {}
        self._wild: dict[str, _Source] = {}  # "google.*" entries, keyed by "google"
        self._aliases: dict[str, str] = {}
        self.categories: dict[str, frozenset[str]] = {}  # source name → its categories
        for name, spec in sources.items():
            self._add_source(name, spec)
        self.click_ids = tuple(_click_id(param, spec) for param, spec in click_ids.items())
        self._click_by_param = {c.param: c for c in self.click_ids}
        self._wanted = frozenset(chain(_UTM_PARAMS, (c.param for c in self.click_ids)))
        compiled = [
            _compile_rule(rule, f"rules[{i}]", self.categories) for i, rule in enumerate(rules)
        ]
        self.rules: tuple[tuple[str, Predicate], ...] = tuple((c, p) for c, p, _ in compiled)
        used = sorted({FIELDS.index(f) for _, _, fields in compiled for f in fields} | {0, 1})
        self._used_fields = tuple(FIELDS[i] for i in used)
        self._key: Callable[[tuple[str, ...]], tuple[str, ...]] = itemgetter(*used)
        self.classify_host = lru_cache(maxsize=20_000)(self._classify_host)
        self.normalise_source = lru_cache(maxsize=20_000)(self._normalise_source)
        self.query_info = lru_cache(maxsize=20_000)(self._query_info)
        self.derive = lru_cache(maxsize=20_000)(self._derive)
        self._channel = lru_cache(maxsize=20_000)(self._channel_uncached)

    def channel_for(self, values: tuple[str, ...]) -> str:
        """Channel for lower-case field values given in `FIELDS` order (cached)."""
        return self._channel(self._key(values))

    def _channel_uncached(self, key: tuple[str, ...]) -> str:
        values = dict(zip(self._used_fields, key, strict=True))
        return next((channel for channel, test in self.rules if test(values)), "Unassigned")

    def _add_source(self, name: object, entry: object) -> None:
        key = str(name).strip().lower()
        where = f"sources.{key}"
        spec = _mapping(entry, where)
        categories = frozenset(str(c).lower() for c in _list(spec.get("categories"), where))
        if not categories <= CATEGORIES:
            raise ChannelRulesError(f"{where}: unknown category {sorted(categories - CATEGORIES)}")
        source = _Source(key, categories)
        self.categories[key] = categories
        for host in _list(spec.get("hosts"), where):
            host = str(host).strip().lower()
            if host.endswith(".*"):
                self._wild[host[:-2]] = source
            else:
                self._exact[host] = source
        for alias in chain([key], _list(spec.get("aliases"), where)):
            self._aliases[str(alias).strip().lower()] = key

    def _classify_host(self, host: str) -> _Source | None:
        # Most specific suffix first: yiyan.baidu.com → yiyan before baidu.com → baidu.
        labels = host.split(".")
        n = len(labels)
        for i in range(n):
            found = self._exact.get(".".join(labels[i:]))
            if found is None and (
                i == n - 2 or (i == n - 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2)
            ):
                found = self._wild.get(labels[i])  # google.de, google.co.uk, google.com.hk
            if found is not None:
                return found
        return None

    def _normalise_source(self, raw: str) -> str:
        value = raw.strip().lower()
        alias = self._aliases.get(value)
        if alias is not None:
            return alias
        if "." in value and " " not in value:  # utm_source=m.baidu.com, chatgpt.com
            host = _host_of(value if "//" in value else "//" + value)
            found = self.classify_host(host) if host else None
            if found is not None:
                return found.name
        return value

    def _query_info(self, query: str) -> tuple[Utm, str]:
        """UTM values and the first click-id parameter (or "") in a query string."""
        found: dict[str, str] = {}
        for pair in query.split("&"):  # by hand: decode only the values Haina reads
            key, _, value = pair.partition("=")
            if "%" in key or "+" in key:
                key = unquote_plus(key, errors="replace")
            param = key.lower()
            if param in self._wanted and param not in found:
                value = unquote_plus(value, errors="replace").strip()
                if value:
                    found[param] = value[:MAX_VALUE_LENGTH]
        source, medium, name, term, content = (found.get(p) for p in _UTM_PARAMS)
        click = next((c.param for c in self.click_ids if c.param in found), "")
        return (source, medium, name, term, content), click

    def _derive(self, utm: Utm, click_param: str, ref_host: str | None) -> Acquisition:
        """Source, medium and channel from UTM values, a click id and an external referrer."""
        source_raw, medium_raw, name, term, content = utm
        click = self._click_by_param.get(click_param)
        ref_source = self.classify_host(ref_host) if ref_host else None
        if source_raw:
            source = self.normalise_source(source_raw)
        elif click is not None:
            source = click.source
        elif ref_host is not None:
            source = ref_source.name if ref_source else ref_host.removeprefix("www.")
        else:
            source = "(not set)" if medium_raw else "(direct)"

        if medium_raw:
            medium = medium_raw.lower()
        elif click is not None and click.source == source:  # a click id speaks for its platform
            medium = click.medium
        elif source_raw:
            medium = "(not set)"
        elif ref_host is not None:
            medium = "organic" if ref_source and "search" in ref_source.categories else "referral"
        else:
            medium = "(none)"  # source is "(direct)" here

        lowered = ((name or "").lower(), (term or "").lower(), (content or "").lower())
        values = (source, medium, *lowered, ref_host or "", click_param)
        channel = self.channel_for(values)
        return Acquisition(
            channel, source, medium, name, term, content, ref_host, click_param or None
        )


def load_rules(path: Path | None = None) -> ChannelRules:
    """The built-in rules, with the workspace's custom rules file at `path` evaluated first.

    A custom file may hold ``rules`` (tried before every built-in rule), and ``sources`` and
    ``click_ids`` (added to, or replacing, built-in entries of the same name). Raises
    `ChannelRulesError` with a one-line message.
    """
    builtin = _read_document(
        importlib.resources.files("haina.pipeline")
        .joinpath("channel_rules.yaml")
        .read_text(encoding="utf-8"),
        "channel_rules.yaml",
    )
    sources = dict(_mapping(builtin.get("sources"), "sources"))
    click_ids = dict(_mapping(builtin.get("click_ids"), "click_ids"))
    rules = list(_list(builtin.get("rules"), "rules"))
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ChannelRulesError(f"cannot read channel rules {path}: {error}") from error
        custom = _read_document(text, str(path))
        sources.update(_mapping(custom.get("sources"), f"{path}: sources"))
        click_ids.update(_mapping(custom.get("click_ids"), f"{path}: click_ids"))
        rules = list(_list(custom.get("rules"), f"{path}: rules")) + rules
    try:
        return ChannelRules(sources, click_ids, rules)
    except ChannelRulesError as error:
        raise ChannelRulesError(f"{path or 'channel_rules.yaml'}: {error}") from error


@cache
def default_rules() -> ChannelRules:
    """The built-in rules, read once per process."""
    return load_rules(None)


def acquisition_for(
    page_url: str | None,
    referrer: str | None,
    campaign: Mapping[str, object] | None = None,
    own_hosts: Collection[str] = (),
    *,
    rules: ChannelRules | None = None,
) -> Acquisition:
    """Source, medium, campaign fields and channel for one event; never raises.

    UTM values come from `campaign` (Segment ``context.campaign``), else from the page URL.
    A referrer on the page's host, a subdomain of it, or one of `own_hosts` is internal
    navigation and ignored. See docs/channels.md for the full derivation.
    """
    rules = rules or default_rules()
    if page_url and "?" in page_url:
        utm, click = rules.query_info(_query_of(page_url))
    else:
        utm, click = _NO_UTM, ""
    if campaign:
        utm = _with_campaign(campaign, utm)
    ref_host = _origin_host(referrer) if referrer else None
    if ref_host is not None and _is_internal(ref_host, page_url, own_hosts):
        ref_host = None
    return rules.derive(utm, click, ref_host)


def _with_campaign(campaign: Mapping[str, object], utm: Utm) -> Utm:
    merged = list(utm)
    for i, keys in enumerate(_CAMPAIGN_KEYS):
        for key in keys:
            value = campaign.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and (value := value.strip()):
                merged[i] = value[:MAX_VALUE_LENGTH]
                break
    source, medium, name, term, content = merged
    return source, medium, name, term, content


def _query_of(url: str) -> str:
    return url.partition("?")[2].partition("#")[0][:_MAX_QUERY_LENGTH]


def _host_of(url: str | None) -> str | None:
    """Lower-case host of an absolute (or scheme-relative) URL; None when it has none."""
    match = _NETLOC_RE.match(url) if url else None
    if match is None:
        return None
    netloc = match.group(1).rpartition("@")[2]
    if netloc.startswith("["):  # IPv6 literal
        host = netloc[1:].partition("]")[0]
    else:
        host = netloc.partition(":")[0].rstrip(".")
    host = host.lower()
    return host if host and _HOST_RE.fullmatch(host) else None


def _is_internal(ref_host: str, page_url: str | None, own_hosts: Collection[str]) -> bool:
    page_host = _origin_host(page_url) if page_url else None
    if page_host is not None and _same_site(ref_host, page_host):
        return True
    return any(_same_site(ref_host, host.strip().lower()) for host in own_hosts)


@lru_cache(maxsize=20_000)
def _same_site(ref_host: str, own_host: str) -> bool:
    """True when `ref_host` is `own_host` or a subdomain of it, ignoring a leading "www."."""
    referrer, own = ref_host.removeprefix("www."), own_host.removeprefix("www.")
    return bool(own) and (referrer == own or referrer.endswith("." + own))


_cached_host_of: Final = lru_cache(maxsize=20_000)(_host_of)


def _origin_host(url: str) -> str | None:
    # Cache on the part before the path: every URL of a site shares it.
    cut = url.find("/", url.find("//") + 2)
    return _cached_host_of((url if cut < 0 else url[:cut])[:_MAX_ORIGIN_LENGTH])


# --- reading and compiling the rules document -------------------------------------------


def _read_document(text: str, where: str) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ChannelRulesError(f"{where}: not valid YAML: {error}") from error
    document = _mapping(document, where)
    unknown = set(document) - {"version", "definitions", "sources", "click_ids", "rules"}
    if unknown:
        raise ChannelRulesError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    return document


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ChannelRulesError(f"{where}: expected a mapping")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ChannelRulesError(f"{where}: expected a list")
    return value


def _click_id(param: object, spec: object) -> _ClickId:
    fields = _mapping(spec, f"click_ids.{param}")
    source, medium = fields.get("source"), fields.get("medium")
    if source is None or medium is None:
        raise ChannelRulesError(f"click_ids.{param}: needs source and medium")
    return _ClickId(str(param).lower(), str(source).lower(), str(medium).lower())


def _compile_rule(
    rule: object, where: str, categories: Mapping[str, frozenset[str]]
) -> tuple[str, Predicate, frozenset[str]]:
    fields = _mapping(rule, where)
    channel = fields.get("channel")
    if not isinstance(channel, str) or not channel.strip() or "when" not in fields:
        raise ChannelRulesError(f"{where}: needs a channel name and a 'when' condition")
    predicate, used = _compile(fields["when"], f"{where}.when", categories)
    return channel.strip(), predicate, used


_OPERATORS: Final = frozenset(
    {"equals", "in", "contains", "starts_with", "ends_with", "matches", "category", "is_set"}
)


def _compile(
    condition: object, where: str, categories: Mapping[str, frozenset[str]]
) -> tuple[Predicate, frozenset[str]]:
    """A predicate over lower-case field values, and the fields it reads."""
    spec = _mapping(condition, where)
    if len(spec) == 1 and ("all" in spec or "any" in spec):
        combine = all if "all" in spec else any
        parts = [
            _compile(c, f"{where}.{key}[{i}]", categories)
            for key, items in spec.items()
            for i, c in enumerate(_list(items, f"{where}.{key}"))
        ]
        tests = tuple(p for p, _ in parts)
        used = frozenset(chain.from_iterable(f for _, f in parts))
        return (lambda values: combine(test(values) for test in tests)), used
    if len(spec) == 1 and "not" in spec:
        inner, used = _compile(spec["not"], f"{where}.not", categories)
        return (lambda values: not inner(values)), used
    field = spec.get("field")
    operators = set(spec) - {"field"}
    if field not in FIELDS or len(operators) != 1 or not operators <= _OPERATORS:
        raise ChannelRulesError(
            f"{where}: expected all/any/not, or 'field' ({', '.join(FIELDS)}) with one of "
            f"{', '.join(sorted(_OPERATORS))}"
        )
    operator = operators.pop()
    return _leaf(str(field), operator, spec[operator], where, categories), frozenset({field})


def _leaf(
    field: str,
    operator: str,
    argument: object,
    where: str,
    categories: Mapping[str, frozenset[str]],
) -> Predicate:
    if operator == "in":
        options = frozenset(str(a).lower() for a in _list(argument, f"{where}.in"))
        return lambda values: values[field] in options
    if operator == "is_set":
        wanted = bool(argument)
        return lambda values: (values[field] != "") is wanted
    text = str(argument).lower()
    if operator == "equals":
        return lambda values: values[field] == text
    if operator == "contains":
        return lambda values: text in values[field]
    if operator == "starts_with":
        return lambda values: values[field].startswith(text)
    if operator == "ends_with":
        return lambda values: values[field].endswith(text)
    if operator == "category":
        if field != "source" or text not in CATEGORIES:
            raise ChannelRulesError(f"{where}: category applies to source, one of {CATEGORIES}")
        empty: frozenset[str] = frozenset()
        return lambda values: text in categories.get(values[field], empty)
    try:
        pattern = re.compile(str(argument), re.IGNORECASE)
    except re.error as error:
        raise ChannelRulesError(f"{where}: bad regular expression: {error}") from error
    return lambda values: pattern.fullmatch(values[field]) is not None
