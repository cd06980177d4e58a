"""`haina segments|tags|scoring ...` end to end: preview, a static segment listed, shown,
paged and exported, its members tagged and counted, a tag rule and a scoring model set from
files and applied by a refresh, errors naming the field — on the files, and through a server
running on the data directory."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from haina.testing import create_workspace, run_cli, start_server

CONTACTS = (
    "email,name,city,industry\n"
    "li@example.com,Li Lei,上海,software\n"
    "han@example.com,Han Mei,上海,retail\n"
    "wang@example.com,Wang Wu,北京,software\n"
)
IN_SHANGHAI = {"conditions": [{"kind": "trait", "key": "city", "op": "eq", "value": "上海"}]}
RULES_YAML = """\
- tag: 在上海
  description: lives in Shanghai
  definition:
    conditions:
      - {kind: trait, key: city, op: eq, value: 上海}
"""
MODEL = {
    "fit": [
        {"name": "Target industry", "key": "industry", "op": "eq", "value": ["software"],
         "points": 15}
    ],
    "engagement": [{"name": "Page views", "event": "$pageview", "points": 1, "cap": 10}],
}  # fmt: skip


def _cli(data: Path, *args: str) -> str:
    return run_cli(data, *args, "-w", "shop").stdout


def _json(data: Path, *args: str) -> dict:
    return json.loads(_cli(data, *args, "--json"))


@pytest.mark.parametrize("with_server", [False, True], ids=["file", "via-server"])
def test_segments_tags_and_scoring(tmp_path: Path, with_server: bool) -> None:
    data = tmp_path / "data"
    create_workspace(data, "shop")
    (tmp_path / "crm.csv").write_text(CONTACTS)
    (tmp_path / "shanghai.yaml").write_text(
        "conditions:\n  - {kind: trait, key: city, value: 上海}\n"
    )
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    (tmp_path / "model.json").write_text(json.dumps(MODEL))
    wang = tmp_path / "wang.csv"
    wang.write_text("type,value\nemail,Wang@Example.com\n")
    server = start_server(data) if with_server else None
    try:
        assert "stored 3" in _cli(data, "import", str(tmp_path / "crm.csv"), "--contacts")

        preview = _json(data, "segments", "preview", "--definition", json.dumps(IN_SHANGHAI))
        assert preview["count"] == 2 and len(preview["sample"]) == 2

        seg = _json(
            data, "segments", "create", "上海客户", "--kind", "static",
            "--definition", str(tmp_path / "shanghai.yaml"), "--description", "Shanghai",
        )  # fmt: skip
        assert (seg["kind"], seg["count"]) == ("static", 2)
        sid = seg["id"]
        assert [s["id"] for s in _json(data, "segments", "list")["segments"]] == [sid]
        shown = _cli(data, "segments", "show", sid)
        assert "上海客户" in shown and "static" in shown

        page = _json(data, "segments", "members", sid, "--limit", "1", "--offset", "1")
        assert page["total"] == 2 and [m["person_id"] for m in page["members"]] == [
            preview["sample"][1]
        ]
        assert "members 1–2 of 2" in _cli(data, "segments", "members", sid)

        exported = tmp_path / "members.csv"
        _cli(data, "segments", "export", sid, "--traits", "city,name", "-o", str(exported))
        rows = list(csv.DictReader(io.StringIO(exported.read_text())))
        assert sorted(r["person_id"] for r in rows) == sorted(preview["sample"])
        assert {r["city"] for r in rows} == {"上海"}
        assert {r["name"] for r in rows} == {"Li Lei", "Han Mei"}
        assert _cli(data, "segments", "export", sid, "--traits", "city,name") == (
            exported.read_text()
        )

        # The segment's two members and, from a CSV of identifiers, Wang.
        tagged = _cli(data, "tags", "add", "vip", "--segment", sid, "--csv", str(wang))
        assert "tagged 3" in tagged
        assert {"tag": "vip", "kind": "manual", "people": 3} in _json(data, "tags", "list")["tags"]

        assert "在上海" in _cli(data, "tags", "rules", "--set", str(tmp_path / "rules.yaml"))
        assert "Target industry" in _cli(
            data, "scoring", "model", "--set", str(tmp_path / "model.json")
        )
        assert "scores, grades or stages changed" in _cli(data, "scoring", "refresh")
        li = _json(data, "profiles", "lookup", "--type", "email", "--value", "li@example.com")
        assert {(t["tag"], t["kind"]) for t in li["tags"]} == {
            ("vip", "manual"),
            ("在上海", "rule"),
        }
        assert li["score"]["value"] == 15
        assert li["score"]["contributions"] == [
            {"rule": "Target industry", "kind": "fit", "points": 15}
        ]

        never = {"kind": "event", "event": "x", "count": {"op": "gte", "value": -1}}
        bad = run_cli(
            data, "segments", "preview", "-w", "shop",
            "--definition", json.dumps({"conditions": [never]}),
            check=False,
        )  # fmt: skip
        assert bad.returncode == 1 and bad.stdout == ""
        assert bad.stderr.startswith("error: definition.conditions.0.event.count.value: ")
        taken = run_cli(
            data, "segments", "create", "上海客户", "-w", "shop", "--definition", "{}",
            check=False,
        )  # fmt: skip
        assert taken.returncode == 1 and taken.stderr.startswith("error: name: ")

        tags_seen = _json(data, "tags", "list")
        assert "deleted" in _cli(data, "segments", "delete", sid)
        gone = run_cli(data, "segments", "show", sid, "-w", "shop", check=False)
        assert gone.returncode == 1
        assert gone.stderr.strip() == f"error: segment_id: no segment {sid!r}"
    finally:
        if server is not None:
            server.stop()
    if with_server:  # on the files, what the server answered
        assert _json(data, "tags", "list") == tags_seen
        assert _json(data, "scoring", "model")["fit"][0]["name"] == "Target industry"
