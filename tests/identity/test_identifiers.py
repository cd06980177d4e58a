"""Identifier normal forms (haina/identity/identifiers.py) and the pipeline stage that reads
them (haina/pipeline/identity.py), fed with whatever users send."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.identity.identifiers import BadIdentifier, identifiers_of, is_junk, normalise
from haina.identity.rules import IdentityRules
from haina.pipeline.identity import identities
from haina.pipeline.normalise import Invalid
from haina.pipeline.normalise import normalise as normalise_message

KINDS = ["email", "phone", "wechat_openid", "wechat_unionid", "wecom_external_userid", "member"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(KINDS), _json)
def test_normalise_takes_anything_and_is_idempotent(kind: str, value: object) -> None:
    try:
        once = normalise(kind, value)
    except BadIdentifier:
        return  # named and refused: the message goes to the quarantine
    assert isinstance(once, str) and once == once.strip() and once
    assert normalise(kind, once) == once  # a stored value reads back as itself


EMAIL = r"[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9-]{1,12}(\.[A-Za-z]{2,6}){1,2}"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(EMAIL, fullmatch=True), st.sampled_from(["", " ", "\t"]))
def test_emails_are_trimmed_and_lower_cased(email: str, pad: str) -> None:
    assert normalise("email", f"{pad}{email.upper()}{pad}") == email.lower()


@pytest.mark.parametrize(
    "given_, stored",
    [("13800138000", "+8613800138000"), ("138 0013 8000", "+8613800138000"),
     ("+86 138-0013-8000", "+8613800138000"), ("008613800138000", "+8613800138000"),
     ("+1 650 253 0000", "+16502530000")],
)  # fmt: skip
def test_phones_become_e164_with_china_by_default(given_: str, stored: str) -> None:
    assert normalise("phone", given_) == stored


@pytest.mark.parametrize("value", ["12345", "not a phone", "+86 123", "1" * 50])
def test_bad_phones_are_refused(value: str) -> None:
    with pytest.raises(BadIdentifier):
        normalise("phone", value)


@pytest.mark.parametrize(
    "value", ["", "null", " NULL ", "undefined", "0", "-1", "00000000-0000-0000-0000-000000000000"]
)
def test_junk(value: str) -> None:
    assert is_junk(value)
    assert not is_junk("u-42") and not is_junk("0a")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["email", "phone", "wechat_openid", "name"]), _json, max_size=4
    ),
    st.dictionaries(st.sampled_from(["traits", "externalIds", "page"]), _json, max_size=3),
)
def test_the_pipeline_stage_never_fails_unnamed(traits: dict, context: dict) -> None:
    raw = {"type": "identify", "userId": "u1", "traits": traits, "context": context,
           "messageId": "m1"}  # fmt: skip
    try:
        message = normalise_message(raw, received_at_us=1_750_000_000_000_000)
        found = identities(message, IdentityRules())
    except Invalid as exc:
        assert exc.field  # a refusal names the field
        if exc.code == "invalid_identifier":
            assert exc.field.startswith(("traits.", "context.traits.", "context.externalIds["))
        return
    if found is not None:
        pairs = json.loads(found)
        assert all(k in IdentityRules().types and isinstance(v, str) and v for k, v in pairs)
        assert len({tuple(p) for p in pairs}) == len(pairs)  # no repeats


def test_where_identifiers_come_from() -> None:
    found = list(
        identifiers_of(
            user_id="u1",
            anonymous_id="a1",
            previous_id="old",
            traits={"email": "x@y.cn"},
            context={"traits": {"phone": "138"}, "externalIds": [
                {"id": "o1", "type": "openid"}, {"id": "m9", "type": "member"},
                {"id": "zz", "type": "unknown_type"}]},
            custom_types=["member"],
        )
    )  # fmt: skip
    assert [(k, f) for k, _, f in found] == [
        ("user_id", "userId"), ("anonymous_id", "anonymousId"), ("anonymous_id", "previousId"),
        ("email", "traits.email"), ("phone", "context.traits.phone"),
        ("wechat_openid", "context.externalIds[0].id"), ("member", "context.externalIds[1].id"),
    ]  # fmt: skip
