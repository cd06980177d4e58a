"""The message catalogue: both languages say the same things, and every key used exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from haina.web.i18n import LANGS, MESSAGES, negotiate, translator
from haina.web.render import code_spans

WEB = Path(__file__).parents[2] / "haina" / "web"
# t("key") in templates and Python; title keys passed to register_page("slug", "key", ...).
USED = re.compile(r"""\bt\(\s*["']([\w]+\.[\w.]+)["']|register_page\(\s*"\w+",\s*"([\w.]+)\"""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_exactly_the_same_keys() -> None:
    assert set(MESSAGES) == set(LANGS)
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])


def test_both_languages_have_the_same_placeholders() -> None:
    for key, text in MESSAGES["en"].items():
        assert _fields(text) == _fields(MESSAGES["zh"][key]), key


def test_every_key_the_dashboard_uses_is_in_the_catalogue() -> None:
    used = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        for match in USED.finditer(path.read_text(encoding="utf-8")):
            used.add(match[1] or match[2])
    assert len(used) > 30
    # t("funnels.order." ~ o) builds keys from a prefix: some key must start with it.
    prefixes = {key for key in used if key.endswith((".", "_"))}
    assert {p for p in prefixes if not any(k.startswith(p) for k in MESSAGES["en"])} == set()
    assert used - prefixes - set(MESSAGES["en"]) == set()


def test_a_missing_key_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError):
        translator("zh")("no.such.key")
    assert translator("zh")("setup.received", n=3, newest="2024-01-01 00:00:00").startswith(
        "已接收 3 个事件"
    )
    assert translator("fr")("login.title") == "Log in"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,zh;q=0.5", "zh"),
        ("de, en;q=0.1, zh;q=0.2", "zh"),
        ("zh;q=bad, en", "en"),
        ("*", "en"),
    ],
)
def test_the_first_visit_guesses_the_language_from_accept_language(header: str, lang: str) -> None:
    assert negotiate(header) == lang


def test_backticked_commands_show_as_code_and_the_rest_is_escaped() -> None:
    assert code_spans("run `haina x <y>` & wait") == (
        "run <code>haina x &lt;y&gt;</code> &amp; wait"
    )
