"""The behaviour-flow page: the most common paths from a start page or to an end page as a
Sankey diagram, with its links, the drop-off at each step and the top paths as tables.

Numbers come from the `paths` report (docs/reports/paths.md): its nodes are named by step
(`2_/pricing`), so the graph is a DAG as ECharts' Sankey requires.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from haina.web.i18n import Translator
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.report_pages.page_params import period_and_filters
from haina.web.report_view import dated_body, render_report, run_page_report

PATH_TYPES = ("page", "event")
FORM_PARAMS = ("start", "end", "steps", "path_type")
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 2, 10, 5
LABEL_CHARS = 36


@dataclass(frozen=True, slots=True)
class PathsForm:
    start: str = ""
    end: str = ""
    steps: int = DEFAULT_STEPS
    path_type: str = "page"

    @classmethod
    def from_query(cls, params: QueryParams) -> PathsForm:
        kind = params.get("path_type", "")
        try:
            steps = min(max(int(params.get("steps", "")), MIN_STEPS), MAX_STEPS)
        except ValueError:
            steps = DEFAULT_STEPS
        return cls(
            start=params.get("start", "").strip(),
            end=params.get("end", "").strip(),
            steps=steps,
            path_type=kind if kind in PATH_TYPES else "page",
        )

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path_type": self.path_type, "steps": self.steps}
        if self.start:
            body["start_point"] = self.start
        if self.end:
            body["end_point"] = self.end
        return body


def short(item: str) -> str:
    """A node's label: ECharts reads `{...}` in a formatter as a template, and long URLs crowd
    the diagram (the tooltip and the tables keep them whole)."""
    text = item.replace("{", "(").replace("}", ")") or "(none)"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def sankey_option(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "item", "triggerOn": "mousemove"},
        "series": [
            {
                "type": "sankey",
                "left": 8,
                "right": 200,
                "top": 12,
                "bottom": 12,
                "nodeGap": 10,
                "draggable": False,
                "emphasis": {"focus": "adjacency"},
                "lineStyle": {"color": "gradient", "curveness": 0.5, "opacity": 0.35},
                "label": {"fontSize": 11},
                "data": [
                    {"name": n["name"], "label": {"formatter": short(n["item"])}}
                    for n in result["nodes"]
                ],
                "links": [
                    {"source": x["source"], "target": x["target"], "value": x["value"]}
                    for x in result["links"]
                ],
            }
        ],
    }


def dropoff_option(result: dict[str, Any], t: Translator) -> dict[str, Any]:
    """Sessions reaching each step, split into those that went on and those that ended there."""
    steps = result["steps"]
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [t("paths.step_n", n=s["step"]) for s in steps]},
        "yAxis": {"type": "value", "minInterval": 1, "axisLabel": {"formatter": "haina:number"}},
        "series": [
            {
                "name": t("paths.continued"),
                "type": "bar",
                "stack": "sessions",
                "barMaxWidth": 48,
                "data": [s["sessions"] - s["dropoff"] for s in steps],
            },
            {
                "name": t("paths.dropoff"),
                "type": "bar",
                "stack": "sessions",
                "barMaxWidth": 48,
                "itemStyle": {"color": "#d9a441"},
                "data": [s["dropoff"] for s in steps],
            },
        ],
    }


def sankey_height(result: dict[str, Any]) -> int:
    """Pixels: room for the step with the most nodes."""
    tallest = max(Counter(n["step"] for n in result["nodes"]).values(), default=1)
    return min(max(360, 34 * tallest + 80), 900)


async def paths(ctx: PageContext) -> PageResult:
    form = PathsForm.from_query(ctx.request.query_params)
    body = dated_body(ctx, **form.body())
    outcome = await run_page_report(ctx, "paths", body)
    result = outcome.result
    items = {n["name"]: n["item"] for n in result["nodes"]} if result else {}
    return render_report(
        ctx,
        "reports/paths.html",
        form=form,
        keep=FORM_PARAMS,
        hidden=period_and_filters(ctx),
        path_types=PATH_TYPES,
        min_steps=MIN_STEPS,
        max_steps=MAX_STEPS,
        outcome=outcome,
        result=result,
        empty=result is not None and not result["sessions"],
        sankey=sankey_option(result) if result else None,
        sankey_height=sankey_height(result) if result else 0,
        dropoff=dropoff_option(result, ctx.t) if result else None,
        item_of=lambda name: items.get(name, name.partition("_")[2]),
        step_of=lambda name: name.partition("_")[0],
        body=body,
    )


register_page("paths", "nav.paths", paths)
