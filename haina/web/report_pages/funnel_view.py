"""A funnel result as the page shows it: ECharts options and table rows.

The numbers in the options and the tables are the result's, unchanged; only labels are
formatted here. With a breakdown each value is one group (one series per value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haina.web.i18n import Translator
from haina.web.report_view import DASH, Numbers

# (seconds, English unit, Chinese unit), largest first: for durations and bucket bounds.
UNITS = ((86400, "d", "天"), (3600, "h", "小时"), (60, "min", "分钟"), (1, "s", "秒"))


@dataclass(frozen=True, slots=True)
class Group:
    """The steps and time to convert of everyone (value None) or of one breakdown value."""

    value: str | None
    steps: list[dict[str, Any]]
    time_to_convert: dict[str, Any]

    def label(self, t: Translator) -> str:
        if self.value is None:
            return t("funnels.people")
        return self.value or t("report.not_set")


def groups(result: dict[str, Any]) -> list[Group]:
    if "breakdown" in result:
        return [Group(b["value"], b["steps"], b["time_to_convert"]) for b in result["breakdown"]]
    return [Group(None, result["steps"], result["time_to_convert"])]


def duration(lang: str, seconds: float | None) -> str:
    """`42s`, `3m 05s`, `2h 05m`, `3d 4h` (zh: `42秒`, `3分05秒`, `2小时05分`, `3天4小时`)."""
    if seconds is None:
        return DASH
    total = round(seconds)
    zh = lang == "zh"
    if total < 60:
        return f"{total}秒" if zh else f"{total}s"
    if total < 3600:
        m, s = divmod(total, 60)
        return f"{m}分{s:02d}秒" if zh else f"{m}m {s:02d}s"
    if total < 86400:
        h, m = divmod(total // 60, 60)
        return f"{h}小时{m:02d}分" if zh else f"{h}h {m:02d}m"
    d, h = divmod(total // 3600, 24)
    return f"{d}天{h}小时" if zh else f"{d}d {h}h"


def _bound(lang: str, seconds: int) -> tuple[int, str]:
    for size, en, zh in UNITS:
        if seconds % size == 0 and seconds >= size:
            return seconds // size, zh if lang == "zh" else en
    return seconds, "秒" if lang == "zh" else "s"


def bucket_label(lang: str, low: int, high: int | None) -> str:
    """`< 1 min`, `1–5 min`, `15 min–1 h`, `≥ 14 d` for a time-to-convert bucket."""
    lo, lo_unit = _bound(lang, low)
    space = "" if lang == "zh" else " "
    if high is None:
        return f"≥ {lo}{space}{lo_unit}"
    hi, hi_unit = _bound(lang, high)
    if low == 0:
        return f"< {hi}{space}{hi_unit}"
    if lo_unit == hi_unit:
        return f"{lo}–{hi}{space}{hi_unit}"
    return f"{lo}{space}{lo_unit}–{hi}{space}{hi_unit}"


def steps_option(
    found: list[Group], labels: list[str], t: Translator, num: Numbers
) -> dict[str, Any]:
    """Horizontal bars of people per step (step 1 on top), labelled with count and conversion."""
    series = [
        {
            "name": g.label(t),
            "type": "bar",
            "barMaxWidth": 28,
            "label": {"show": True, "position": "right"},
            "data": [
                {
                    "value": s["count"],
                    "label": {"formatter": _bar_label(num, s)},
                }
                for s in g.steps
            ],
        }
        for g in found
    ]
    breakdown = found[0].value is not None if found else False
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"show": breakdown, "type": "scroll", "top": 0},
        "grid": {"left": 8, "right": 96, "top": 36 if breakdown else 8, "bottom": 8,
                 "containLabel": True},
        "xAxis": {"type": "value", "axisLabel": {"formatter": "haina:number"}},
        "yAxis": {"type": "category", "inverse": True, "data": labels},
        "series": series,
    }  # fmt: skip


def _bar_label(num: Numbers, step: dict[str, Any]) -> str:
    return f"{num.count(step['count'])} · {num.percent(step['conversion_rate'])}"


def ttc_option(found: list[Group], lang: str, t: Translator) -> dict[str, Any]:
    """Bars of people who completed the funnel, by time from step 1 to the last step."""
    buckets = found[0].time_to_convert["buckets"] if found else []
    breakdown = bool(found) and found[0].value is not None
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"show": breakdown, "type": "scroll", "top": 0},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {
            "type": "category",
            "data": [bucket_label(lang, b["from_seconds"], b["to_seconds"]) for b in buckets],
            "axisLabel": {"interval": 0, "fontSize": 11},
        },
        "yAxis": {"type": "value", "minInterval": 1, "axisLabel": {"formatter": "haina:number"}},
        "series": [
            {
                "name": g.label(t),
                "type": "bar",
                "barMaxWidth": 36,
                "data": [b["count"] for b in g.time_to_convert["buckets"]],
            }
            for g in found
        ],
    }


def chart_height(found: list[Group], n_steps: int) -> int:
    """Pixels for the steps chart: room for every bar of every group."""
    per_step = max(44, 22 * len(found) + 16)
    return min(max(220, per_step * n_steps + (48 if len(found) > 1 else 16)), 1400)
