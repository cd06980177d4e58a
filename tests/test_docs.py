"""Docs are part of the feature: every command, setting and API route is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from haina.app import create_app
from haina.cli import app as cli_app
from haina.config import Settings

DOCS = Path(__file__).parent.parent / "docs"


def _commands(group: typer.Typer, prefix: str = "haina") -> list[str]:
    click_group = typer.main.get_group(group)
    out: list[str] = []

    def walk(cmd: object, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}")
        else:
            out.append(path)

    walk(click_group, prefix)
    return out


def test_every_cli_command_is_in_docs_cli() -> None:
    text = (DOCS / "cli.md").read_text()
    commands = _commands(cli_app)
    assert len(commands) >= 15
    missing = [c for c in commands if c not in text]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented_with_its_environment_variable() -> None:
    text = (DOCS / "install.md").read_text()
    missing = [
        f"HAINA_{name.upper()}"
        for name in Settings.model_fields
        if f"HAINA_{name.upper()}" not in text
    ]
    assert not missing, f"undocumented settings: {missing}"


def test_every_api_route_is_in_docs_http_api() -> None:
    text = (DOCS / "http-api.md").read_text()
    paths = create_app(Settings()).openapi()["paths"]
    missing = [p for p in paths if p not in text]
    assert not missing, f"undocumented routes: {missing}"


def test_docs_index_links_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    linked = set(re.findall(r"\(([\w-]+\.md)\)", index))
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"pages not linked from docs/index.md: {pages - linked}"


def test_every_report_kind_has_a_page() -> None:
    from haina.reports.registry import reports

    definitions = (DOCS / "reports.md").read_text()
    for kind in reports():
        page = DOCS / "reports" / f"{kind}.md"
        assert page.exists(), f"report {kind!r} has no docs/reports/{kind}.md"
        assert f"(reports/{kind}.md)" in definitions, f"docs/reports.md does not link {kind}"
