import ipaddress
from collections.abc import Iterator
from pathlib import Path

import maxminddb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.pipeline.geo import EMPTY_GEO, Geo, GeoDatabaseError, GeoLookup, open_geo
from haina.pipeline.geo_testdb import write_test_geo_db

quick = settings(database=None)


@pytest.fixture(scope="module")
def geo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("geo") / "GeoLite2-City-test.mmdb"
    write_test_geo_db(path)
    return path


@pytest.fixture(scope="module")
def geo(geo_db: Path) -> Iterator[GeoLookup]:
    lookup = open_geo(geo_db)
    assert lookup is not None
    yield lookup
    lookup.close()


def test_test_database_reads_back_with_maxminddb(geo_db: Path) -> None:
    with maxminddb.open_database(str(geo_db)) as reader:
        assert reader.metadata().database_type == "GeoLite2-City"
        assert reader.metadata().languages == ["en", "zh-CN"]
        record = reader.get("1.2.3.4")
    assert record == {
        "country": {"iso_code": "CN", "names": {"en": "China", "zh-CN": "中国"}},
        "subdivisions": [{"iso_code": "GD", "names": {"en": "Guangdong", "zh-CN": "广东省"}}],
        "city": {"names": {"en": "Shenzhen", "zh-CN": "深圳市"}},
    }


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("1.2.3.4", Geo("CN", "Guangdong", "Shenzhen")),
        ("1.2.3.0", Geo("CN", "Guangdong", "Shenzhen")),  # an anonymised address still resolves
        ("::ffff:1.2.3.200", Geo("CN", "Guangdong", "Shenzhen")),
        ("223.5.5.5", Geo("CN", "Zhejiang", "Hangzhou")),
        ("81.2.69.160", Geo("GB", "England", "London")),
        ("2001:db8::1", Geo("DE", "Berlin", "Berlin")),
        ("9.9.9.9", Geo("US", "CA", None)),  # subdivision without names: its ISO code
        ("5.6.7.8", Geo("FR", None, None)),  # country-level record
        ("8.8.8.8", EMPTY_GEO),  # not in the database
        ("1.2.4.1", EMPTY_GEO),
    ],
)
def test_lookup(geo: GeoLookup, ip: str, expected: Geo) -> None:
    assert geo.lookup(ip) == expected


@pytest.mark.parametrize("ip", [None, "", "not an ip", "1.2.3", "1.2.3.4:80", "999.1.1.1"])
def test_invalid_input_gives_empty_geo(geo: GeoLookup, ip: str | None) -> None:
    assert geo.lookup(ip) == EMPTY_GEO


def test_names_in_another_locale(geo_db: Path) -> None:
    lookup = GeoLookup(geo_db, locale="zh-CN")
    try:
        assert lookup.lookup("1.2.3.4") == Geo("CN", "广东省", "深圳市")
        assert lookup.lookup("9.9.9.9") == Geo("US", "CA", None)
        assert lookup.lookup("81.2.69.1") == Geo("GB", "England", "伦敦")  # falls back to en
    finally:
        lookup.close()


def test_results_are_cached(geo: GeoLookup) -> None:
    assert geo.lookup("223.5.5.5") is geo.lookup("".join(["223.5.5.", "5"]))


def test_lookup_after_close_does_not_raise(geo_db: Path) -> None:
    lookup = GeoLookup(geo_db)
    lookup.close()
    assert lookup.lookup("1.2.3.4") == EMPTY_GEO


def test_open_geo_without_a_path_disables_geo() -> None:
    assert open_geo(None) is None


def test_missing_or_invalid_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="cannot open geo database"):
        open_geo(tmp_path / "missing.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_text("not a database")
    with pytest.raises(GeoDatabaseError, match="not a MaxMind DB file"):
        open_geo(junk)


@quick
@given(st.ip_addresses() | st.text(max_size=60))
def test_any_input_never_raises(
    geo: GeoLookup, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str
) -> None:
    result = geo.lookup(str(ip))
    assert isinstance(result, Geo)
    assert result.country is None or len(result.country) == 2


def test_geo_setting_is_documented() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "enrichment.md"
    text = docs.read_text(encoding="utf-8")
    assert "`geoip_path`" in text and "`HAINA_GEOIP_PATH`" in text
