"""A tiny GeoLite2-City-shaped MaxMind DB for tests and demos (mmdb-writer, a dev dependency).

Networks written by `write_test_geo_db`:

| network          | country | region (subdivision)           | city                     |
| ---------------- | ------- | ------------------------------ | ------------------------ |
| 1.2.3.0/24       | CN      | Guangdong / 广东省              | Shenzhen / 深圳市         |
| 223.5.5.0/24     | CN      | Zhejiang / 浙江省               | Hangzhou / 杭州市         |
| 81.2.69.0/24     | GB      | England                        | London                   |
| 9.9.9.0/24       | US      | (ISO code "CA" only, no names) | —                        |
| 5.6.7.0/24       | FR      | —                              | —                        |
| 2001:db8::/32    | DE      | Berlin                         | Berlin                   |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_test_geo_db"]


def _names(en: str, zh: str | None = None) -> dict[str, str]:
    return {"en": en} if zh is None else {"en": en, "zh-CN": zh}


def _record(
    country: tuple[str, str, str],
    subdivision: dict[str, Any] | None = None,
    city: dict[str, str] | None = None,
) -> dict[str, Any]:
    code, en, zh = country
    record: dict[str, Any] = {"country": {"iso_code": code, "names": _names(en, zh)}}
    if subdivision is not None:
        record["subdivisions"] = [subdivision]
    if city is not None:
        record["city"] = {"names": city}
    return record


_CHINA = ("CN", "China", "中国")
_NETWORKS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "1.2.3.0/24",
        _record(
            _CHINA,
            {"iso_code": "GD", "names": _names("Guangdong", "广东省")},
            _names("Shenzhen", "深圳市"),
        ),
    ),
    (
        "223.5.5.0/24",
        _record(
            _CHINA,
            {"iso_code": "ZJ", "names": _names("Zhejiang", "浙江省")},
            _names("Hangzhou", "杭州市"),
        ),
    ),
    (
        "81.2.69.0/24",
        _record(
            ("GB", "United Kingdom", "英国"),
            {"iso_code": "ENG", "names": _names("England")},
            _names("London", "伦敦"),
        ),
    ),
    ("9.9.9.0/24", _record(("US", "United States", "美国"), {"iso_code": "CA"})),
    ("5.6.7.0/24", _record(("FR", "France", "法国"))),
    (
        "2001:db8::/32",
        _record(
            ("DE", "Germany", "德国"),
            {"iso_code": "BE", "names": _names("Berlin", "柏林")},
            _names("Berlin", "柏林"),
        ),
    ),
)


def write_test_geo_db(path: Path) -> None:
    """Write the networks in this module's docstring to `path` as a MaxMind DB file."""
    from mmdb_writer import MMDBWriter  # dev dependency: imported only when a test DB is made
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en", "zh-CN"],
        description="Haina test geo database",
    )
    for network, record in _NETWORKS:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
