"""The built tracker stays within its size budget and matches its sources; the snippet is safe."""

from __future__ import annotations

import gzip
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from haina.web.snippet import STUB_JS, snippet_html

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "haina" / "web" / "static" / "t.js"
SRC = ROOT / "tracker" / "src"
BUDGET_BYTES = 6144  # 6 KB minified + gzip -9
HEADER = re.compile(r"/\* haina\.js (?P<version>\S+) src:(?P<hash>[0-9a-f]{16}) \*/")


def test_bundle_fits_the_size_budget() -> None:
    size = len(gzip.compress(BUNDLE.read_bytes(), compresslevel=9))
    assert size <= BUDGET_BYTES, f"t.js is {size} bytes gzipped; the budget is {BUDGET_BYTES}"


def test_bundle_was_built_from_the_current_sources() -> None:
    first_line = BUNDLE.read_text(encoding="utf-8").splitlines()[0]
    header = HEADER.fullmatch(first_line)
    assert header, f"t.js must start with the build header, found {first_line[:80]!r}"
    digest = hashlib.sha256()
    for path in sorted(SRC.glob("*.js"), key=lambda p: p.name):
        digest.update(path.read_bytes())
    assert header["hash"] == digest.hexdigest()[:16], (
        "haina/web/static/t.js is stale: run `cd tracker && npm ci && npm run build`"
    )


def test_bundle_version_matches_the_source_version() -> None:
    header = HEADER.match(BUNDLE.read_text(encoding="utf-8"))
    assert header
    assert f"VERSION = '{header['version']}'" in (SRC / "version.js").read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Records every tag and every piece of text, the way a browser would tokenise them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.ends: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def test_snippet_carries_key_url_and_options() -> None:
    html = snippet_html("https://haina.example.com/", "wk_123", consent_required=True)
    assert 'src="https://haina.example.com/t.js"' in html
    assert 'data-key="wk_123"' in html
    assert 'data-api="https://haina.example.com"' in html
    assert 'data-consent="required"' in html
    assert "data-storage" not in html
    assert 'data-storage="none"' in snippet_html("https://h.example", "k", cookieless=True)
    assert STUB_JS in html
    assert html.count("<script") == 2 and " async " in html


@given(base_url=st.text(), write_key=st.text(), consent=st.booleans(), cookieless=st.booleans())
def test_hostile_key_or_url_never_leaves_its_attribute(
    base_url: str, write_key: str, consent: bool, cookieless: bool
) -> None:
    html = snippet_html(base_url, write_key, consent_required=consent, cookieless=cookieless)
    parsed = _parse(html)
    # Exactly the stub script and the loader script: nothing opened, closed or injected.
    assert [tag for tag, _ in parsed.tags] == ["script", "script"]
    assert parsed.ends == ["script", "script"]
    assert parsed.tags[0][1] == []
    assert [t for t in parsed.texts if t.strip()] == [STUB_JS]
    base = base_url.rstrip("/")
    expected = [
        ("async", None),
        ("src", f"{base}/t.js"),
        ("data-key", write_key),
        ("data-api", base),
    ]
    if consent:
        expected.append(("data-consent", "required"))
    if cookieless:
        expected.append(("data-storage", "none"))
    assert parsed.tags[1][1] == expected
