"""The paste-in HTML that installs Haina's browser tracker on a site (see docs/tracker.md)."""

from __future__ import annotations

from html import escape

# Defines window.haina before t.js arrives. Every call, haina('track', ...) or haina.track(...),
# is queued as [time, method, ...args]; t.js replays the queue in order with those times.
# It holds no caller data, so nothing inside <script> ever needs escaping.
STUB_JS = (
    "!function(w){if(w.haina)return;var h=w.haina=function(){"
    "h.q.push([Date.now()].concat([].slice.call(arguments)))};h.q=[];"
    '"track identify page reset consent optOut".split(" ").forEach(function(m){'
    "h[m]=function(){h.apply(0,[m].concat([].slice.call(arguments)))}})}(window);"
)


def snippet_html(
    base_url: str,
    write_key: str,
    *,
    consent_required: bool = False,
    cookieless: bool = False,
) -> str:
    """Return the snippet for a site that sends to the Haina server at ``base_url``.

    The caller's values only ever appear as quoted, HTML-escaped attribute values of the
    loader tag, so a hostile key or URL cannot close the tag or start a script.
    """
    base = base_url.rstrip("/")
    attrs = {"src": f"{base}/t.js", "data-key": write_key, "data-api": base}
    if consent_required:
        attrs["data-consent"] = "required"
    if cookieless:
        attrs["data-storage"] = "none"
    rendered = "".join(f' {name}="{escape(value, quote=True)}"' for name, value in attrs.items())
    return f"<script>{STUB_JS}</script>\n<script async{rendered}></script>\n"
