"""Storing a workspace's tracking plan and reading it back for the pipeline.

The YAML file form (also what the API takes as JSON):

    flag_unplanned: false        # optional: flag track events the plan does not list
    events:
      - event: Order Completed   # type defaults to track; use `type: page` for pages
        description: A purchase
        properties:
          order_id: {type: string, required: true}
          revenue: {type: number, minimum: 0}
          currency: {type: string, allowed: [CNY, USD, EUR]}
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import delete, select

from haina.pipeline.plan import PlannedEvent, TrackingPlan, property_schema
from haina.store.meta import MetaStore, TrackingPlanEvent, Workspace


def parse_plan(doc: Any) -> tuple[list[PlannedEvent], bool, dict[str, str]]:
    """Validate a plan document; returns (events, flag_unplanned, descriptions)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("events", []), list):
        raise ValueError("a tracking plan is an object with an `events` list")
    events: list[PlannedEvent] = []
    descriptions: dict[str, str] = {}
    for i, item in enumerate(doc.get("events", [])):
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise ValueError(f"events[{i}]: each event needs an `event` name")
        etype = item.get("type", "track")
        if etype not in ("track", "page", "screen"):
            raise ValueError(f"events[{i}].type must be track, page or screen")
        props = item.get("properties", {})
        if "schema" in item:
            schema = item["schema"]
        elif isinstance(props, dict) and all(isinstance(v, dict) for v in props.values()):
            schema = property_schema(props)
        else:
            raise ValueError(f"events[{i}].properties must map names to specs")
        if any(e.event_type == etype and e.event == item["event"] for e in events):
            raise ValueError(f"events[{i}]: {etype} {item['event']!r} is listed twice")
        events.append(PlannedEvent(etype, item["event"], schema))
        descriptions[item["event"]] = str(item.get("description", ""))
    plan = TrackingPlan(events)  # validates every schema
    del plan
    return events, bool(doc.get("flag_unplanned", False)), descriptions


def save_plan(meta: MetaStore, workspace_id: str, doc: Any) -> int:
    """Replace the workspace's plan with `doc`; returns the number of planned events."""
    events, flag_unplanned, descriptions = parse_plan(doc)
    with meta.session() as s:
        s.execute(delete(TrackingPlanEvent).where(TrackingPlanEvent.workspace_id == workspace_id))
        for e in events:
            s.add(
                TrackingPlanEvent(
                    workspace_id=workspace_id,
                    event_type=e.event_type,
                    event=e.event,
                    description=descriptions.get(e.event, ""),
                    schema=dict(e.schema),
                )
            )
        ws = s.get(Workspace, workspace_id)
        if ws is not None:
            ws.settings = {**(ws.settings or {}), "plan_flag_unplanned": flag_unplanned}
    return len(events)


def save_plan_yaml(meta: MetaStore, workspace_id: str, text: str) -> int:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"the plan is not valid YAML: {exc}") from exc
    return save_plan(meta, workspace_id, doc)


def plan_document(meta: MetaStore, workspace_id: str) -> dict[str, Any]:
    with meta.session() as s:
        rows = s.scalars(
            select(TrackingPlanEvent)
            .where(TrackingPlanEvent.workspace_id == workspace_id)
            .order_by(TrackingPlanEvent.event)
        ).all()
        ws = s.get(Workspace, workspace_id)
        flag = bool((ws.settings or {}).get("plan_flag_unplanned")) if ws else False
        return {
            "flag_unplanned": flag,
            "events": [
                {
                    "type": r.event_type,
                    "event": r.event,
                    "description": r.description,
                    "schema": r.schema,
                }
                for r in rows
            ],
        }


def load_plan(meta: MetaStore, workspace_id: str) -> TrackingPlan | None:
    doc = plan_document(meta, workspace_id)
    if not doc["events"] and not doc["flag_unplanned"]:
        return None
    return TrackingPlan(
        (PlannedEvent(e["type"], e["event"], e["schema"]) for e in doc["events"]),
        flag_unplanned=doc["flag_unplanned"],
    )
