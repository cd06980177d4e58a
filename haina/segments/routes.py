"""Segments API (人群包): preview a definition live, save, list, read, change, delete, list
members and export them as CSV. (docs/segments.md)"""

# No `from __future__ import annotations`: FastAPI reads the handlers' types at runtime.

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from haina.auth.deps import CurrentWorkspace
from haina.segments import service
from haina.segments.definition import SegmentDefinition
from haina.workspaces import workspace_settings

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
T = TypeVar("T")


def _invalid(exc: ValidationError, prefix: str = "definition") -> HTTPException:
    errors = exc.errors()
    loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    message = errors[0]["msg"] if errors else str(exc)
    field = f"{prefix}.{loc}" if loc else prefix
    return HTTPException(422, {"code": "invalid_segment", "field": field, "message": message})


async def _run(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except service.SegmentError as exc:
        code = (
            "not_found"
            if exc.status == 404
            else "conflict"
            if exc.status == 409
            else "invalid_segment"
        )
        raise HTTPException(
            exc.status, {"code": code, "field": exc.field, "message": str(exc)}
        ) from exc
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _shown(seg: service.Saved, count: int) -> dict[str, Any]:
    return {
        "id": seg.id,
        "name": seg.name,
        "description": seg.description,
        "kind": seg.kind,
        "definition": seg.definition,
        "count": count,
        "created_at": seg.created_at.isoformat(),
        "updated_at": seg.updated_at.isoformat(),
    }


def _definition(raw: Any) -> SegmentDefinition:
    try:
        return SegmentDefinition.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise _invalid(exc) from exc


@router.post("/preview", summary="Count a definition's members now, with a sample")
async def preview(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: a definition, or `{"definition": {...}}`. Answer: `{"count", "sample"}`."""
    definition = _definition(body.get("definition", body))
    state = request.app.state
    rules = workspace_settings(state.meta, token.workspace_id).identity
    conn = await state.writer.reader_async()

    def run() -> dict[str, Any]:
        with state.writer.report_memory():
            return service.preview(conn, token.workspace_id, rules, definition)

    return await _run(request, run)


@router.post("", summary="Save a segment (dynamic or static)", status_code=201)
async def create(
    request: Request, token: CurrentWorkspace, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: `{"name", "kind": "dynamic|static", "description", "definition"}`."""
    definition = _definition(body.get("definition"))
    state = request.app.state
    rules = workspace_settings(state.meta, token.workspace_id).identity
    conn = await state.writer.reader_async()
    seg = await _run(
        request,
        service.create,
        state.meta,
        conn,
        token.workspace_id,
        rules,
        name=body.get("name"),
        definition=definition,
        kind=body.get("kind", "dynamic"),
        description=body.get("description", ""),
    )
    return _shown(seg, service.member_count(conn, token.workspace_id, seg.id))


@router.get("", summary="The workspace's segments with their member counts")
async def list_all(request: Request, token: CurrentWorkspace) -> dict[str, Any]:
    state = request.app.state
    conn = await state.writer.reader_async()
    segs = service.list_segments(state.meta, token.workspace_id)
    return {
        "segments": [_shown(s, service.member_count(conn, token.workspace_id, s.id)) for s in segs]
    }


@router.get("/{segment_id}", summary="One segment")
async def get_one(request: Request, token: CurrentWorkspace, segment_id: str) -> dict[str, Any]:
    state = request.app.state
    conn = await state.writer.reader_async()
    seg = await _run(request, service.get, state.meta, token.workspace_id, segment_id)
    return _shown(seg, service.member_count(conn, token.workspace_id, seg.id))


@router.patch("/{segment_id}", summary="Rename, redefine or re-snapshot a segment")
async def patch(
    request: Request,
    token: CurrentWorkspace,
    segment_id: str,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    state = request.app.state
    rules = workspace_settings(state.meta, token.workspace_id).identity
    conn = await state.writer.reader_async()
    seg = await _run(
        request, service.update, state.meta, conn, token.workspace_id, rules, segment_id, body
    )
    return _shown(seg, service.member_count(conn, token.workspace_id, seg.id))


@router.delete("/{segment_id}", summary="Delete a segment", status_code=204)
async def remove(request: Request, token: CurrentWorkspace, segment_id: str) -> None:
    state = request.app.state
    conn = await state.writer.reader_async()
    await _run(request, service.delete, state.meta, conn, token.workspace_id, segment_id)


@router.get("/{segment_id}/members", summary="Members (person ids, since when)")
async def list_members(
    request: Request,
    token: CurrentWorkspace,
    segment_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    state = request.app.state
    conn = await state.writer.reader_async()
    await _run(request, service.get, state.meta, token.workspace_id, segment_id)
    return {
        "segment_id": segment_id,
        "total": service.member_count(conn, token.workspace_id, segment_id),
        "members": service.members(
            conn, token.workspace_id, segment_id, limit=limit, offset=offset
        ),
    }


@router.get("/{segment_id}/export", summary="Members as CSV, with chosen traits")
async def export(
    request: Request,
    token: CurrentWorkspace,
    segment_id: str,
    traits: Annotated[str, Query(description="comma-separated trait names")] = "",
) -> StreamingResponse:
    state = request.app.state
    rules = workspace_settings(state.meta, token.workspace_id).identity
    chosen = [t.strip() for t in traits.split(",") if t.strip()]
    conn = await state.writer.reader_async()
    seg = await _run(request, service.get, state.meta, token.workspace_id, segment_id)
    lines = await _run(
        request,
        lambda: list(service.export_csv(conn, token.workspace_id, rules, seg, chosen)),
    )
    return StreamingResponse(
        iter(lines),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{segment_id}.csv"'},
    )
