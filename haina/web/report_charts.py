"""ECharts options for report pages, built in Python from a report's numbers.

The numbers go into the option unchanged (rates stay 0.0913, not 9.13), so a chart holds
exactly what the API returns; how they are shown is named by a formatter string that
dashboard.js turns into a function (`"haina:percent"`, `"haina:seconds"`, `"haina:number"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PALETTE = ["#1478a3", "#e07a5f", "#3d9970", "#f2b134", "#7e5bab", "#5b6577"]
FONT = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif'
Number = int | float | None


def _base() -> dict[str, Any]:
    return {
        "color": PALETTE,
        "textStyle": {"fontFamily": FONT},
        "animation": False,
        "grid": {"left": 16, "right": 40, "top": 40, "bottom": 16, "containLabel": True},
    }


def horizontal_bars(
    categories: Sequence[str], name: str, values: Sequence[Number], formatter: str = "number"
) -> dict[str, Any]:
    """One bar per category, the first at the top (top-N lists)."""
    return {
        **_base(),
        "grid": {"left": 16, "right": 48, "top": 16, "bottom": 16, "containLabel": True},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": {"type": "value", "axisLabel": {"formatter": f"haina:{formatter}"}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": list(categories),
            "axisLabel": {"width": 220, "overflow": "truncate"},
        },
        "series": [
            {
                "name": name,
                "type": "bar",
                "data": list(values),
                "barMaxWidth": 22,
                "label": {"show": True, "position": "right", "formatter": f"haina:{formatter}"},
            }
        ],
    }


def lines(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[Number], bool]],
    formatter: str = "number",
) -> dict[str, Any]:
    """A line per (name, values, dashed) over the categories; dashed lines are comparisons."""
    return {
        **_base(),
        "tooltip": {"trigger": "axis", "valueFormatter": f"haina:{formatter}"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": list(categories), "boundaryGap": False},
        "yAxis": {"type": "value", "axisLabel": {"formatter": f"haina:{formatter}"}},
        "series": [
            {
                "name": name,
                "type": "line",
                "data": list(values),
                "showSymbol": len(categories) <= 45,
                "connectNulls": False,
                **(
                    {"lineStyle": {"type": "dashed", "width": 1.5}, "color": "#9aa5b1"}
                    if dashed
                    else {"areaStyle": {"opacity": 0.08}, "lineStyle": {"width": 2.5}}
                ),
            }
            for name, values, dashed in series
        ],
    }


def bars_with_line(
    categories: Sequence[str],
    bars: tuple[str, Sequence[Number], str],
    line: tuple[str, Sequence[Number], str],
) -> dict[str, Any]:
    """Bars on the left axis and a line on the right one, each (name, values, formatter)."""
    return {
        **_base(),
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": list(categories)},
        "yAxis": [
            {"type": "value", "name": bars[0], "axisLabel": {"formatter": f"haina:{bars[2]}"}},
            {
                "type": "value",
                "name": line[0],
                "splitLine": {"show": False},
                "axisLabel": {"formatter": f"haina:{line[2]}"},
            },
        ],
        "series": [
            {
                "name": bars[0],
                "type": "bar",
                "data": list(bars[1]),
                "barMaxWidth": 48,
                "label": {"show": True, "position": "top", "formatter": f"haina:{bars[2]}"},
                "tooltip": {"valueFormatter": f"haina:{bars[2]}"},
            },
            {
                "name": line[0],
                "type": "line",
                "yAxisIndex": 1,
                "data": list(line[1]),
                "symbolSize": 8,
                "tooltip": {"valueFormatter": f"haina:{line[2]}"},
            },
        ],
    }


def columns(
    categories: Sequence[str], series: Sequence[tuple[str, Sequence[Number]]]
) -> dict[str, Any]:
    """Vertical bars, one group per category (per-minute counts)."""
    return {
        **_base(),
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": list(categories)},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {"name": name, "type": "bar", "data": list(values), "barMaxWidth": 14}
            for name, values in series
        ],
    }
