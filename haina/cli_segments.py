"""`haina segments ...`, `haina tags ...`, `haina scoring ...`: segments (人群包), tags and lead
scoring from the command line.

Through the running server when one runs on the data directory (the APIs of docs/segments.md,
docs/tags.md and docs/scoring.md), else on the files with the same services, as
`haina profiles ...` does (haina/cli_profiles.py): the same output either way, and errors as
one line naming the field.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from haina.cli import DataDir, WorkspaceOpt, app, err, fail, out
from haina.cli_profiles import JsonOpt, _answer, _call, _print_json, _rules, _text, _when
from haina.local import RunningServer

if TYPE_CHECKING:
    from pydantic import ValidationError

    from haina.collect.service import Collector
    from haina.segments.definition import SegmentDefinition

# The services (DuckDB, the segment compiler, FastAPI's routes for their shared helpers) are
# imported in the commands only, so that they do not slow down the start of other commands.

segments_app = typer.Typer(
    help="Segments (人群包): preview a definition, save, list, members, CSV export.",
    no_args_is_help=True,
)
tags_app = typer.Typer(
    help="Tags: counts, manual tags (people, a segment, identifiers, CSV), tag rules.",
    no_args_is_help=True,
)
scoring_app = typer.Typer(
    help="Lead scoring: the model; recompute tags, scores and dynamic segments now.",
    no_args_is_help=True,
)
app.add_typer(segments_app, name="segments")
app.add_typer(tags_app, name="tags")
app.add_typer(scoring_app, name="scoring")

# Who the CLI records as having put on a manual tag when it works on the file (through the
# server, the server token's id, "server", is recorded).
TAGGED_BY = "cli"

DefinitionOpt = Annotated[
    str,
    typer.Option(
        "--definition",
        help="a JSON/YAML file holding the segment definition, or the definition as JSON text",
    ),
]
SetOpt = Annotated[
    Path | None,
    typer.Option("--set", exists=True, dir_okay=False, help="replace it with this JSON/YAML file"),
]


# -- reaching the server or the files ---------------------------------------------------------


def _json(server: RunningServer, method: str, path: str, workspace: str, **kw: Any) -> Any:
    return _answer(server, method, path, workspace, **kw).json()


def _segment_path(segment_id: str, tail: str = "") -> str:
    return f"/api/v1/segments/{quote(segment_id, safe='')}{tail}"


def _field_error(field: str, message: str) -> Exception:
    from haina.profiles.service import ProfileError

    return ProfileError(field, message)


def _invalid(exc: ValidationError, prefix: str) -> Exception:
    """A definition's (or model's) first error, named as the API names it."""
    errors = exc.errors()
    loc = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    message = errors[0]["msg"] if errors else str(exc)
    return _field_error(f"{prefix}.{loc}" if loc else prefix, message)


def _parsed_definition(raw: Any) -> SegmentDefinition:
    """What the segments API checks a definition with, on the file."""
    from pydantic import ValidationError

    from haina.segments.definition import SegmentDefinition

    try:
        return SegmentDefinition.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise _invalid(exc, "definition") from None


def _segments_service(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`fn` with the segment service's errors as field errors."""
    from haina.segments.service import SegmentError

    try:
        return fn()
    except SegmentError as exc:
        raise _field_error(exc.field, str(exc)) from None


# -- reading the options' files ---------------------------------------------------------------


def _load(text: str, where: str, field: str) -> Any:
    """JSON, else YAML; as JSON values (a YAML date becomes its text), as the API gets them."""
    import yaml

    try:
        doc = json.loads(text)
    except ValueError:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            fail(f"{field}: {where} is neither JSON nor YAML: {exc}")
    return json.loads(json.dumps(doc, ensure_ascii=False, default=str))


def _definition_arg(value: str) -> Any:
    """`--definition`: inline JSON (text starting with `{`), else a JSON/YAML file."""
    if value.lstrip().startswith(("{", "[")):
        try:
            doc = json.loads(value)
        except ValueError as exc:
            fail(f"definition: not JSON: {exc}")
    else:
        path = Path(value)
        if not path.is_file():
            fail(f"definition: no file {value!r} (give a JSON/YAML file or JSON text)")
        doc = _load(path.read_text(encoding="utf-8"), str(path), "definition")
    if isinstance(doc, dict) and set(doc) == {"definition"}:
        doc = doc["definition"]  # the body of POST /api/v1/segments/preview
    return doc


