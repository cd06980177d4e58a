"""Pipeline stage: the identifiers a message carries besides userId and anonymousId.

`identities(message, rules)` returns them normalised, as JSON text of `[[type, value], ...]`
for the event's `identities` column (None when there are none), or raises `Invalid` naming
the field of a value that is not an identifier of its type (the message goes to the
quarantine). Junk values (`null`, `undefined`, ...) are left on the event and never link.
"""

from __future__ import annotations

import msgspec

from haina.identity.identifiers import (
    ANONYMOUS_ID,
    USER_ID,
    BadIdentifier,
    identifiers_of,
    is_junk,
    normalise,
)
from haina.identity.rules import IdentityRules
from haina.pipeline.normalise import Invalid, Message

_encode = msgspec.json.Encoder().encode


def identities(m: Message, rules: IdentityRules) -> str | None:
    found: list[tuple[str, str]] = []
    for kind, raw, where in identifiers_of(
        user_id=None,  # columns of their own
        anonymous_id=None,
        previous_id=m.previous_id,
        traits=m.traits,
        context=m.context,
        custom_types=rules.custom_types,
    ):
        if isinstance(raw, str) and is_junk(raw, rules.blocked_values):
            continue
        if kind in (USER_ID, ANONYMOUS_ID) and isinstance(raw, str):
            value = raw  # stored as given, like the userId / anonymousId columns
        else:
            try:
                value = normalise(kind, raw, rules.phone_region)
            except BadIdentifier as exc:
                raise Invalid(where, "invalid_identifier", str(exc)) from None
        if is_junk(value, rules.blocked_values):
            continue
        pair = (kind, value)
        if pair not in found and pair not in ((USER_ID, m.user_id), (ANONYMOUS_ID, m.anonymous_id)):
            found.append(pair)
    return _encode(found).decode() if found else None
