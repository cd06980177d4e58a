"""The tags page: how many people carry each tag, and the workspace's tag rules — list, add,
edit and remove, each rule a tag, a description and a segment definition built with the
segment builder's condition form (or written as JSON), with the live count of who meets it.

Rules are saved with `update_settings(meta, ws, {"tag_rules": [...]})`, as
`PUT /api/v1/tags/rules` does; its SettingError names the field at fault, shown next to the
form. Rule tags follow a new rule at the next refresh (docs/tags.md).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from haina.identity.rules import IdentityRules
from haina.profiles import tags as tag_service
from haina.web.pages import PageContext, PageResult, register_page
from haina.web.people_pages.builder import Builder, Built, Problem
from haina.web.people_pages.common import (
    add_route,
    identity_rules,
    in_thread,
    posted,
    render,
    render_again,
    see,
    state_of,
)
from haina.web.people_pages.segments import (
    builder_redirect,
    builder_values,
    incomplete_problem,
    preview,
)
from haina.workspaces.keys import SettingError, effective_settings, update_settings

EDITOR_FIELDS = ("original", "rule_tag", "rule_description")
_RULE_FIELD = re.compile(r"^tag_rules\.(\d+)\.(tag|description|definition)(?:\.(.*))?$")


def _rules(ctx_meta: Any, workspace_id: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = effective_settings(ctx_meta, workspace_id)["tag_rules"]
    return rules


async def tags_page(ctx: PageContext) -> PageResult:
    state = state_of(ctx)
    params = state.form
    moved = builder_redirect(ctx, params, EDITOR_FIELDS)
    if moved is not None:
        return moved
    rules: IdentityRules = await asyncio.to_thread(identity_rules, ctx)
    current = await asyncio.to_thread(_rules, ctx.meta, ctx.workspace_id)
    counts = await in_thread(ctx, tag_service.counts, ctx.workspace_id)
    editing = next((r for r in current if r["tag"] == params.get("edit")), None)
    if editing is not None:  # an edit link: the rule's definition in the builder
        builder = Builder.from_definition(editing["definition"])
        original, tag, description = editing["tag"], editing["tag"], editing["description"]
    else:
        builder = Builder.from_params(params)
        original = params.get("original", "")
        tag, description = params.get("rule_tag", ""), params.get("rule_description", "")
    problem: Problem | None = state.problems.get("rule_problem")
    values = await builder_values(ctx, rules, builder)
    rule_people = {c["tag"]: c["people"] for c in counts if c["kind"] == "rule"}
    return render(
        ctx,
        "people/tags.html",
        counts=counts,
        rules=current,
        rule_people=rule_people,
        original=original,
        rule_tag=tag,
        rule_description=description,
        rule_problem=problem,
        problem=problem if problem and problem.row is not None else None,
        saved=params.get("saved", ""),
        removed=params.get("removed", ""),
        **values,
    )


def _problem(exc: SettingError, built: Built) -> Problem:
    """The setting's field at fault; a definition's, with the row it is in."""
    found = _RULE_FIELD.match(exc.name)
    row = None
    if found and found[2] == "definition" and found[3]:
        parts = found[3].split(".")
        if len(parts) >= 2 and parts[0] == "conditions" and parts[1].isdigit():
            at = int(parts[1])
            row = built.rows[at] if at < len(built.rows) else None
    return Problem(exc.name, str(exc), row)


async def save(request: Request) -> Response:
    """POST /dashboard/tags: save the editor's rule (`remove_rule`: take a rule out)."""
    got = await posted(request)
    if isinstance(got, Response):
        return got
    form = got.form
    workspace_id = got.viewer.workspace.id
    meta = request.app.state.meta
    current = await asyncio.to_thread(_rules, meta, workspace_id)
    if "remove_rule" in form:
        gone = form["remove_rule"]
        kept = [r for r in current if r["tag"] != gone]
        try:
            await asyncio.to_thread(update_settings, meta, workspace_id, {"tag_rules": kept})
        except SettingError as exc:
            failed = Problem(exc.name, str(exc))
            return await render_again(request, "tags", {}, rule_problem=failed)
        request.app.state.writer.touch(workspace_id)
        return see(f"/dashboard/tags?removed={quote(gone)}")
    built = Builder.from_params(form).build()
    problem = built.problem or incomplete_problem(request, built)
    if built.definition is None or problem is not None:
        return await render_again(request, "tags", form, rule_problem=problem)
    rule = {
        "tag": form.get("rule_tag", ""),
        "description": form.get("rule_description", ""),
        "definition": built.definition,
    }
    original = form.get("original", "")
    rules = [rule if r["tag"] == original else r for r in current]
    if not original or all(r["tag"] != original for r in current):
        rules.append(rule)
    try:
        await asyncio.to_thread(update_settings, meta, workspace_id, {"tag_rules": rules})
    except SettingError as exc:
        return await render_again(request, "tags", form, rule_problem=_problem(exc, built))
    request.app.state.writer.touch(workspace_id)  # the refresher recomputes rule tags
    return see(f"/dashboard/tags?saved={quote(str(rule['tag']).strip())}")


add_route("/dashboard/tags", save, ["POST"])
register_page(
    "tags", "nav.tags", tags_page, dated=False, fragments={"preview": preview}, group="people"
)
