"""The lead-scoring page: the workspace's model as readable tables (fit rules, engagement
rules, signals, thresholds, grades, stages) and as JSON to edit, and "recompute now".

The model is saved with `update_settings(meta, ws, {"scoring": model})`, as
`PUT /api/v1/scoring/model` does (its SettingError names the field, shown next to the
editor); "recompute now" runs what `POST /api/v1/scoring/refresh` runs and shows what
changed (docs/scoring.md).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from haina.scoring.model import ScoringModel
from haina.segments.refresher import PeopleRefresher, Round
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.people_pages.builder import Problem
from haina.web.people_pages.common import (
    add_route,
    posted,
    pretty,
    render,
    render_again,
    see,
    state_of,
)
from haina.workspaces.keys import SettingError, effective_settings, update_settings

CHANGES = ("tags", "scores", "segments", "events")


def _model(meta: Any, workspace_id: str) -> dict[str, Any]:
    """The model in force, defaults filled in (what the editor starts from)."""
    stored = effective_settings(meta, workspace_id)["scoring"] or {}
    try:
        return ScoringModel.model_validate(stored).model_dump(mode="json", exclude_none=True)
    except ValidationError:  # set by an older version: show it as stored
        return dict(stored)


async def scoring_page(ctx: PageContext) -> PageResult:
    state = state_of(ctx)
    params = state.form
    model = await asyncio.to_thread(_model, ctx.meta, ctx.workspace_id)
    text = params["model"] if "model" in params else pretty(model)
    refreshed = None
    if params.get("refreshed"):
        refreshed = {name: _int(params.get(name)) for name in CHANGES}
    return render(
        ctx,
        "people/scoring.html",
        model=model,
        text=text,
        problem=state.problems.get("model_problem"),
        refresh_problem=state.problems.get("refresh_problem"),
        saved=bool(params.get("saved")),
        refreshed=refreshed,
        filters_text=lambda filters: ", ".join(_filter_text(f) for f in filters or []),
    )


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def _filter_text(f: Any) -> str:
    if isinstance(f, dict) and "key" in f:
        value = f.get("value")
        shown = "" if value is None else json.dumps(value, ensure_ascii=False)
        return f"{f['key']} {f.get('op', 'eq')} {shown}".strip()
    return json.dumps(f, ensure_ascii=False)


async def save(request: Request) -> Response:
    """POST /dashboard/scoring: `action=save` with the model's JSON, or `action=refresh`."""
    got = await posted(request)
    if isinstance(got, Response):
        return got
    form = got.form
    workspace_id = got.viewer.workspace.id
    state = request.app.state
    if form.get("action") == "refresh":
        try:
            done = await refresh_now(request, workspace_id)
        except Exception as exc:  # noqa: BLE001 - shown in the page, as the API would answer 500
            problem = Problem("refresh", str(exc))
            return await render_again(request, "scoring", {}, 500, refresh_problem=problem)
        counts = {name: str(value) for name, value in asdict(done).items()}
        return see("/dashboard/scoring?" + urlencode({"refreshed": "1", **counts}) + "#refresh")
    text = form.get("model", "")
    try:
        model = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        return await render_again(request, "scoring", form, model_problem=Problem("model", message))
    try:
        await asyncio.to_thread(update_settings, state.meta, workspace_id, {"scoring": model})
    except SettingError as exc:
        field = exc.name.removeprefix("scoring.") if exc.name != "scoring" else "model"
        problem = Problem(field, str(exc))
        return await render_again(request, "scoring", form, model_problem=problem)
    state.writer.touch(workspace_id)
    return see("/dashboard/scoring?saved=1#model")


async def refresh_now(request: Request, workspace_id: str) -> Round:
    """What `POST /api/v1/scoring/refresh` runs: tags, scores and dynamic segments, now."""
    state = request.app.state
    refresher: PeopleRefresher | None = state.people_refresher
    if refresher is not None:
        done: Round = await asyncio.to_thread(refresher.refresh, workspace_id)
        return done
    refresher = PeopleRefresher(state.meta, state.writer, interval=1e9)
    try:
        done = await asyncio.to_thread(refresher.refresh, workspace_id)
    finally:
        refresher.close()
    return done


add_route("/dashboard/scoring", save, ["POST"])
register_page("scoring", "nav.scoring", scoring_page, dated=False, group="people")
