"""The segments page (人群包): the saved segments with their member counts and CSV export,
and the segment builder with a live count, saving dynamic or static segments.

The builder is a GET form, so a segment being built lives in the page's URL (add and remove
buttons redirect to the clean URL, as the funnel builder does). As the definition changes,
htmx asks `/dashboard/segments/preview` for the count: the same `preview` as
`POST /api/v1/segments/preview`. Saving POSTs the form (with the CSRF token) to
`/dashboard/segments`, which calls `create` as `POST /api/v1/segments` does; a problem shows
next to the form, named as the API names it. The CSV of a segment's members is streamed to
the logged-in viewer at `/dashboard/segments/{id}/export`, as the API's export.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import duckdb
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import QueryParams

from haina.identity.rules import IdentityRules
from haina.segments import service
from haina.web.i18n import translator
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.people_pages.builder import Builder, Built, Problem
from haina.web.people_pages.common import (
    add_route,
    choices,
    identity_rules,
    in_thread,
    person_labels,
    posted,
    render,
    render_again,
    see,
    state_of,
)
from haina.web.viewer import here, request_lang, viewer_of
from haina.workspaces import workspace_settings

SAVE_FIELDS = ("name", "kind", "description")


@dataclass(frozen=True, slots=True)
class Preview:
    """The live count of a definition, a sample of its people, or why it cannot run."""

    count: int | None
    definition: dict[str, Any] | None
    incomplete: int = 0
    problem: Problem | None = None
    sample: list[tuple[str, Any]] = field(default_factory=list)


async def preview_of(ctx: PageContext, rules: IdentityRules, built: Built) -> Preview:
    """`service.preview` of what the builder stands for (incomplete rows left out)."""
    definition, problem = built.checked()
    if definition is None:
        return Preview(None, built.definition, built.incomplete, problem)
    writer = ctx.request.app.state.writer

    def run(conn: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], dict[str, Any]]:
        with writer.report_memory():
            found = service.preview(conn, ctx.workspace_id, rules, definition)
        return found, person_labels(conn, ctx.workspace_id, found["sample"])

    try:
        found, named = await in_thread(ctx, run)
    except (service.SegmentError, ValueError, duckdb.Error) as exc:
        where = exc.field if isinstance(exc, service.SegmentError) else "definition"
        return Preview(None, built.definition, built.incomplete, Problem(where, str(exc)))
    sample = [(p, named.get(p)) for p in found["sample"]]
    return Preview(int(found["count"]), built.definition, built.incomplete, None, sample)


def builder_redirect(ctx: PageContext, params: Any, keep: tuple[str, ...]) -> Response | None:
    """An add or remove button: back to the page's clean URL with the row added or removed
    (the form's other fields, `keep`, stay)."""
    if ctx.request.method != "GET":
        return None
    builder = Builder.from_params(params)
    if params.get("add"):
        builder = builder.with_row(params.get("add_kind", "event"))
    elif params.get("remove", "").isdigit():
        builder = builder.without_row(int(params["remove"]))
    else:
        return None
    kept = [(name, params[name]) for name in keep if params.get(name)]
    query = urlencode([*kept, *builder.items()])
    return see(f"{ctx.request.url.path}?{query}#builder")


async def builder_values(
    ctx: PageContext, rules: IdentityRules, builder: Builder
) -> dict[str, Any]:
    """What `people/_builder.html` needs, with the live count of the definition."""
    built = builder.build()
    return {
        "b": builder,
        "choices": await choices(ctx, rules),
        "preview": await preview_of(ctx, rules, built),
    }


async def segments(ctx: PageContext) -> PageResult:
    state = state_of(ctx)
    params = state.form
    moved = builder_redirect(ctx, params, SAVE_FIELDS)
    if moved is not None:
        return moved
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    saved = await asyncio.to_thread(service.list_segments, ctx.meta, ctx.workspace_id)

    def counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
        return {s.id: service.member_count(conn, ctx.workspace_id, s.id) for s in saved}

    members = await in_thread(ctx, counts)
    builder = Builder.from_params(params)
    values = await builder_values(ctx, rules, builder)
    just_saved = next((s for s in saved if s.id == params.get("saved")), None)
    return render(
        ctx,
        "people/segments.html",
        saved=saved,
        members=members,
        just_saved=just_saved,
        copy_url=lambda s: (
            "/dashboard/segments?"
            + urlencode(Builder.from_definition(s.definition).items())
            + "#builder"
        ),
        segment_name=params.get("name", ""),
        segment_kind=params.get("kind", "dynamic"),
        description=params.get("description", ""),
        save_problem=state.problems.get("save_problem"),
        kinds=service.KINDS,
        **values,
    )


async def preview(ctx: PageContext) -> PageResult:
    """The live count (and the definition's JSON, out of band) for htmx."""
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    builder = Builder.from_params(ctx.request.query_params)
    found = await preview_of(ctx, rules, builder.build())
    return render(ctx, "people/segment_count.html", preview=found, oob=True)


def incomplete_problem(request: Request, built: Built) -> Problem | None:
    """Saving needs every row filled in (the count leaves incomplete rows out)."""
    if not built.incomplete:
        return None
    t = translator(request_lang(request))
    return Problem("definition.conditions", t("builder.incomplete_save", n=built.incomplete))


async def save(request: Request) -> Response:
    """POST /dashboard/segments: save the builder's definition as `POST /api/v1/segments`."""
    got = await posted(request)
    if isinstance(got, Response):
        return got
    form = got.form
    workspace_id = got.viewer.workspace.id
    built = Builder.from_params(form).build()
    definition, problem = built.checked()
    problem = problem or incomplete_problem(request, built)
    if definition is None or problem is not None:
        return await render_again(request, "segments", form, save_problem=problem)
    state = request.app.state
    rules = await asyncio.to_thread(lambda: workspace_settings(state.meta, workspace_id).identity)
    conn = await state.writer.reader_async()

    def run() -> service.Saved:
        with state.writer.report_memory():
            return service.create(
                state.meta,
                conn,
                workspace_id,
                rules,
                name=form.get("name", "").strip(),
                definition=definition,
                kind=form.get("kind", "dynamic"),
                description=form.get("description", ""),
            )

    try:
        seg = await asyncio.to_thread(run)
    except service.SegmentError as exc:
        status = 409 if exc.status == 409 else 422
        return await render_again(
            request, "segments", form, status, save_problem=Problem(exc.field, str(exc))
        )
    return see(f"/dashboard/segments?saved={quote(seg.id)}#saved")


async def export(request: Request, segment_id: str) -> Response:
    """GET /dashboard/segments/{id}/export: the members as CSV (`?traits=city,email`), as
    `GET /api/v1/segments/{id}/export`, for the logged-in viewer's workspace."""
    viewer = await viewer_of(request)
    if viewer is None:
        return see("/login?next=" + quote(here(request), safe="/"))
    workspace_id = viewer.workspace.id
    state = request.app.state
    traits = request.query_params.get("traits", "")
    chosen = [name.strip() for name in traits.split(",") if name.strip()]
    rules = await asyncio.to_thread(lambda: workspace_settings(state.meta, workspace_id).identity)
    conn = await state.writer.reader_async()

    def run() -> list[str]:
        seg = service.get(state.meta, workspace_id, segment_id)
        return list(service.export_csv(conn, workspace_id, rules, seg, chosen))

    try:
        lines = await asyncio.to_thread(run)
    except service.SegmentError as exc:
        return Response(str(exc), status_code=exc.status, media_type="text/plain")
    return StreamingResponse(
        iter(lines),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{quote(segment_id)}.csv"',
            "Cache-Control": "no-store",
        },
    )


def query_of(params: QueryParams, names: tuple[str, ...]) -> str:
    return urlencode([(n, params[n]) for n in names if params.get(n)])


add_route("/dashboard/segments", save, ["POST"])
add_route("/dashboard/segments/{segment_id}/export", export, ["GET"])
register_page(
    "segments",
    "nav.segments",
    segments,
    dated=False,
    fragments={"preview": preview},
    group="people",
)
