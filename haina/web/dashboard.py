"""The dashboard's routes: logging in and out, language and workspace switches, and the pages.

Pages themselves live in the registry (haina/web/pages.py); this module only checks who is
asking, builds their `PageContext` and puts what a page returns into the layout.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from haina.web.csrf import FormTooLarge, csrf_ok, read_form
from haina.web.i18n import HTML_LANG, LANG_NAMES, LANGS, translator
from haina.web.pages import PageContext, PageEntry, Period, page, pages, today_in
from haina.web.render import html_page, render_template
from haina.web.session import (
    LANG_COOKIE,
    LANG_SECONDS,
    Login,
    Session,
    clear_session,
    csrf_token,
    read_session,
    write_session,
)
from haina.web.viewer import Viewer, here, landing_path, request_lang, safe_next, viewer_of
from haina.workspaces.keys import verify_api_token

router = APIRouter(include_in_schema=False)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def public_page(
    request: Request, template: str, status_code: int = 200, lang: str | None = None, **values: Any
) -> HTMLResponse:
    """A page outside the dashboard (start page, login, refusals), with a session for its forms."""
    lang = lang or request_lang(request)
    session = read_session(request)
    fresh = session is None
    session = session or Session()
    html = render_template(
        template,
        t=translator(lang),
        lang=lang,
        html_lang=HTML_LANG[lang],
        lang_names=LANG_NAMES,
        csrf=csrf_token(session, request.app.state.session_key),
        next=here(request),
        charts=False,
        **values,
    )
    response = html_page(html, status_code)
    if fresh:
        write_session(request, response, session)
    return response


def refused(request: Request) -> HTMLResponse:
    """403 for a form without a valid CSRF token, or sent from another site."""
    return public_page(request, "refused.html", 403)


async def _posted(request: Request) -> tuple[dict[str, str], Session | None]:
    """The form, and the session when the CSRF checks pass (else None)."""
    try:
        form = await read_form(request)
    except FormTooLarge:
        form = {}
    session = read_session(request)
    return form, session if csrf_ok(request, session, form) else None


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    viewer = await viewer_of(request)
    logged_in = len(viewer.workspaces) if viewer else 0
    return public_page(request, "login.html", target=safe_next(next, ""), logged_in=logged_in)


@router.post("/login")
async def login(request: Request) -> Response:
    form, session = await _posted(request)
    if session is None:
        return refused(request)
    info = await asyncio.to_thread(
        verify_api_token, request.app.state.meta, form.get("token", "").strip()
    )
    target = safe_next(form.get("next"), "")
    if info is None:
        return public_page(request, "login.html", 401, target=target, logged_in=0, invalid=True)
    viewer = await viewer_of(request)  # logins still active stay, for the switcher
    base = viewer.session if viewer else session
    new = base.with_login(Login(info.token_id, info.workspace_id))
    response = _see(target or await landing_path(request, info.workspace_id))
    write_session(request, response, new)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _, session = await _posted(request)
    if session is None:
        return refused(request)
    response = _see("/login")
    clear_session(request, response)
    return response


@router.post("/lang")
async def choose_language(request: Request) -> Response:
    form, session = await _posted(request)
    if session is None:
        return refused(request)
    response = _see(safe_next(form.get("next")))
    lang = form.get("lang", "")
    if lang in LANGS:
        secure = request.url.scheme == "https"
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_SECONDS, samesite="lax", httponly=True, secure=secure
        )
    return response


@router.post("/dashboard/workspace")
async def switch_workspace(request: Request) -> Response:
    form, session = await _posted(request)
    viewer = await viewer_of(request)
    if session is None or viewer is None:
        return refused(request)
    response = _see(safe_next(form.get("next"), "/dashboard/setup"))
    if any(ws.id == form.get("workspace") for ws in viewer.workspaces):
        write_session(request, response, replace(viewer.session, current=form["workspace"]))
    return response


@router.get("/dashboard")
async def dashboard_home(request: Request) -> Response:
    viewer = await viewer_of(request)
    if viewer is None:
        return _see("/login?next=/dashboard")
    return _see(await landing_path(request, viewer.workspace.id))


def context_for(request: Request, viewer: Viewer, slug: str) -> PageContext:
    lang = request_lang(request)
    period = Period.from_query(request.query_params, today_in(viewer.workspace.timezone))
    csrf = csrf_token(viewer.session, request.app.state.session_key)
    return PageContext(
        request, viewer.workspace, viewer.token.role, lang, translator(lang), period, csrf, slug
    )


def _layout(ctx: PageContext, viewer: Viewer, entry: PageEntry | None, content: Markup) -> str:
    params = ctx.request.query_params
    keep = f"?{ctx.period.query}" if "from" in params or "to" in params else ""
    return render_template(
        "layout.html",
        t=ctx.t,
        lang=ctx.lang,
        html_lang=HTML_LANG[ctx.lang],
        lang_names=LANG_NAMES,
        csrf=ctx.csrf,
        next=here(ctx.request),
        charts=True,
        ctx=ctx,
        viewer=viewer,
        nav=[(e, f"/dashboard/{e.slug}{keep if e.dated else ''}") for e in pages()],
        entry=entry,
        content=content,
    )


@router.get("/dashboard/{slug}")
async def dashboard_page(request: Request, slug: str) -> Response:
    viewer = await viewer_of(request)
    if viewer is None:
        return _see("/login?next=" + quote(here(request), safe="/"))
    ctx = context_for(request, viewer, slug)
    entry = page(slug)
    if entry is None:
        content = Markup("<p class='note'>{}</p>").format(ctx.t("layout.not_found"))
        response: Response = html_page(_layout(ctx, viewer, None, content), 404)
    else:
        result = await entry.handler(ctx)
        if isinstance(result, Response):
            return result
        response = html_page(_layout(ctx, viewer, entry, result))
    if viewer.changed:
        write_session(request, response, viewer.session)
    return response


@router.get("/dashboard/{slug}/{fragment}")
async def dashboard_fragment(request: Request, slug: str, fragment: str) -> Response:
    """A piece of a page, without the layout, for htmx to swap in."""
    viewer = await viewer_of(request)
    if viewer is None:
        login = "/login?next=" + quote(f"/dashboard/{slug}", safe="/")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": login})
        return _see(login)
    entry = page(slug)
    handler = entry.fragments.get(fragment) if entry else None
    if handler is None:
        return html_page("", 404)
    result = await handler(context_for(request, viewer, slug))
    return result if isinstance(result, Response) else html_page(result)
