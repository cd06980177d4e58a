"""Report pages' numbers in the viewer's language, and changes against the previous period."""

from __future__ import annotations

import pytest

from haina.web.report_view import Numbers, change, freshness_text


@pytest.mark.parametrize(
    ("lang", "seconds", "text"),
    [("en", 91.4, "1m 31s"), ("zh", 91.4, "1分31秒"), ("en", 9.6, "10s"), ("zh", 5, "5秒"),
     ("en", None, "–")],
)  # fmt: skip
def test_durations(lang: str, seconds: float | None, text: str) -> None:
    assert Numbers(lang).seconds(seconds) == text


def test_counts_rates_and_load_times() -> None:
    num = Numbers("zh")
    assert num.count(1234567) == "1,234,567"
    assert num.percent(0.0359) == "3.6%" and num.percent(None) == "–"
    assert num.decimal(3.6381) == "3.64"
    assert num.millis(780) == "780 ms" and num.millis(1840) == "1.84 s"


def test_change_against_the_previous_period() -> None:
    up = change(120, 100)
    assert up is not None and (up.direction, up.text) == ("up", "20.0%")
    down = change(0.3, 0.4)
    assert down is not None and (down.direction, down.text) == ("down", "25.0%")
    assert change(5, 0) is None and change(None, 3) is None
    flat = change(100.01, 100)
    assert flat is not None and flat.direction == "flat"


def test_freshness_is_shown_in_utc_to_the_second() -> None:
    assert freshness_text("2026-11-20T09:58:02.120000Z") == "2026-11-20 09:58:02"
    assert freshness_text(None) is None
