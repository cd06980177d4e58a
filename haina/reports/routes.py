"""POST /api/v1/reports/{kind}: one route per registered report kind, in the OpenAPI schema."""

# No `from __future__ import annotations`: FastAPI reads each handler's body type at runtime.

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from haina.auth.deps import CurrentWorkspace
from haina.query.engine import QueryTooLarge
from haina.query.scope import ReportQuery
from haina.reports.registry import ReportKind, reports
from haina.reports.service import run_for_workspace

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


async def run_report_request(
    request: Request, workspace_id: str, q: ReportQuery, report: ReportKind | None = None
) -> dict[str, Any]:
    """Run a report for an HTTP request (API or dashboard): errors as 4xx/503 JSON."""
    state = request.app.state
    try:
        conn = await state.writer.reader_async()
        return await asyncio.to_thread(
            run_for_workspace,
            state.meta,
            conn,
            workspace_id,
            q,
            cache=state.report_cache,
            version=state.writer.data_version(workspace_id),
            timeout=state.settings.report_timeout_seconds,
            report=report,
            memory=state.writer.report_memory,
        )
    except QueryTooLarge as exc:
        raise HTTPException(
            503, {"code": "query_too_large", "field": None, "message": str(exc)}
        ) from exc
    except ValueError as exc:
        raise HTTPException(
            422, {"code": "invalid_range", "field": "date_from", "message": str(exc)}
        ) from exc


def _handler(report: ReportKind) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def handler(request: Request, token: CurrentWorkspace, body: Any) -> dict[str, Any]:
        return await run_report_request(request, token.workspace_id, body, report)

    handler.__annotations__ = {
        "request": Request,
        "token": CurrentWorkspace,
        "body": report.query,
        "return": dict[str, Any],
    }
    handler.__name__ = f"report_{report.kind}"
    return handler


for _report in reports().values():
    router.add_api_route(
        f"/{_report.kind}",
        _handler(_report),
        methods=["POST"],
        summary=_report.summary,
        description=(_report.query.__doc__ or "").strip() or None,
    )


def _funnel_people() -> None:
    from haina.reports.funnel import PEOPLE

    router.add_api_route(
        "/funnel/people",
        _handler(PEOPLE),
        methods=["POST"],
        summary=PEOPLE.summary,
        description="The funnel body plus `step` (1-based) and `converted`.",
    )


_funnel_people()


def _paths_people() -> None:
    from haina.reports.paths import PEOPLE

    router.add_api_route(
        "/paths/people",
        _handler(PEOPLE),
        methods=["POST"],
        summary=PEOPLE.summary,
        description="The paths body plus `step` (1-based) and `item` of a node.",
    )


_paths_people()
