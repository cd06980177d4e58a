"""`haina profiles ...`: look a person up, read their profile and timeline, split a wrong merge.

Through the running server when one runs on the data directory (the profiles API,
docs/profiles.md), else on the event file, as the other commands that read events do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from haina.cli import DataDir, WorkspaceOpt, _workspace_id, app, fail, out, settings_for
from haina.local import RunningServer, local_collector, running_server

if TYPE_CHECKING:
    import httpx

    from haina.collect.service import Collector
    from haina.identity.rules import IdentityRules

# haina.profiles.service (DuckDB, Arrow, the identity graph) is imported in the commands only,
# so that it does not slow down the start of every other command.

profiles_app = typer.Typer(
    help="People: look up by any identifier, profile, timeline, split merges.",
    no_args_is_help=True,
)
app.add_typer(profiles_app, name="profiles")

JsonOpt = Annotated[bool, typer.Option("--json", help="print the API's JSON")]
# What the CLI records as the author of a split it makes on the file (through the server the
# server token's id, "server", is recorded).
SPLIT_BY = "cli"


# -- reaching the profiles, through the server or on the file ----------------------------


def _call(
    data_dir: Path | None,
    workspace: str,
    remote: Callable[[RunningServer], dict[str, Any]],
    local: Callable[[Collector, str], dict[str, Any]],
) -> dict[str, Any]:
    """`remote` with the running server, else `local` on the opened store; a ProfileError
    either way ends the command with one line naming the field."""
    from haina.profiles.service import ProfileError

    settings = settings_for(data_dir)
    server = running_server(settings)
    try:
        if server is not None:
            return remote(server)
        ws = _workspace_id(settings, workspace)
        with local_collector(settings) as c:
            return local(c, ws)
    except ProfileError as exc:
        fail(f"{exc.field}: {exc}")
        raise


def _answer(
    server: RunningServer,
    method: str,
    path: str,
    workspace: str,
    missing: str | None = None,
    **kw: Any,
) -> httpx.Response:
    """The server's answer; its errors as ProfileError (field and message as the API names
    them: 404, 409 and 422 name a field; `missing` says what a 404 did not find, but for a
    merge), an unknown workspace as the other commands say. Serves JSON, the CSV export and
    the empty `204` of a delete."""
    from haina.profiles.service import ProfileError

    resp = server.request(method, path, workspace, **kw)
    if resp.status_code < 400:
        return resp
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    field, message = body.get("field"), body.get("message")
    if resp.status_code not in (404, 409, 422) or not field or field == "workspace":
        fail(str(message or body or f"the server answered {resp.status_code}"))
    if resp.status_code == 404 and missing is not None and field != "merge_id":
        message = missing
    raise ProfileError(str(field), str(message))


def _api(
    server: RunningServer, method: str, path: str, workspace: str, missing: str, **kw: Any
) -> dict[str, Any]:
    """The API's JSON answer (see `_answer`)."""
    result: dict[str, Any] = _answer(server, method, path, workspace, missing, **kw).json()
    return result


def _rules(c: Collector, ws: str) -> IdentityRules:
    from haina.workspaces import workspace_settings

    return workspace_settings(c.meta, ws).identity


def _profile(c: Collector, ws: str, field: str, missing: str, **find: Any) -> dict[str, Any]:
    """What GET /api/v1/profiles/lookup and /{person_id} answer, on the file."""
    from haina.profiles.service import ProfileError, find_person, profile
    from haina.workspaces.keys import report_settings

    rules = _rules(c, ws)
    conn = c.writer.reader()
    person = find_person(conn, ws, rules, **find)
    if person is None:
        raise ProfileError(field, missing)
    rs = report_settings(c.meta, ws)
    return profile(
        conn,
        ws,
        person,
        rules,
        conversion_events=rs.conversion_events,
        timezone=rs.timezone,
        session_timeout_minutes=rs.session_timeout_minutes,
    )


def _not_a_person(person_id: str) -> str:
    return f"no person {person_id!r} in this workspace"


# -- commands --------------------------------------------------------------------------------


