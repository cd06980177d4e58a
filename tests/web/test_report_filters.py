"""The filter bar's query parameters become report filters (haina/web/report_filters.py)."""

from __future__ import annotations

from haina.reports.overview import OverviewQuery
from haina.web.report_filters import FILTER_PARAMS, filters_from_query, known_channels


def test_each_bar_parameter_is_an_eq_filter_and_empty_ones_are_ignored() -> None:
    params = {"channel": "Organic Search", "device": " mobile ", "os": "", "country": "CN"}
    assert filters_from_query(params) == [
        {"key": "$channel", "op": "eq", "value": "Organic Search"},
        {"key": "$device_type", "op": "eq", "value": "mobile"},
        {"key": "$country", "op": "eq", "value": "CN"},
    ]
    assert filters_from_query({}) == []
    every = filters_from_query(dict.fromkeys(FILTER_PARAMS, "x"))
    OverviewQuery.model_validate({"filters": every})  # all are keys the reports know


def test_the_property_filter_takes_an_op_and_numbers_for_comparisons() -> None:
    assert filters_from_query({"prop": "plan", "prop_value": "pro"}) == [
        {"key": "plan", "op": "eq", "value": "pro"}
    ]
    assert filters_from_query({"prop": "price", "prop_op": "gte", "prop_value": "10"}) == [
        {"key": "price", "op": "gte", "value": 10}
    ]
    assert (
        filters_from_query({"prop": "price", "prop_op": "lt", "prop_value": "9.5"})[0]["value"]
        == 9.5
    )
    # eq compares as text (a number is compared as a string anyway); is_set needs no value.
    assert (
        filters_from_query({"prop": "n", "prop_op": "eq", "prop_value": "10"})[0]["value"] == "10"
    )
    assert filters_from_query({"prop": "coupon", "prop_op": "is_set"}) == [
        {"key": "coupon", "op": "is_set"}
    ]
    # Half a filter is no filter.
    assert filters_from_query({"prop": "plan"}) == []
    assert filters_from_query({"prop_value": "pro"}) == []


def test_the_bar_suggests_the_built_in_channels() -> None:
    channels = known_channels()
    assert "Organic Search" in channels and "Direct" in channels
    assert channels[-1] == "Unassigned" and len(set(channels)) == len(channels)