def _file_doc(path: Path, field: str) -> Any:
    return _load(path.read_text(encoding="utf-8"), str(path), field)


# -- segments ---------------------------------------------------------------------------------


@segments_app.command("list")
def segments_list(
    workspace: WorkspaceOpt, data_dir: DataDir = None, as_json: JsonOpt = False
) -> None:
    """List the workspace's segments with their member counts."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service
        from haina.segments.routes import _shown

        conn = c.writer.reader()
        return {
            "segments": [
                _shown(s, service.member_count(conn, ws, s.id))
                for s in service.list_segments(c.meta, ws)
            ]
        }

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(server, "GET", "/api/v1/segments", workspace),
        local,
    )
    if as_json:
        _print_json(result)
        return
    if not result["segments"]:
        out.print(Text("no segments"))
        return
    table = Table("id", "name", "kind", "members", "updated (UTC)", title="segments")
    for s in result["segments"]:
        table.add_row(
            *(_text(v) for v in (s["id"], s["name"], s["kind"], s["count"], _when(s["updated_at"])))
        )
    out.print(table)


@segments_app.command("preview")
def segments_preview(
    workspace: WorkspaceOpt,
    definition: DefinitionOpt,
    data_dir: DataDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Count the people a definition holds now, with a sample of their person ids."""
    raw = _definition_arg(definition)

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service

        parsed = _parsed_definition(raw)
        conn = c.writer.reader()

        def run() -> dict[str, Any]:
            with c.writer.report_memory():
                return service.preview(conn, ws, _rules(c, ws), parsed)

        return _segments_service(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(
            server, "POST", "/api/v1/segments/preview", workspace, json={"definition": raw}
        ),
        local,
    )
    if as_json:
        _print_json(result)
        return
    out.print(Text(f"count: {result['count']}"))
    if result["sample"]:
        out.print(Text("sample:"))
        for pid in result["sample"]:
            out.print(Text(pid))


