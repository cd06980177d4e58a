from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.pipeline.sitesearch import (
    DEFAULT_SEARCH_PARAMS,
    MAX_KEYWORD_LENGTH,
    site_search_keyword,
)

quick = settings(database=None)


@pytest.mark.parametrize(
    ("url", "keyword"),
    [
        ("https://shop.example.com/search?q=running+shoes", "running shoes"),
        ("https://shop.example.com/?s=%20trim%20me%20", "trim me"),
        ("https://shop.example.cn/s?wd=%E8%BF%90%E5%8A%A8%E9%9E%8B&ie=utf-8", "运动鞋"),
        ("https://shop.example.cn/list?keyword=%E6%89%8B%E6%9C%BA", "手机"),
        ("https://shop.example.cn/list?kw=华为", "华为"),
        ("https://shop.example.com/find?Query=Case", "Case"),  # names match case-insensitively
        ("https://shop.example.com/find?q=&query=second", "second"),  # empty values are skipped
        ("https://shop.example.com/find?query=low&q=high", "high"),  # parameter order, not URL's
        ("https://shop.example.com/find?q=%ZZbroken", "%ZZbroken"),
        ("https://shop.example.com/find?q=caf%E9", "caf\ufffd"),  # not UTF-8: replaced
        ("https://shop.example.com/find?q=kept#q=fragment", "kept"),
    ],
)
def test_keyword_from_default_parameters(url: str, keyword: str) -> None:
    assert site_search_keyword(url) == keyword


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://shop.example.com/products/42",
        "https://shop.example.com/list?page=2&p=3",  # "p" is a page number, not a query
        "https://shop.example.com/find?q=+++",
        "https://shop.example.com/find#q=only-in-fragment",
        "https://shop.example.com/find?",
    ],
)
def test_no_keyword(url: str | None) -> None:
    assert site_search_keyword(url) is None


def test_configured_parameters_replace_the_defaults() -> None:
    url = "https://shop.example.com/find?q=default&term=custom"
    assert site_search_keyword(url, params=("term",)) == "custom"
    assert site_search_keyword(url, params=("missing",)) is None


def test_long_keywords_are_cut() -> None:
    keyword = site_search_keyword("https://x.example/?q=" + "a" * 500)
    assert keyword == "a" * MAX_KEYWORD_LENGTH


def test_default_parameters_include_chinese_site_conventions() -> None:
    assert {"wd", "word", "kw", "keyword"} <= set(DEFAULT_SEARCH_PARAMS)
    assert "p" not in DEFAULT_SEARCH_PARAMS


@quick
@given(st.text(max_size=300), st.lists(st.text(max_size=10), max_size=5))
def test_arbitrary_urls_never_raise(url: str, params: list[str]) -> None:
    for keyword in (site_search_keyword(url), site_search_keyword(url, params)):
        assert keyword is None or (0 < len(keyword) <= MAX_KEYWORD_LENGTH)
        assert keyword is None or keyword == keyword.strip()


@quick
@given(
    st.sampled_from(DEFAULT_SEARCH_PARAMS),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300),
)
def test_round_trips_any_encoded_keyword(param: str, text: str) -> None:
    url = "https://shop.example.com/search?" + urlencode({"page": "1", param: text})
    expected = text.strip()[:MAX_KEYWORD_LENGTH].rstrip() or None
    assert site_search_keyword(url) == expected


def test_default_parameters_are_documented() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "enrichment.md"
    listed = ", ".join(f"`{name}`" for name in DEFAULT_SEARCH_PARAMS)
    assert listed in " ".join(docs.read_text(encoding="utf-8").split())
