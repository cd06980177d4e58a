"""Metadata store: workspaces, sources, keys, tracking plans.

SQLite by default, PostgreSQL at scale; the same models and migrations on both.
"""

from haina.store.meta.db import MetaStore, migrate
from haina.store.meta.models import ApiToken, Base, Source, TrackingPlanEvent, Workspace, WriteKey

__all__ = [
    "ApiToken",
    "Base",
    "MetaStore",
    "Source",
    "TrackingPlanEvent",
    "Workspace",
    "WriteKey",
    "migrate",
]
