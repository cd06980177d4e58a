"""Site-search keyword from a page URL's query string (``/search?q=shoes`` → ``shoes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import unquote_plus

__all__ = ["DEFAULT_SEARCH_PARAMS", "MAX_KEYWORD_LENGTH", "site_search_keyword"]

# Matomo's defaults (q, query, s, search, searchword, k, keyword) plus the names common on
# Chinese sites (wd, word, kw, keywords) and YouTube-style search_query, in priority order.
# "p" is left out on purpose: on most sites it is the page number, not a query.
DEFAULT_SEARCH_PARAMS: Final = (
    "q", "s", "search", "query", "keyword", "keywords", "wd", "word", "kw", "searchword",
    "search_query", "k",
)  # fmt: skip
MAX_KEYWORD_LENGTH: Final = 200
_DEFAULT_WANTED: Final = frozenset(DEFAULT_SEARCH_PARAMS)


def site_search_keyword(
    page_url: str | None, params: Sequence[str] = DEFAULT_SEARCH_PARAMS
) -> str | None:
    """The first non-empty value among `params` in the URL's query, decoded and trimmed.

    Parameters are tried in the order given (not the order in the URL); names match
    case-insensitively. Values are percent-decoded as UTF-8 (``+`` is a space) and cut to
    200 characters. None when no parameter has a value; never raises.
    """
    if not page_url or "?" not in page_url:
        return None
    query = page_url.partition("?")[2].partition("#")[0]
    if not query:
        return None
    found: dict[str, str] = {}
    wanted = _DEFAULT_WANTED if params is DEFAULT_SEARCH_PARAMS else {p.lower() for p in params}
    # Split by hand and decode only the wanted values: parse_qsl decodes every pair.
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key, errors="replace")
        name = key.lower()
        if name in wanted and name not in found:
            decoded = unquote_plus(value, errors="replace").strip()
            if decoded:
                found[name] = decoded
    for name in params:
        keyword = found.get(name.lower())
        if keyword is not None:
            return keyword[:MAX_KEYWORD_LENGTH].rstrip()
    return None
