"""Turning rows of a file into Segment track messages through a column mapping.

A mapping names, for each message field, the column it comes from:

    event: visit_type              # or event_name: "Store Visited" for a fixed name
    timestamp: visited_at          # ISO-8601, or "YYYY-MM-DD HH:MM[:SS]" (UTC unless offset)
    userId: member_no
    anonymousId: device_id
    traits.email: email            # identifiers travel as context.traits
    traits.phone: mobile
    messageId: row_id              # optional: makes re-imports idempotent
    properties.store: store_name   # explicit property names
Columns named like a Segment field (event, type, userId, anonymousId, timestamp, messageId,
properties, traits, context, name, groupId, previousId) are that field unless the mapping says
otherwise, so an NDJSON file of Segment messages imports with no mapping at all. Other columns
not named in the mapping become properties under their own names (unless `unmapped: drop`).
Each row gets a stable messageId (from `messageId`, else a hash of the file
name, line number and row) so importing the same file twice stores it once.

With `contacts: true` each row is a person instead (see `row_to_contact`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    reason: str
    row: dict[str, Any]


@dataclass(slots=True)
class Mapping:
    fields: dict[str, str] = field(default_factory=dict)
    event_name: str | None = None
    unmapped: str = "properties"  # or "drop"
    # "contacts": each row is a person (an identify call): identifiers and traits, no event
    contacts: bool = False

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Mapping:
        doc = dict(doc)
        event_name = doc.pop("event_name", None)
        contacts = bool(doc.pop("contacts", False))
        unmapped = str(doc.pop("unmapped", "properties"))
        if unmapped not in ("properties", "drop"):
            raise ValueError("unmapped must be `properties` or `drop`")
        for target in doc:
            if target not in _TOP and not target.startswith(("properties.", "traits.", "context.")):
                raise ValueError(f"cannot map to {target!r}")
        return cls({str(k): str(v) for k, v in doc.items()}, event_name, unmapped, contacts)


_TOP = {"event", "timestamp", "userId", "anonymousId", "messageId"}
# Columns that, unmapped, are taken as the Segment field of the same name.
_SAME_NAME = _TOP | {"type", "properties", "traits", "context", "name", "groupId", "previousId"}


def read_rows(data: bytes, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, row, error) for each data line of a CSV (with header) or NDJSON file."""
    text = data.decode("utf-8-sig")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            if None in row:
                yield reader.line_num, None, "the row has more cells than the header"
            else:
                yield reader.line_num, dict(row), None
        return
    if fmt != "ndjson":
        raise ValueError("format must be csv or ndjson")
    # Only \n ends a line: str.splitlines() would also split inside strings at \x85, \u2028 ...
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, None, f"not valid JSON: {exc.msg}"
            continue
        if isinstance(value, dict):
            yield n, value, None
        else:
            yield n, None, "each line must be a JSON object"


def _set(msg: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = msg
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def row_to_contact(
    line: int, row: dict[str, Any], mapping: Mapping, file_id: str
) -> dict[str, Any]:
    """One row of a contact list (a CRM's, a partner's) → an identify call: `traits.X` and
    unmapped columns are traits, `userId` / `anonymousId` identify the person. A row with
    neither gets an anonymous id derived from its identifier traits (e-mail, phone, ...), so
    the identity graph merges it into whoever has them; raises ValueError naming the field."""
    msg: dict[str, Any] = {"type": "identify", "traits": {}}
    used = set()
    for target, column in mapping.fields.items():
        used.add(column)
        value = row.get(column)
        if not _present(value):
            continue
        value = value.strip() if isinstance(value, str) else value
        if target in ("event",) or target.startswith("properties."):
            raise ValueError(target)  # a contact has no event
        _set(msg, target, value)
    for column, value in row.items():
        if column in used or not _present(value):
            continue
        value = value.strip() if isinstance(value, str) else value
        if column in ("userId", "anonymousId", "timestamp", "messageId"):
            msg[column] = value
        elif mapping.unmapped == "properties":
            msg["traits"][column] = value
    if "userId" not in msg and "anonymousId" not in msg:
        keys = {k: v for k, v in msg["traits"].items() if k in CONTACT_IDENTIFIERS}
        if not keys:
            raise ValueError("traits.email")  # nothing to know the person by
        digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode())
        msg["anonymousId"] = "contact-" + digest.hexdigest()[:24]
    return _finish(msg, line, row, file_id)


# Traits that identify a contact when a row has no userId (haina/identity/identifiers.py).
CONTACT_IDENTIFIERS = ("email", "phone", "wechat_openid", "wechat_unionid", "wecom_external_userid")


def row_to_message(
    line: int, row: dict[str, Any], mapping: Mapping, file_id: str
) -> dict[str, Any]:
    """One row → one message (track unless a `type` column says otherwise); raises ValueError
    naming the field when it cannot."""
    if mapping.contacts:
        return row_to_contact(line, row, mapping, file_id)
    msg: dict[str, Any] = {"type": "track", "properties": {}}
    used = set()
    for target, column in mapping.fields.items():
        used.add(column)
        value = row.get(column)
        if not _present(value):
            continue
        value = value.strip() if isinstance(value, str) else value
        if target.startswith("traits."):
            _set(msg, "context." + target, value)
        else:
            _set(msg, target, value)
    targets = set(mapping.fields)
    for column, value in row.items():
        if column in used or not _present(value):
            continue
        if column in _SAME_NAME and column not in targets:
            # A column named like a Segment field is that field (NDJSON of Segment messages
            # imports as it is); objects merge under what the mapping set.
            if isinstance(value, dict):
                msg[column] = {**value, **msg.get(column, {})}
            else:
                msg[column] = value.strip() if isinstance(value, str) else value
        elif mapping.unmapped == "properties":
            msg["properties"][column] = value
    if msg["type"] != "track" and mapping.event_name is None and "event" not in msg:
        return _finish(msg, line, row, file_id)  # identify, page, ... need no event name
    if mapping.event_name and "event" not in msg:
        msg["event"] = mapping.event_name
    if "event" not in msg:
        raise ValueError("event")
    return _finish(msg, line, row, file_id)


def _finish(msg: dict[str, Any], line: int, row: dict[str, Any], file_id: str) -> dict[str, Any]:
    ts = msg.get("timestamp")
    if isinstance(ts, str) and len(ts) >= 16 and ts[10] == " ":
        msg["timestamp"] = ts[:10] + "T" + ts[11:]
    if "messageId" not in msg:
        digest = hashlib.sha256(f"{file_id}|{line}|{json.dumps(row, sort_keys=True)}".encode())
        msg["messageId"] = "imp-" + digest.hexdigest()[:32]
    context = msg.get("context")
    msg["context"] = {
        **(context if isinstance(context, dict) else {}),
        "library": {"name": "haina-import"},
    }
    return msg


def rows_to_messages(
    data: bytes, fmt: str, mapping: Mapping, file_id: str
) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """Map every row; rows that cannot be mapped are returned as errors with their line."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[RowError] = []
    for line, row, error in read_rows(data, fmt):
        if row is None:
            bad.append(RowError(line, "row", error or "unreadable row", {}))
            continue
        try:
            good.append((line, row_to_message(line, row, mapping, file_id)))
        except ValueError as exc:
            what = "an identifier (email, phone, userId ...)" if mapping.contacts else str(exc)
            bad.append(RowError(line, str(exc), f"no value for {what}", row))
    return good, bad
