"""`haina profiles ...` end to end: lookup by any identifier, the timeline, splitting a merge
and a bad value named — on the event file, and through a server running on the data dir."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from haina.testing import create_workspace, run_cli, start_server

MESSAGES = [
    {
        "type": "identify",
        "userId": "u-42",
        "anonymousId": "web-1",
        "timestamp": "2026-11-01T08:00:01Z",
        "messageId": "i1",
        "traits": {"email": "Li.Lei@Example.COM", "plan": "free"},
    },
    {
        "type": "track",
        "event": "Store Visit",
        "anonymousId": "pos-7",
        "timestamp": "2026-11-01T08:00:02Z",
        "messageId": "s1",
        "context": {"traits": {"phone": "138 0013 8000"}},
        "properties": {"store": "[bold]徐汇店"},  # not Rich markup when printed
    },
    {
        "type": "identify",
        "userId": "u-42",
        "timestamp": "2026-11-01T08:00:03Z",
        "messageId": "i2",
        "traits": {"phone": "+86 13800138000", "plan": "pro"},
    },
]


def _send(data: Path, tmp_path: Path, ws: dict[str, str], base_url: str | None) -> None:
    if base_url is not None:  # the collection API of the running server
        auth = base64.b64encode(f"{ws['write_key']}:".encode()).decode()
        r = httpx.post(
            base_url + "/v1/batch",
            json={"batch": MESSAGES},
            headers={"Authorization": f"Basic {auth}"},
        )
        assert r.status_code == 200, r.text
        return
    path = tmp_path / "messages.ndjson"
    path.write_text("\n".join(json.dumps(m, ensure_ascii=False) for m in MESSAGES))
    assert "stored 3" in run_cli(data, "import", str(path), "-w", "shop").stdout


def _profiles(data: Path, *args: str) -> str:
    return run_cli(data, "profiles", *args, "-w", "shop").stdout


def _lookup(data: Path, kind: str, value: str) -> dict:
    return json.loads(_profiles(data, "lookup", "--type", kind, "--value", value, "--json"))


@pytest.mark.parametrize("with_server", [False, True], ids=["file", "via-server"])
def test_lookup_timeline_and_split(tmp_path: Path, with_server: bool) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "shop")
    server = start_server(data) if with_server else None
    try:
        _send(data, tmp_path, ws, server.base_url if server else None)

        # By e-mail and by phone (normalised as at collection): one person, one merge (i2
        # joined the phone's profile to u-42's).
        by_email = _lookup(data, "email", "li.lei@example.com")
        by_phone = _lookup(data, "phone", "138 0013 8000")
        assert by_email == by_phone
        ids = {(i["type"], i["value"]) for i in by_email["identities"]}
        assert ("email", "li.lei@example.com") in ids and ("phone", "+8613800138000") in ids
        (merge,) = by_email["merges"]
        assert merge["message_id"] == "i2"
        person = by_email["person_id"]

        human = _profiles(data, "lookup", "--type", "email", "--value", "li.lei@example.com")
        assert "li.lei@example.com" in human and "known_lead" in human
        assert merge["merge_id"] in human and merge["merged"]["person_id"] in human

        table = _profiles(data, "timeline", person, "--limit", "2")
        assert table.index("i2") < table.index("s1") and "i1" not in table  # newest first
        assert "next: 2026-11-01T08:00:02|s1" in table

        bad = run_cli(
            data, "profiles", "lookup", "-w", "shop", "--type", "email", "--value", "nope",
            check=False,
        )  # fmt: skip
        assert bad.returncode == 1 and bad.stdout == ""
        assert bad.stderr.startswith("error: value: not an e-mail address")
        assert "Traceback" not in bad.stderr

        split = _profiles(data, "split", merge["merge_id"], "--reason", "shared phone").split()
        assert split == ["split", merge["merge_id"], person, merge["merged"]["person_id"]]
        apart = _lookup(data, "phone", "+8613800138000")
        assert apart["person_id"] == merge["merged"]["person_id"] != person
        assert apart["merges"] == [] and apart["traits"] == {"phone": "138 0013 8000"}
    finally:
        if server is not None:
            server.stop()
    if with_server:  # on the file, the same answer as through the server
        assert _lookup(data, "phone", "+8613800138000") == apart
