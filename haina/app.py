"""The Haina ASGI application: collection API, read API and the dashboard."""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from haina import __version__
from haina.collect.routes import router as collect_router
from haina.collect.service import Collector, warm_up
from haina.config import Settings
from haina.export.routes import router as export_router
from haina.importer.routes import router as import_router
from haina.profiles.routes import router as profiles_router
from haina.profiles.tag_routes import router as tags_router
from haina.quarantine.routes import router as quarantine_router
from haina.reports.cache import ReportCache
from haina.reports.routes import router as reports_router
from haina.reports.service import StoredSessionsRefresher
from haina.scoring.routes import router as scoring_router
from haina.segments.refresher import PeopleRefresher
from haina.segments.routes import router as segments_router
from haina.store.events.duckdb_store import empty_columns, events_table
from haina.web.dashboard import router as dashboard_router
from haina.web.pages import load_pages
from haina.web.routes import router as web_router
from haina.web.session import session_key
from haina.workspaces.routes import router as workspace_router
from haina.workspaces.routes import settings_router

log = logging.getLogger("haina")


def tune_gc() -> tuple[int, int, int]:
    """Keep the collector off the hot path: every event allocates dozens of short-lived dicts,
    which at CPython's default thresholds triggers collections that walk the many objects
    of in-flight requests (measured: +18-26% ingest throughput with GC off, docs/benchmarks.md).
    Objects alive after start-up are frozen out of collections; generation 0 runs less often.
    """
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return before


def write_server_file(settings: Settings, token: str) -> None:
    path = settings.server_file
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "url": settings.public_url, "token": token}, f)
    tmp.replace(path)


_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorised", 403: "forbidden"}


def error_body(code: str, message: str, field: str | None) -> dict[str, object]:
    """The one error shape of the API: {"error": {code, message, field}} (plus flat copies)."""
    err = {"code": code, "message": message, "field": field}
    return {"error": err, **err}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc.detail, dict):
        body = error_body(
            str(exc.detail.get("code", "error")),
            str(exc.detail.get("message")),
            exc.detail.get("field"),
        )
    else:
        body = error_body(_CODES.get(exc.status_code, "error"), str(exc.detail), None)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    return JSONResponse(
        error_body(
            "invalid_request", str(first.get("msg", "invalid request")), ".".join(loc) or None
        ),
        status_code=422,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        collector = Collector.open(settings)
        meta, writer = collector.meta, collector.writer
        # What the first request would otherwise load while it waits: the pipeline's rules and
        # patterns, and pandas, which pyarrow imports on its first list conversion (~0.2 s
        # holding the GIL and the import lock).
        warm_up()
        events_table(empty_columns())
        app.state.meta = meta
        app.state.writer = writer
        app.state.collector = collector
        app.state.server_token = "hs_" + secrets.token_urlsafe(32)
        app.state.session_key = session_key(settings.data_dir)
        write_server_file(settings, app.state.server_token)
        refresher = (
            StoredSessionsRefresher(meta, writer, interval=settings.stored_sessions_refresh_seconds)
            if settings.stored_sessions_refresh_seconds > 0
            else None
        )
        people = (
            PeopleRefresher(meta, writer, interval=settings.people_refresh_seconds)
            if settings.people_refresh_seconds > 0
            else None
        )
        app.state.people_refresher = people
        gc_before = tune_gc()
        try:
            yield
        finally:
            gc.set_threshold(*gc_before)  # for embedders (and tests) that go on afterwards
            gc.unfreeze()
            if refresher is not None:
                refresher.close()
            if people is not None:
                people.close()
            # uvicorn has finished in-flight requests; drain the writer and checkpoint.
            collector.close()
            writer.close()
            meta.close()
            settings.server_file.unlink(missing_ok=True)

    app = FastAPI(
        title="Haina",
        version=__version__,
        lifespan=lifespan,
        description="Collect, analyse and act on user behaviour.",
    )
    app.state.settings = settings
    app.state.report_cache = ReportCache(settings.report_cache_entries)

    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]

    @app.get("/healthz", tags=["ops"], summary="Liveness and store status")
    async def healthz(request: Request) -> JSONResponse:
        try:
            (await request.app.state.writer.reader_async()).execute("SELECT 1").fetchall()
        except Exception as exc:  # noqa: BLE001 - any failure means the store is not usable
            return JSONResponse({"ok": False, "version": __version__, "store": str(exc)}, 503)
        return JSONResponse({"ok": True, "version": __version__, "store": "ok"})

    app.include_router(collect_router)
    app.include_router(export_router)
    app.include_router(reports_router)
    app.include_router(import_router)
    app.include_router(quarantine_router)
    app.include_router(profiles_router)
    app.include_router(segments_router)
    app.include_router(tags_router)
    app.include_router(scoring_router)
    app.include_router(workspace_router)
    app.include_router(settings_router)
    app.include_router(web_router)
    load_pages()
    app.include_router(dashboard_router)
    return app