@profiles_app.command("lookup")
def profiles_lookup(
    workspace: WorkspaceOpt,
    id_type: Annotated[
        str, typer.Option("--type", help="identifier type: email, phone, user_id, ...")
    ],
    value: Annotated[str, typer.Option("--value", help="the identifier's value")],
    data_dir: DataDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the profile of the person an identifier belongs to."""
    missing = f"no person with {id_type} {value!r} in this workspace"
    result = _call(
        data_dir,
        workspace,
        lambda server: _api(
            server,
            "GET",
            "/api/v1/profiles/lookup",
            workspace,
            missing,
            params={"type": id_type, "value": value},
        ),
        lambda c, ws: _profile(c, ws, "value", missing, kind=id_type, value=value),
    )
    _print_profile(result, as_json)


@profiles_app.command("show")
def profiles_show(
    person_id: Annotated[str, typer.Argument(help="the person id (p_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a person's profile (a merged-away id gives the profile it was merged into)."""
    missing = _not_a_person(person_id)
    result = _call(
        data_dir,
        workspace,
        lambda server: _api(
            server, "GET", f"/api/v1/profiles/{quote(person_id, safe='')}", workspace, missing
        ),
        lambda c, ws: _profile(c, ws, "person_id", missing, person_id=person_id),
    )
    _print_profile(result, as_json)


@profiles_app.command("timeline")
def profiles_timeline(
    person_id: Annotated[str, typer.Argument(help="the person id (p_...)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    limit: Annotated[int, typer.Option(help="most events on the page, 1 to 200")] = 50,
    before: Annotated[
        str | None, typer.Option(help="the `next` cursor the previous page printed")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="only this channel")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="only this message type: track, page, ...")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List a person's events across channels, newest first, and the next page's cursor."""
    missing = _not_a_person(person_id)
    params: dict[str, Any] = {"limit": limit}
    params.update(
        {k: v for k, v in (("before", before), ("channel", channel), ("type", event_type)) if v}
    )

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.profiles.service import ProfileError, find_person, timeline

        conn = c.writer.reader()
        person = find_person(conn, ws, _rules(c, ws), person_id=person_id)
        if person is None:
            raise ProfileError("person_id", missing)
        return timeline(
            conn,
            ws,
            person,
            limit=limit,
            before=before,
            channel=channel,
            event_type=event_type,
        )

    result = _call(
        data_dir,
        workspace,
        lambda server: _api(
            server,
            "GET",
            f"/api/v1/profiles/{quote(person_id, safe='')}/timeline",
            workspace,
            missing,
            params=params,
        ),
        local,
    )
    if as_json:
        _print_json(result)
        return
    table = Table("time (UTC)", "type", "event", "channel", "page", title="timeline")
    table.add_column("message", overflow="fold")
    for e in result["events"]:
        table.add_row(
            *(
                _text(v)
                for v in (
                    _when(e["timestamp"]),
                    e["type"],
                    e["event"] or e["name"],
                    e["channel"],
                    e["path"] or e["url"],
                    e["message_id"],
                )
            )
        )
    out.print(table)
    if result["next"]:
        out.print(Text(f"next: {result['next']}"))
    else:
        out.print(Text("next: – (no more events)"))


@profiles_app.command("split")
def profiles_split(
    merge_id: Annotated[str, typer.Argument(help="the merge id (m_..., see the profile)")],
    workspace: WorkspaceOpt,
    data_dir: DataDir = None,
    reason: Annotated[str, typer.Option(help="why, kept with the split")] = "",
) -> None:
    """Undo a merge: its two profiles are kept apart from now on; prints their person ids."""

    def local(c: Collector, ws: str) -> dict[str, Any]:
        from haina.identity.store import SplitError, refresh, split
        from haina.profiles.service import ProfileError

        conn = c.writer.reader()
        rules = _rules(c, ws)
        refresh(conn, ws, rules)
        try:
            people = split(conn, ws, rules, merge_id, by=SPLIT_BY, reason=reason)
        except SplitError as exc:
            raise ProfileError("merge_id", str(exc)) from None
        return {"merge_id": merge_id, "person_ids": people}

    result = _call(
        data_dir,
        workspace,
        lambda server: _api(
            server,
            "POST",
            f"/api/v1/profiles/merges/{quote(merge_id, safe='')}/split",
            workspace,
            "",
            json={"reason": reason},
        ),
        local,
    )
    out.print(Text(f"split {result['merge_id']}"))
    for pid in result["person_ids"]:
        out.print(Text(pid))


# -- printing ------------------------------------------------------------------------------


def _print_json(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False, indent=2))


def _print_profile(p: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(p)
        return
    person = Table("", "", title="person", show_header=False)
    person.add_row("person_id", _text(p["person_id"]))
    if p.get("merged_from"):
        person.add_row("asked for", _text(f"{p['merged_from']} (merged into this person)"))
    person.add_row("lifecycle stage", _text(p["lifecycle_stage"]))
    person.add_row("tags", _text(", ".join(map(str, p["tags"])) or None))
    person.add_row("score", _text(p["score"]))
    out.print(person)

    ids = Table("type", "value", "first seen (UTC)", title="identities")
    for i in p["identities"]:
        ids.add_row(_text(i["type"]), _text(i["value"]), _text(_when(i["first_seen"])))
    out.print(ids)

    traits = Table("trait", "value", title="traits")
    for k, v in p["traits"].items():
        traits.add_row(_text(k), _text(v))
    out.print(traits if p["traits"] else Text("traits: none"))

    computed = Table("computed trait", "value", title="computed")
    for k, v in p["computed"].items():
        if isinstance(v, dict):  # a touch: channel / source / campaign
            v = " / ".join(str(x) for x in v.values() if x is not None) or None
        elif k in ("first_seen", "last_seen"):
            v = _when(v)
        computed.add_row(_text(k), _text(v))
    out.print(computed)

    if not p["merges"]:
        out.print(Text("merges: none"))
        return
    for m in p["merges"]:  # one small table each: ids stay whole in 80 columns
        merged, into = m["merged"], m["into"]
        merge = Table("", "", title=f"merge {m['merge_id']}", show_header=False)
        merge.add_row("merge_id", _text(m["merge_id"]))
        merge.add_row("when (UTC)", _text(_when(m["at"])))
        merge.add_row("message", _text(m["message_id"]))
        merge.add_row("merged profile", _text(merged["person_id"]))
        merge.add_row("merged by", _text(f"{merged['type']} {merged['value']}"))
        merge.add_row("into", _text(f"{into['type']} {into['value']}"))
        merge.add_row(
            "identifiers",
            _text(", ".join(f"{i['type']} {i['value']}" for i in m["identifiers"])),
        )
        out.print(merge)
    out.print(Text("undo a wrong merge: haina profiles split MERGE_ID -w WORKSPACE", style="dim"))


def _when(iso: str | None) -> str | None:
    """'2026-11-01T08:00:01.000Z' → '2026-11-01 08:00:01'."""
    return iso[:19].replace("T", " ") if iso else None


def _text(value: Any) -> Text:
    """A cell, never read as Rich markup (values come from messages)."""
    if value is None:
        return Text("–")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))