@segments_app.command("create")
def segments_create(
    name: Annotated[str, typer.Argument(help="the segment's name, unique in the workspace")],
    workspace: WorkspaceOpt,
    definition: DefinitionOpt,
    data_dir: DataDir = None,
    kind: Annotated[
        str, typer.Option(help="dynamic (follows behaviour) or static (a snapshot now)")
    ] = "dynamic",
    description: Annotated[str, typer.Option(help="what the segment is for")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Save a segment and take its membership; prints it with its member count."""
    raw = _definition_arg(definition)

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service
        from haina.segments.routes import _shown

        parsed = _parsed_definition(raw)
        conn = c.writer.reader()

        def run() -> dict[str, Any]:
            seg = service.create(
                c.meta,
                conn,
                ws,
                _rules(c, ws),
                name=name,
                definition=parsed,
                kind=kind,
                description=description,
            )
            return _shown(seg, service.member_count(conn, ws, seg.id))

        return _segments_service(run)

    body = {"name": name, "kind": kind, "description": description, "definition": raw}
    result = _call(
        data_dir,
        workspace,
        lambda server: _json(server, "POST", "/api/v1/segments", workspace, json=body),
        local,
    )
    _print_segment(result, as_json)


@segments_app.command("show")
def segments_show(
    segment_id: Annotated[str, typer.Argument(help="the segment id (seg_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a segment: name, kind, member count and definition."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service
        from haina.segments.routes import _shown

        def run() -> dict[str, Any]:
            seg = service.get(c.meta, ws, segment_id)
            return _shown(seg, service.member_count(c.writer.reader(), ws, seg.id))

        return _segments_service(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(server, "GET", _segment_path(segment_id), workspace),
        local,
    )
    _print_segment(result, as_json)


@segments_app.command("members")
def segments_members(
    segment_id: Annotated[str, typer.Argument(help="the segment id (seg_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="most members, 1 to 1000")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="members to skip first")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """List a segment's members (person ids, in order) with when each entered."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service

        def run() -> dict[str, Any]:
            service.get(c.meta, ws, segment_id)
            conn = c.writer.reader()
            return {
                "segment_id": segment_id,
                "total": service.member_count(conn, ws, segment_id),
                "members": service.members(conn, ws, segment_id, limit=limit, offset=offset),
            }

        return _segments_service(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(
            server,
            "GET",
            _segment_path(segment_id, "/members"),
            workspace,
            params={"limit": limit, "offset": offset},
        ),
        local,
    )
    if as_json:
        _print_json(result)
        return
    table = Table("person_id", "since (UTC)", title=f"members of {segment_id}")
    for m in result["members"]:
        table.add_row(_text(m["person_id"]), _text(_when(m["since"])))
    out.print(table)
    shown = len(result["members"])
    first = offset + 1 if shown else offset
    out.print(Text(f"members {first}–{offset + shown} of {result['total']}"))


@segments_app.command("export")
def segments_export(
    segment_id: Annotated[str, typer.Argument(help="the segment id (seg_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    traits: Annotated[
        str, typer.Option(help="comma-separated traits to add as columns, e.g. city,email")
    ] = "",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write [default: stdout]")
    ] = None,
) -> None:
    """Export a segment's members as CSV: person_id, since, and the chosen traits."""
    chosen = [t.strip() for t in traits.split(",") if t.strip()]

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service

        def run() -> dict[str, Any]:
            seg = service.get(c.meta, ws, segment_id)
            rules = _rules(c, ws)
            conn = c.writer.reader()
            return {"csv": "".join(service.export_csv(conn, ws, rules, seg, chosen))}

        return _segments_service(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: {
            "csv": _answer(
                server,
                "GET",
                _segment_path(segment_id, "/export"),
                workspace,
                params={"traits": ",".join(chosen)},
            ).text
        },
        local,
    )
    text: str = result["csv"]
    rows = max(0, sum(1 for _ in csv.reader(io.StringIO(text))) - 1)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.write_text(text, encoding="utf-8", newline="")
    err.print(f"{rows} members written to {output}", highlight=False)


@segments_app.command("delete")
def segments_delete(
    segment_id: Annotated[str, typer.Argument(help="the segment id (seg_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
) -> None:
    """Delete a segment and its membership."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.segments import service

        def run() -> dict[str, Any]:
            service.delete(c.meta, c.writer.reader(), ws, segment_id)
            return {}

        return _segments_service(run)

    def remote(server: RunningServer) -> dict[str, Any]:
        _answer(server, "DELETE", _segment_path(segment_id), workspace)  # 204, no body
        return {}

    _call(data_dir, workspace, remote, local)
    out.print(Text(f"deleted {segment_id}"))


def _print_segment(seg: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(seg)
        return
    table = Table("", "", title=f"segment {seg['id']}", show_header=False)
    table.add_row("id", _text(seg["id"]))
    table.add_row("name", _text(seg["name"]))
    table.add_row("kind", _text(seg["kind"]))
    table.add_row("description", _text(seg["description"] or None))
    table.add_row("members", _text(seg["count"]))
    table.add_row("created (UTC)", _text(_when(seg["created_at"])))
    table.add_row("updated (UTC)", _text(_when(seg["updated_at"])))
    table.add_row("definition", _text(seg["definition"]))
    out.print(table)


# -- tags -------------------------------------------------------------------------------------


@tags_app.command("list")
def tags_list(workspace: WorkspaceOpt, data_dir: DataDir = None, as_json: JsonOpt = False) -> None:
    """List every tag of the workspace, its kind and how many people carry it."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.profiles import tags

        return {"tags": tags.counts(c.writer.reader(), ws)}

    result = _call(
        data_dir, workspace, lambda server: _json(server, "GET", "/api/v1/tags", workspace), local
    )
    if as_json:
        _print_json(result)
        return
    if not result["tags"]:
        out.print(Text("no tags"))
        return
    table = Table("tag", "kind", "people", title="tags")
    for t in result["tags"]:
        table.add_row(_text(t["tag"]), _text(t["kind"]), _text(t["people"]))
    out.print(table)


def _manual_tag_error(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`fn` with the tag service's errors as field errors."""
    from haina.profiles.tags import TagError

    try:
        return fn()
    except TagError as exc:
        raise _field_error(exc.field, str(exc)) from None


@tags_app.command("add")
def tags_add(
    tag: Annotated[str, typer.Argument(help="the tag, e.g. vip")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    person: Annotated[
        list[str] | None, typer.Option("--person", help="a person id (p_...); repeatable")
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="every current member of this segment")
    ] = None,
    identifier: Annotated[
        list[str] | None,
        typer.Option("--identifier", help="type=value, e.g. email=li@example.com; repeatable"),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv", exists=True, dir_okay=False, help="a CSV file with the columns type,value"
        ),
    ] = None,
) -> None:
    """Put a manual tag on people: by person id, a segment's members, identifiers or a CSV."""
    body: dict[str, Any] = {"tag": tag}
    if person:
        body["person_ids"] = list(person)
    if segment is not None:
        body["segment_id"] = segment
    if identifier:
        pairs = []
        for item in identifier:
            kind, sep, value = item.partition("=")
            if not sep:
                raise typer.BadParameter(
                    f"expected type=value, got {item!r}", param_hint="--identifier"
                )
            pairs.append({"type": kind.strip(), "value": value})
        body["identifiers"] = pairs
    if csv_file is not None:
        body["csv"] = csv_file.read_text(encoding="utf-8-sig")
    if len(body) == 1:
        raise typer.BadParameter(
            "name the people: --person, --segment, --identifier or --csv", param_hint="TAG"
        )

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.profiles import tags

        conn = c.writer.reader()

        def run() -> dict[str, Any]:
            checked = tags.check_tag(tag)
            found = tags.resolve_people(c.meta, conn, ws, body)
            return {"tag": tag, "tagged": tags.add_manual(conn, ws, found, checked, TAGGED_BY)}

        return _manual_tag_error(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(server, "POST", "/api/v1/tags/manual", workspace, json=body),
        local,
    )
    out.print(Text(f"tagged {result['tagged']} with {result['tag']}"))


@tags_app.command("remove")
def tags_remove(
    tag: Annotated[str, typer.Argument(help="the manual tag to take off")],
    workspace: WorkspaceOpt,
    person: Annotated[list[str], typer.Option("--person", help="a person id (p_...); repeatable")],
    data_dir: DataDir = None,
) -> None:
    """Take a manual tag off people (from every identifier of theirs that carries it)."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.profiles import tags

        conn = c.writer.reader()

        def run() -> dict[str, Any]:
            checked = tags.check_tag(tag)
            removed = sum(tags.remove_manual(conn, ws, p, checked) for p in person)
            return {"tag": tag, "removed": removed}

        return _manual_tag_error(run)

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(
            server,
            "POST",
            "/api/v1/tags/manual/remove",
            workspace,
            json={"tag": tag, "person_ids": list(person)},
        ),
        local,
    )
    out.print(Text(f"removed {result['tag']} from {result['removed']} identifier(s)"))


@tags_app.command("rules")
def tags_rules(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    set_file: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the tag rules, or replace them with a JSON/YAML file of [{tag, description,
    definition}]."""
    rules: Any = None
    if set_file is not None:
        rules = _file_doc(set_file, "rules")
        if isinstance(rules, dict) and set(rules) == {"rules"}:
            rules = rules["rules"]  # the body of PUT /api/v1/tags/rules

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.workspaces.keys import SettingError, effective_settings, update_settings

        if set_file is not None:
            try:
                update_settings(c.meta, ws, {"tag_rules": rules})
            except SettingError as exc:
                raise _field_error(exc.name.replace("tag_rules", "rules", 1), str(exc)) from None
        return {"rules": effective_settings(c.meta, ws)["tag_rules"]}

    def remote(server: RunningServer) -> dict[str, Any]:
        if set_file is not None:
            return dict(
                _json(server, "PUT", "/api/v1/tags/rules", workspace, json={"rules": rules})
            )
        return dict(_json(server, "GET", "/api/v1/tags/rules", workspace))

    result = _call(data_dir, workspace, remote, local)
    if as_json:
        _print_json(result)
        return
    if not result["rules"]:
        out.print(Text("no tag rules"))
        return
    table = Table("tag", "description", title="tag rules")
    table.add_column("definition", overflow="fold")
    for r in result["rules"]:
        table.add_row(_text(r["tag"]), _text(r.get("description") or None), _text(r["definition"]))
    out.print(table)


# -- scoring ----------------------------------------------------------------------------------


@scoring_app.command("model")
def scoring_model(
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    set_file: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the lead-scoring model as a summary, or replace it with a JSON/YAML file."""
    model: Any = None
    if set_file is not None:
        model = _file_doc(set_file, "model")
        if not isinstance(model, dict):
            fail("model: the scoring model is an object of fit, engagement, signals, ...")

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.workspaces.keys import SettingError, effective_settings, update_settings

        if set_file is not None:
            try:
                update_settings(c.meta, ws, {"scoring": model})
            except SettingError as exc:
                field = exc.name.removeprefix("scoring.") if exc.name != "scoring" else "model"
                raise _field_error(field, str(exc)) from None
        return dict(effective_settings(c.meta, ws)["scoring"])

    def remote(server: RunningServer) -> dict[str, Any]:
        if set_file is not None:
            return dict(_json(server, "PUT", "/api/v1/scoring/model", workspace, json=model))
        return dict(_json(server, "GET", "/api/v1/scoring/model", workspace))

    result = _call(data_dir, workspace, remote, local)
    if as_json:
        _print_json(result)
        return
    _print_model(result)


@scoring_app.command("refresh")
def scoring_refresh(
    workspace: WorkspaceOpt, data_dir: DataDir = None, as_json: JsonOpt = False
) -> None:
    """Recompute the rule and inferred tags, the lead scores and the dynamic segments now."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from dataclasses import asdict

        from haina.segments.refresher import PeopleRefresher

        refresher = PeopleRefresher(c.meta, c.writer, interval=1e9)
        try:
            return asdict(refresher.refresh(ws))
        finally:
            refresher.close()

    result = _call(
        data_dir,
        workspace,
        lambda server: _json(server, "POST", "/api/v1/scoring/refresh", workspace),
        local,
    )
    if as_json:
        _print_json(result)
        return
    table = Table("", "", title="refreshed", show_header=False)
    table.add_row("tags that appeared or disappeared", _text(result["tags"]))
    table.add_row("scores, grades or stages changed", _text(result["scores"]))
    table.add_row("segment memberships changed", _text(result["segments"]))
    table.add_row("events recorded", _text(result["events"]))
    out.print(table)


def _print_model(raw: dict[str, Any]) -> None:
    """The model as tables: its rules, then its limits (defaults filled in)."""
    from haina.scoring.model import ScoringModel

    m = ScoringModel.model_validate(raw)
    if m.empty:
        out.print(Text("no scoring rules: every score is 0 (set a model with --set FILE)"))
    if m.fit:
        fit = Table("rule", "trait test", "points", title="fit (who the person is)")
        for r in m.fit:
            fit.add_row(_text(r.name), _text(_test(r.key, r.op, r.value)), _num(r.points))
        out.print(fit)
    if m.engagement:
        engaged = Table(
            "rule", "event", "points", "count", "cap", "half-life (days)", title="engagement"
        )
        for e in m.engagement:
            engaged.add_row(
                _text(e.name),
                _text(_event(e.event, e.filters)),
                _num(e.points),
                _text(e.count),
                _num(e.limit),
                _num(e.half_life_days or m.half_life_days),
            )
        out.print(engaged)
    if m.signals:
        signals = Table(
            "rule", "event", "at least", "in (days)", "points", "min grade", title="signals"
        )
        for s in m.signals:
            signals.add_row(
                _text(s.name),
                _text(_event(s.event, s.filters)),
                _text(s.min_count),
                _text(s.window_days or "ever"),
                _num(s.points),
                _text(s.min_grade),
            )
        out.print(signals)
    limits = Table("", "", title="limits", show_header=False)
    limits.add_row("fit at most", _num(m.fit_max))
    limits.add_row("engagement at most", _num(m.engagement_max))
    limits.add_row("half-life (days)", _num(m.half_life_days))
    limits.add_row(
        "grades (A / B / C from)", _text(f"{m.grades.A:g} / {m.grades.B:g} / {m.grades.C:g}")
    )
    limits.add_row(
        "stages (marketing / sales qualified from)",
        _text(f"{m.stages.marketing_qualified:g} / {m.stages.sales_qualified:g}"),
    )
    out.print(limits)


def _test(key: str, op: str, value: Any) -> str:
    if op in ("is_set", "is_not_set"):
        return f"{key} {op}"
    return f"{key} {op} {json.dumps(value, ensure_ascii=False)}"


def _event(event: str, filters: list[Any]) -> str:
    from haina.query.filters import PropertyFilter

    if not filters:
        return event
    where = [
        _test(f.key, f.op, f.value)
        if isinstance(f, PropertyFilter)
        else json.dumps(f.model_dump(mode="json"), ensure_ascii=False)
        for f in filters
    ]
    return f"{event} where {' and '.join(where)}"


def _num(value: float) -> Text:
    return Text(f"{value:g}")
