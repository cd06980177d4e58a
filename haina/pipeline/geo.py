"""Country, region and city for an IP address, from a MaxMind-format (GeoLite2-City) file.

The operator provides the database (setting `geoip_path`, env `HAINA_GEOIP_PATH`); without
it geo enrichment is off. Precision stops at city on purpose (PIPL Art. 28: precise location
trails are sensitive). See docs/enrichment.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import maxminddb

from haina.pipeline.ip import parse_ip

__all__ = ["EMPTY_GEO", "Geo", "GeoDatabaseError", "GeoLookup", "open_geo"]


@dataclass(frozen=True, slots=True)
class Geo:
    country: str | None  # ISO 3166-1 alpha-2, e.g. "CN"
    region: str | None  # first subdivision's name (or its ISO code when it has no name)
    city: str | None


EMPTY_GEO: Final = Geo(None, None, None)


class GeoDatabaseError(ValueError):
    """The configured geo database cannot be opened or is not a MaxMind DB file."""


class GeoLookup:
    """Looks IPs up in one MaxMind DB file; results are cached per IP (LRU)."""

    def __init__(self, path: Path, *, locale: str = "en", cache_size: int = 65_536) -> None:
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError) as error:  # InvalidDatabaseError is a RuntimeError
            raise GeoDatabaseError(f"cannot open geo database {path}: {error}") from error
        except maxminddb.InvalidDatabaseError as error:
            raise GeoDatabaseError(f"{path} is not a MaxMind DB file: {error}") from error
        self.path = path
        self.locale = locale
        self._cached_lookup = lru_cache(maxsize=cache_size)(self._lookup)

    def lookup(self, ip: str | None) -> Geo:
        """Country, region and city for `ip`; `EMPTY_GEO` when unknown or invalid. Never raises."""
        if not ip:
            return EMPTY_GEO
        return self._cached_lookup(ip)

    def close(self) -> None:
        self._cached_lookup.cache_clear()
        self._reader.close()

    def _lookup(self, ip: str) -> Geo:
        address = parse_ip(ip)
        if address is None:
            return EMPTY_GEO
        try:
            record = self._reader.get(address)
        except (ValueError, TypeError, RuntimeError):  # IPv6 in an IPv4 file, closed, corrupt
            return EMPTY_GEO
        if not isinstance(record, Mapping):
            return EMPTY_GEO
        return Geo(
            country=_text(_field(record, "country"), "iso_code"),
            region=self._name(_first(record.get("subdivisions")), with_code=True),
            city=self._name(_field(record, "city"), with_code=False),
        )

    def _name(self, part: Mapping[str, object] | None, *, with_code: bool) -> str | None:
        if part is None:
            return None
        names = part.get("names")
        if isinstance(names, Mapping):
            name = names.get(self.locale) or names.get("en")
            if isinstance(name, str) and name:
                return name
        return _text(part, "iso_code") if with_code else None


def open_geo(path: Path | None) -> GeoLookup | None:
    """A `GeoLookup` for `path`, or None when no path is configured.

    Raises `GeoDatabaseError` (one-line message) when a configured file cannot be read.
    """
    return None if path is None else GeoLookup(path)


def _field(record: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    value = record.get(key)
    return value if isinstance(value, Mapping) else None


def _first(value: object) -> Mapping[str, object] | None:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return None


def _text(part: Mapping[str, object] | None, key: str) -> str | None:
    value = None if part is None else part.get(key)
    return value if isinstance(value, str) and value else None
