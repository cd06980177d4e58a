"""Workspaces, their sources, write keys and API tokens."""

from haina.workspaces.keys import (
    KeyInfo,
    NotFound,
    TokenInfo,
    WorkspaceSettings,
    create_api_token,
    create_source,
    create_workspace,
    find_workspace,
    list_workspaces,
    lookup_write_key,
    revoke_write_key,
    source_by_name,
    source_info,
    verify_api_token,
    workspace_settings,
)

__all__ = [
    "KeyInfo",
    "NotFound",
    "TokenInfo",
    "WorkspaceSettings",
    "create_api_token",
    "create_source",
    "create_workspace",
    "find_workspace",
    "list_workspaces",
    "lookup_write_key",
    "revoke_write_key",
    "source_by_name",
    "source_info",
    "verify_api_token",
    "workspace_settings",
]
