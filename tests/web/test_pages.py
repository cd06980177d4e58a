"""The page registry and the period a page covers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from markupsafe import Markup

from haina.web.pages import (
    NAV_ORDER,
    PageContext,
    Period,
    load_pages,
    page,
    pages,
    register_page,
    unregister_page,
)

TODAY = date(2024, 3, 31)


async def _nothing(ctx: PageContext) -> Markup:
    return Markup("")


@pytest.fixture
def probes() -> Iterator[None]:
    load_pages()  # the built-in pages, as the app loads them at start-up
    yield
    for slug in ("probe-a", "probe-b"):
        unregister_page(slug)


def test_pages_are_listed_in_navigation_order_with_extensions_before_setup(probes: None) -> None:
    register_page("probe-a", "nav.events", _nothing)
    register_page("probe-b", "nav.events", _nothing)
    slugs = [entry.slug for entry in pages()]
    assert slugs[-3:] == ["probe-a", "probe-b", "setup"]
    known = [s for s in slugs if s in NAV_ORDER]
    assert known == sorted(known, key=NAV_ORDER.index)


def test_a_slug_is_registered_once(probes: None) -> None:
    register_page("probe-a", "nav.events", _nothing)
    with pytest.raises(ValueError, match="registered already"):
        register_page("probe-a", "nav.pages", _nothing)
    unregister_page("probe-a")
    assert page("probe-a") is None


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ({}, date(2024, 3, 4), TODAY),
        ({"from": "2024-01-01", "to": "2024-01-31"}, date(2024, 1, 1), date(2024, 1, 31)),
        ({"from": "2024-01-31", "to": "2024-01-01"}, date(2024, 1, 1), date(2024, 1, 31)),
        ({"to": "2024-02-28"}, date(2024, 2, 1), date(2024, 2, 28)),
        ({"from": "2024-03-30"}, date(2024, 3, 30), TODAY),
        ({"from": "yesterday", "to": "2024-01-01"}, date(2024, 3, 4), TODAY),
    ],
)
def test_the_period_comes_from_the_query_or_is_the_last_28_days(
    query: dict[str, str], start: date, end: date
) -> None:
    period = Period.from_query(query, TODAY)
    assert (period.start, period.end) == (start, end)
    assert period.query == f"from={start.isoformat()}&to={end.isoformat()}"
