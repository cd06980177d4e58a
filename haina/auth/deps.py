"""FastAPI dependencies for authenticated API routes, declared once and reused."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from haina.workspaces import TokenInfo, find_workspace, verify_api_token
from haina.workspaces.keys import NotFound


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            {
                "code": "missing_token",
                "field": "Authorization",
                "message": "send an API token as `Authorization: Bearer ...`",
            },
        )
    return token.strip()


def current_workspace(
    request: Request,
    workspace: Annotated[str | None, Query(description="workspace (server token only)")] = None,
) -> TokenInfo:
    """The workspace a request may act on.

    An API token is bound to its workspace. The server token (written to the data directory
    for the CLI of the same installation) acts on the workspace named by `?workspace=`.
    """
    token = _bearer(request)
    state = request.app.state
    if hmac.compare_digest(token, state.server_token):
        if not workspace:
            raise HTTPException(
                400,
                {
                    "code": "missing_field",
                    "field": "workspace",
                    "message": "the server token needs ?workspace=",
                },
            )
        try:
            ws = find_workspace(state.meta, workspace)
        except NotFound as exc:
            raise HTTPException(
                404, {"code": "not_found", "field": "workspace", "message": str(exc)}
            ) from exc
        return TokenInfo("server", ws.id, "owner")
    info = verify_api_token(state.meta, token)
    if info is None:
        raise HTTPException(
            401,
            {
                "code": "invalid_token",
                "field": "Authorization",
                "message": "unknown or revoked API token",
            },
        )
    return info


CurrentWorkspace = Annotated[TokenInfo, Depends(current_workspace)]
