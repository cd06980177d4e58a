"""Segment-format messages as the demo's web tracker and back-office server would send them.

Built for speed: ids come from a per-run prefix and a counter, timestamps from cached
date prefixes, and every message is a fresh dict tree (safe for the caller to mutate).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from haina.demo.catalog import Page

Message = dict[str, Any]

WEB_LIBRARY_NAME = "haina.js"
WEB_LIBRARY_VERSION = "0.1.0"
SERVER_LIBRARY_NAME = "haina-demo-server"

_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_VARIANT = "89ab"


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng` (so it is reproducible)."""
    h = f"{rng.getrandbits(122):031x}"
    return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{_VARIANT[int(h[15], 16) & 3]}{h[16:19]}-{h[19:]}"


class Device:
    """One browser of one person; `user_id` is set once the person logs in on it."""

    __slots__ = (
        "anonymous_id",
        "user_agent",
        "ip",
        "locale",
        "timezone",
        "screen",
        "user_id",
        "library_context",
        "screen_context",
    )

    def __init__(
        self,
        anonymous_id: str,
        user_agent: str,
        ip: str,
        locale: str,
        timezone: str,
        screen: tuple[int, int, float],
    ) -> None:
        self.anonymous_id = anonymous_id
        self.user_agent = user_agent
        self.ip = ip
        self.locale = locale
        self.timezone = timezone
        self.screen = screen
        self.user_id: str | None = None
        # Shared by all messages from this browser (they never differ).
        self.library_context = {"name": WEB_LIBRARY_NAME, "version": WEB_LIBRARY_VERSION}
        width, height, density = screen
        self.screen_context = {"width": width, "height": height, "density": density}


def web_context(
    device: Device, page: Page, referrer: str, campaign: dict[str, str] | None
) -> dict[str, Any]:
    """The tracker's `context` for the messages of one page view (each gets a shallow copy)."""
    context: dict[str, Any] = {
        "library": device.library_context,
        "page": {
            "path": page.path,
            "referrer": referrer,
            "search": page.search,
            "title": page.title,
            "url": page.url,
        },
        "userAgent": device.user_agent,
        "ip": device.ip,
        "locale": device.locale,
        "timezone": device.timezone,
        "screen": device.screen_context,
    }
    if campaign is not None:
        context["campaign"] = campaign
    return context


# Ids per visitor: far more than any visitor sends (a few hundred at most).
VISITOR_ID_RANGE = 100_000


class Wire:
    """Formats messages for one run; ids are unique within the run and derived from `run_key`.

    Each message and its `context` are fresh dicts, but the messages of one page view share the
    objects inside `context` (`page`, `campaign`, and per browser `library` and `screen`);
    copy those before changing them in place.
    """

    def __init__(self, run_key: str) -> None:
        base = uuid.uuid5(uuid.NAMESPACE_URL, f"https://haina.dev/demo/{run_key}")
        # 24 characters of a UUIDv5 (version and variant bits included) + a 12-digit counter.
        self._message_prefix = str(base)[:24]
        self._pageview_prefix = str(uuid.uuid5(base, "pageview"))[:24]
        self._messages = 0
        self._pageviews = 0
        self._minute = -1
        self._minute_prefix = ""
        self._day_prefixes: dict[int, str] = {}

    @property
    def count(self) -> int:
        return self._messages

    def begin_visitor(self, index: int) -> None:
        """Give visitor `index` its own id range, so ids do not depend on other visitors."""
        self._messages = self._pageviews = index * VISITOR_ID_RANGE

    def timestamp(self, ms: int) -> str:
        """Epoch milliseconds → `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
        minute, rest = divmod(ms, 60_000)
        if minute != self._minute:  # consecutive messages of a visitor often share the minute
            self._enter_minute(minute)
        second, millis = divmod(rest, 1000)
        return self._minute_prefix + _SECONDS[second] + _MILLIS[millis]

    def _enter_minute(self, minute: int) -> None:
        day, minute_of_day = divmod(minute, 1440)
        prefix = self._day_prefixes.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
            self._day_prefixes[day] = prefix
        self._minute = minute
        self._minute_prefix = prefix + _HOURS_MINUTES[minute_of_day]

    def message_id(self) -> str:
        self._messages += 1
        return self._message_prefix + str(self._messages).zfill(12)  # digits are hex digits too

    def pageview_id(self) -> str:
        self._pageviews += 1
        return self._pageview_prefix + str(self._pageviews).zfill(12)

    def web(self, kind: str, t: int, device: Device, context: dict[str, Any]) -> Message:
        """The common part of a browser message: ids, time and the page view's `context`."""
        self._messages += 1
        minute, rest = divmod(t, 60_000)  # self.timestamp(t), inlined: this is the hot path
        if minute != self._minute:
            self._enter_minute(minute)
        second, millis = divmod(rest, 1000)
        message: Message = {
            "type": kind,
            "messageId": self._message_prefix + str(self._messages).zfill(12),
            "anonymousId": device.anonymous_id,
            "timestamp": self._minute_prefix + _SECONDS[second] + _MILLIS[millis],
            "context": context.copy(),
        }
        if device.user_id is not None:
            message["userId"] = device.user_id
        return message

    def page(self, t: int, device: Device, context: dict[str, Any], pageview_id: str) -> Message:
        message = self.web("page", t, device, context)
        page = context["page"]
        message["name"] = page["title"]
        message["properties"] = {**page, "pageview_id": pageview_id}
        return message

    def track(
        self,
        t: int,
        device: Device,
        context: dict[str, Any],
        event: str,
        properties: dict[str, Any],
    ) -> Message:
        message = self.web("track", t, device, context)
        message["event"] = event
        message["properties"] = properties
        return message

    def identify(
        self, t: int, device: Device, context: dict[str, Any], traits: dict[str, Any]
    ) -> Message:
        message = self.web("identify", t, device, context)
        message["traits"] = traits
        return message

    def alias(self, t: int, device: Device, context: dict[str, Any], user_id: str) -> Message:
        message = self.web("alias", t, device, context)
        message["previousId"] = device.anonymous_id
        message["userId"] = user_id
        return message

    def group(
        self,
        t: int,
        device: Device,
        context: dict[str, Any],
        group_id: str,
        traits: dict[str, Any],
    ) -> Message:
        message = self.web("group", t, device, context)
        message["groupId"] = group_id
        message["traits"] = traits
        return message

    def server_track(
        self,
        t: int,
        event: str,
        properties: dict[str, Any],
        *,
        user_id: str | None,
        anonymous_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Message:
        """A track call from the back office (POS, CRM, WeChat callback): no page, no browser."""
        full_context: dict[str, Any] = {"library": {"name": SERVER_LIBRARY_NAME}}
        if context:
            full_context.update(context)
        message: Message = {
            "type": "track",
            "messageId": self.message_id(),
            "timestamp": self.timestamp(t),
            "event": event,
            "properties": properties,
            "context": full_context,
        }
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        return message
