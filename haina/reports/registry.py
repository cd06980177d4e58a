"""Report kinds, registered the way an extension would register one.

Each built-in report module defines `REPORT = ReportKind(...)`; `reports()` imports the
modules listed in BUILTIN once. The HTTP API, the CLI and the dashboard all dispatch through
this table, never through `if kind == ...` chains.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from haina.query.scope import ReportContext, ReportQuery

BUILTIN = (
    "overview",
    "sources",
    "pages",
    "pagespeed",
    "funnel",
    "retention",
    "events",
    "realtime",
    "paths",
)


@dataclass(frozen=True, slots=True)
class ReportKind:
    kind: str
    query: type[ReportQuery]
    run: Callable[[ReportContext, Any], dict[str, Any]]
    summary: str
    # Reads the stored sessions when they are current (haina/query/stored.py): callers
    # refresh them first and say so in `ReportContext.stored`.
    stored_sessions: bool = False


_EXTRA: dict[str, ReportKind] = {}


def register(report: ReportKind) -> None:
    """Add a report kind (for extensions); built-ins load from BUILTIN."""
    _EXTRA[report.kind] = report


@cache
def _builtin() -> dict[str, ReportKind]:
    out = {}
    for name in BUILTIN:
        report: ReportKind = importlib.import_module(f"haina.reports.{name}").REPORT
        out[report.kind] = report
    return out


def reports() -> dict[str, ReportKind]:
    return {**_builtin(), **_EXTRA}


def run_report(ctx: ReportContext, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a JSON body for `kind` and run it (pydantic.ValidationError on a bad body)."""
    report = reports()[kind]
    return report.run(ctx, report.query.model_validate(body))
