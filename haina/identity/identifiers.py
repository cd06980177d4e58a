"""Identifiers of a person: their types, normal forms, junk values and where messages carry them.

Pure: `normalise` brings one value to its stored form or raises `BadIdentifier` naming why;
`identifiers_of` lists the identifiers a normalised message carries, in the order their
fields are read. Junk values (`null`, `undefined`, all zeros, ...) are not errors: they are
kept on the event but never link (`is_junk`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import phonenumbers

USER_ID = "user_id"
ANONYMOUS_ID = "anonymous_id"
EMAIL = "email"
PHONE = "phone"
WECHAT_OPENID = "wechat_openid"
WECHAT_UNIONID = "wechat_unionid"
WECOM_EXTERNAL_USERID = "wecom_external_userid"

# The built-in types, in their default priority (highest first): when a link would break a
# limit, the lowest-priority identifier of the message is the one left unlinked.
BUILTIN_TYPES: tuple[str, ...] = (
    USER_ID, EMAIL, PHONE, WECHAT_UNIONID, WECOM_EXTERNAL_USERID, WECHAT_OPENID, ANONYMOUS_ID,
)  # fmt: skip
# Traits read as identifiers (on identify, or in context.traits on any call).
TRAIT_TYPES: tuple[str, ...] = (EMAIL, PHONE, WECHAT_OPENID, WECHAT_UNIONID, WECOM_EXTERNAL_USERID)
# Segment's `context.externalIds[].type` spellings of the built-in types.
EXTERNAL_ID_TYPES: dict[str, str] = {
    "email": EMAIL,
    "phone": PHONE,
    "user_id": USER_ID,
    "userid": USER_ID,
    "anonymous_id": ANONYMOUS_ID,
    "anonymousid": ANONYMOUS_ID,
    "wechat_openid": WECHAT_OPENID,
    "openid": WECHAT_OPENID,
    "wechat_unionid": WECHAT_UNIONID,
    "unionid": WECHAT_UNIONID,
    "wecom_external_userid": WECOM_EXTERNAL_USERID,
    "external_userid": WECOM_EXTERNAL_USERID,
}

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_VALUE_LENGTH = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_OPEN_ID = re.compile(r"^[A-Za-z0-9_-]{6,128}$")
_ZEROS = re.compile(r"^[0\-.:]+$")
# Values that SDKs, forms and bugs send in place of an identifier: kept on the event, never
# linked (compared lower-cased, after trimming). A workspace adds its own (QA accounts, ...).
JUNK_VALUES = frozenset(
    {
        "", "null", "undefined", "none", "nil", "nan", "n/a", "na", "unknown", "anonymous",
        "anon", "guest", "test", "-1", "0", "[object object]", "false", "true", "{}", "[]",
        "user", "default", "no_id", "noid", "(null)", "<null>", "''", '""',
    }
)  # fmt: skip


class BadIdentifier(ValueError):
    """A value that is not an identifier of its type (the message goes to the quarantine)."""


def is_junk(value: str, extra: frozenset[str] = frozenset()) -> bool:
    """A placeholder, not an identifier: it never links two identities."""
    v = value.strip().lower()
    return v in JUNK_VALUES or v in extra or bool(_ZEROS.match(v))


def normalise(kind: str, value: Any, phone_region: str = "CN") -> str:
    """The stored form of an identifier value of type `kind`.

    Emails are trimmed and lower-cased; phones become E.164 (numbers without a country code
    are read as `phone_region`'s); WeChat and WeCom ids keep their case. Raises BadIdentifier.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadIdentifier(f"{kind} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise BadIdentifier(f"{kind} is empty")
    if len(text) > MAX_VALUE_LENGTH:
        raise BadIdentifier(f"{kind} is longer than {MAX_VALUE_LENGTH} characters")
    if kind == EMAIL:
        return _email(text)
    if kind == PHONE:
        return _phone(text, phone_region)
    if kind in (WECHAT_OPENID, WECHAT_UNIONID, WECOM_EXTERNAL_USERID) and not _OPEN_ID.match(text):
        raise BadIdentifier(f"{kind} must be 6-128 letters, digits, '_' or '-'")
    if any(ord(c) < 32 for c in text):
        raise BadIdentifier(f"{kind} contains control characters")
    return text


def _email(text: str) -> str:
    email = text.lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise BadIdentifier(f"not an e-mail address: {text[:80]!r}")
    return email


@lru_cache(maxsize=65_536)
def _phone(text: str, region: str) -> str:
    if len(text) > 40:
        raise BadIdentifier("phone is longer than 40 characters")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise BadIdentifier(f"not a phone number: {text!r} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise BadIdentifier(f"not a valid phone number: {text!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


Found = tuple[str, str, str]  # (type, value as given, the field it came from)


def identifiers_of(
    *,
    user_id: str | None,
    anonymous_id: str | None,
    previous_id: str | None,
    traits: dict[str, Any],
    context: dict[str, Any],
    custom_types: Iterable[str] = (),
) -> Iterator[Found]:
    """The identifiers a message carries, raw, with the field each came from: userId,
    anonymousId, an alias's previousId (read as an anonymous id: aliasing two user ids would
    merge them), traits and context.traits named after a type, and context.externalIds."""
    if user_id is not None:
        yield USER_ID, user_id, "userId"
    if anonymous_id is not None:
        yield ANONYMOUS_ID, anonymous_id, "anonymousId"
    if previous_id is not None:
        yield ANONYMOUS_ID, previous_id, "previousId"
    custom = tuple(custom_types)
    names = TRAIT_TYPES + custom
    for prefix, bag in (("traits", traits), ("context.traits", context.get("traits"))):
        if not isinstance(bag, dict):
            continue
        for name in names:
            value = bag.get(name)
            if value is not None and value != "":
                yield name, value, f"{prefix}.{name}"
    external = context.get("externalIds")
    if isinstance(external, list):
        for i, entry in enumerate(external[:50]):
            if not isinstance(entry, dict):
                continue
            raw_type = entry.get("type")
            if not isinstance(raw_type, str):
                continue
            kind = EXTERNAL_ID_TYPES.get(raw_type.strip().lower())
            if kind is None and raw_type in custom:
                kind = raw_type
            if kind is not None and entry.get("id") is not None:
                yield kind, entry["id"], f"context.externalIds[{i}].id"
