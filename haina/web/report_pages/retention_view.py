"""A retention result as the page shows it: the heat map of one group of cohorts and the
average curves (one per breakdown value), as ECharts options.

A group is everyone (no breakdown) or one breakdown value: `{"value"?, "cohorts", "average"}`
as the `retention` report returns it. The numbers go into the options unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haina.web.i18n import Translator

# Heat-map colours by retained percent (period 0 is always 100%).
PIECES = ((0, 5), (5, 10), (10, 20), (20, 40), (40, 70), (70, 100.01))
COLORS = ("#eef6fa", "#cfe8f3", "#9fd0e6", "#5fb0d4", "#1478a3", "#0b4f6c")
OTHER = "(other)"  # the report's sum of the values past its limit


@dataclass(frozen=True, slots=True)
class Group:
    """Everyone's cohorts (value None), or one breakdown value's."""

    value: str | None
    cohorts: list[dict[str, Any]]
    average: list[dict[str, Any]]

    @property
    def people(self) -> int:
        return sum(int(c["size"]) for c in self.cohorts)

    def label(self, t: Translator) -> str:
        if self.value is None:
            return t("retention.average")
        if self.value == OTHER:
            return t("retention.other")
        return self.value or t("report.not_set")


def groups(result: dict[str, Any]) -> list[Group]:
    if result.get("breakdown") is not None:
        return [Group(b["value"], b["cohorts"], b["average"]) for b in result["breakdown"]]
    return [Group(None, result["cohorts"], result["average"])]


def cohort_label(start: str, period: str) -> str:
    """'2026-11-17 00:00:00' → '2026-11-17' (day, week), '2026-11' (month), '11-17 13:00'."""
    if period == "month":
        return start[:7]
    if period == "hour":
        return start[5:16]
    return start[:10]


def percent(n: int, size: int) -> float | None:
    return round(100 * n / size, 1) if size else None


def heatmap_option(group: Group, period: str, names: list[str], t: Translator) -> dict[str, Any]:
    """Cells [period, cohort, percent, people] for the periods each cohort reached."""
    cohorts = group.cohorts
    cells = [
        [k, i, percent(n, c["size"]), n]
        for i, c in enumerate(cohorts)
        for k, n in enumerate(c["values"][: c["reached"]])
        if c["size"]
    ]
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 8, "right": 16, "top": 8, "bottom": 56, "containLabel": True},
        "xAxis": {"type": "category", "data": names, "splitArea": {"show": True}},
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [cohort_label(c["start"], period) for c in cohorts],
            "splitArea": {"show": True},
        },
        "visualMap": {
            "type": "piecewise",
            "dimension": 2,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "pieces": [
                {"gte": lo, "lt": hi, "label": f"{lo}–{min(hi, 100):.0f}%", "color": color}
                for (lo, hi), color in zip(PIECES, COLORS, strict=True)
            ],
        },
        "series": [
            {
                "name": t("retention.retained"),
                "type": "heatmap",
                "data": cells,
                "label": {"show": True, "formatter": "{@[2]}%", "fontSize": 11},
                "emphasis": {"itemStyle": {"borderColor": "#1d2433", "borderWidth": 1}},
            }
        ],
    }


def average_option(found: list[Group], names: list[str], t: Translator) -> dict[str, Any]:
    """The mean retention curve; with a breakdown, one per value (and a legend)."""
    breakdown = len(found) > 1 or (bool(found) and found[0].value is not None)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"show": breakdown, "type": "scroll", "top": 0},
        "grid": {"left": 8, "right": 24, "top": 40 if breakdown else 16, "bottom": 8,
                 "containLabel": True},
        "xAxis": {"type": "category", "data": names, "boundaryGap": False},
        "yAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "name": g.label(t),
                "type": "line",
                "smooth": False,
                "symbolSize": 7,
                "areaStyle": {"opacity": 0.04 if breakdown else 0.12},
                "data": [a["percent"] for a in g.average],
            }
            for g in found
        ],
    }  # fmt: skip
