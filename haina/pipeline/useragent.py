"""User-agent enrichment: browser, OS, device type and bot flag from a User-Agent header.

Parsing uses ua-parser with its Rust resolver (ua-parser-rs). Haina's own rules (Chinese in-app
browsers, HarmonyOS, extra bot markers, device types) are ua-parser matchers too, so the same
fast resolver runs them; Python's `re` is far slower on long alternations. Results are cached
per UA string. Bots are flagged, never dropped. See docs/enrichment.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import ua_parser
from ua_parser import Domain
from ua_parser.core import Matcher
from ua_parser.matchers import DeviceMatcher, OSMatcher, UserAgentMatcher

__all__ = ["BOT_MARKERS", "FAST_RESOLVER", "UNKNOWN_DEVICE", "Device", "parse_user_agent"]

DEVICE_TYPES: Final = ("desktop", "mobile", "tablet", "tv", "console", "wearable", "bot", "unknown")
MAX_UA_LENGTH: Final = 1024  # longer strings are truncated: no real browser sends more


@dataclass(frozen=True, slots=True)
class Device:
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str  # one of DEVICE_TYPES
    is_bot: bool


UNKNOWN_DEVICE: Final = Device(None, None, None, None, "unknown", False)

# Case-insensitive markers of crawlers, headless browsers, monitors and HTTP libraries, on top
# of ua-parser's own "Spider" device rules. HeadlessChrome is a bot: no person browses headless;
# it is Puppeteer/Playwright, scrapers, prerender services and Lighthouse. okhttp, Dalvik and
# CFNetwork are NOT bots: they are the HTTP stacks of real Android and iOS apps. The first
# marker is "bot" at the end of a word except in the phone brand CUBOT (no look-behind in Rust).
BOT_MARKERS: Final = (
    r"(?:^|[^u]|(?:^|[^c])u)bot\b", r"spider", r"crawl", r"slurp", r"\+https?://",
    r"googlebot", r"adsbot-google", r"mediapartners-google", r"google-inspectiontool",
    r"googleother", r"feedfetcher-google", r"google-read-aloud", r"apis-google",
    r"baiduspider", r"bingbot", r"bingpreview", r"yandex(?:bot|images|metrika)",
    r"sogou (?:web|inst|pic) spider", r"360spider", r"haosouspider", r"bytespider",
    r"petalbot", r"yisouspider", r"ahrefsbot", r"semrushbot", r"mj12bot", r"dotbot",
    r"gptbot", r"chatgpt-user", r"oai-searchbot", r"claudebot", r"claude-(?:web|user)",
    r"anthropic-ai", r"perplexitybot", r"perplexity-user", r"ccbot", r"amazonbot", r"applebot",
    r"facebookexternalhit", r"facebookcatalog", r"meta-external", r"twitterbot", r"linkedinbot",
    r"slackbot", r"discordbot", r"telegrambot", r"whatsapp/", r"yeti/", r"ia_archiver",
    r"curl/", r"wget/", r"python-requests", r"python-urllib", r"python-httpx", r"aiohttp",
    r"go-http-client", r"java/\d", r"apache-httpclient", r"libwww-perl", r"axios/",
    r"node-fetch", r"undici", r"scrapy", r"httpclient", r"postmanruntime", r"insomnia",
    r"headlesschrome", r"phantomjs", r"slimerjs", r"jsdom/", r"puppeteer", r"playwright",
    r"selenium", r"cypress/", r"lighthouse", r"pagespeed", r"gtmetrix", r"prerender",
    r"rendertron", r"uptimerobot", r"pingdom", r"statuscake", r"site24x7", r"newrelicpinger",
    r"datadog", r"checkly", r"uptime-kuma", r"betteruptime", r"catchpoint", r"kube-probe",
    r"elb-healthchecker", r"googlehc", r"health-?check", r"nagios", r"zabbix", r"blackbox",
)  # fmt: skip

_V = r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"  # major, minor, patch, patch_minor
# Chinese (and a few other) in-app browsers, most specific first: WeCom UAs also carry
# MicroMessenger, WeChat's Android webview carries MQQBrowser. ua-parser convention: group 1
# is the product token, groups 2-5 the version.
IN_APP_BROWSERS: Final = (
    ("WeCom", rf"(wxwork)/{_V}"),
    ("WeChat", rf"(MicroMessenger)/{_V}"),
    ("Alipay", rf"(AlipayClient)/{_V}"),
    ("DingTalk", rf"(DingTalk)/{_V}"),
    ("Taobao", rf"AliApp\((TB)/{_V}"),
    ("QQ", rf"(?:^|[^A-Za-z])(QQ)/{_V}"),
    ("Weibo", rf"(Weibo)\b.*?__weibo__{_V}"),
    ("Weibo", rf"(__weibo__){_V}"),
    ("Douyin", r"(aweme)(?:_lite)?_(\d+)\.(\d+)(?:\.(\d+))?"),
    ("Douyin", rf"(aweme).*?app_version/{_V}"),
    ("Douyin", r"\b(aweme)"),
    ("Xiaohongshu", rf"(?i)(xiaohongshu)/{_V}"),
    ("Xiaohongshu", r"(?i)(xhsdiscover)"),
    ("Xiaohongshu", rf"\b(discover)/{_V} \(iP(?:hone|ad)"),
    ("Toutiao", rf"(NewsArticle)/{_V}"),
    ("Kuaishou", rf"\b(Kwai|ksNebula)/{_V}"),
    ("Bilibili", rf"\b(Bili(?:App|Droid))/{_V}"),
    ("Bilibili", r"(bili-(?:universal|blue|hd))"),
    ("Zhihu", rf"(osee2unifiedRelease)/{_V}"),
    ("Zhihu", r"(ZhihuHybrid)"),
    ("Douban", rf"(com\.douban\.frodo)/{_V}"),
    ("JD", rf"\b(jdapp);(?:android|iPhone);{_V}"),
    ("Baidu App", rf"(baiduboxapp)/{_V}"),
    ("Quark", rf"\b(Quark)/{_V}"),
    ("UC Browser", rf"(UCBrowser)/{_V}"),
)
_IN_APP_FAMILIES: Final = frozenset(family for family, _ in IN_APP_BROWSERS)

# Device type as (kind, pattern, case-insensitive?); first match wins. Consoles and TVs send
# desktop or "Mobile" tokens, watches send "Mobile"; Android is a phone only with "Mobi"
# (Google's convention), decided after the match.
DEVICE_TYPE_RULES: Final = (
    ("console", r"(PlayStation|Xbox|Nintendo)", True),
    (
        "tv",
        r"(Smart-?TV|\bTizen.*\bTV\b|Web0S|webOS.TV|HbbTV|AppleTV|Android ?TV|GoogleTV|BRAVIA|"
        r"CrKey|Roku|NetCast|Opera TV|\bMiTV|MiBOX|\bTV Safari|(?-i:\bAFT[A-Z]{1,5}\b))",
        True,
    ),
    ("wearable", r"(watchOS|Wear ?OS|\bSM-R\d{3}|\bWatch\b)", True),
    (
        "tablet",
        r"(iPad|Tablet(?:[^ ]| [^P]|$)|Kindle|\bSilk/|PlayBook|\bKF[A-Z]{2,6}\b|MatePad)",
        False,
    ),
    ("android", r"(Android)", False),
    (
        "mobile",
        r"(Mobi|iPhone|iPod|Windows Phone|BlackBerry|BB10|Opera Mini|OpenHarmony|HarmonyOS|"
        r"Symbian|KAIOS)",
        True,
    ),
    ("desktop", r"(Windows NT|Macintosh|Mac OS X|X11|CrOS|Linux x86_64)", False),
)
_MOBILE_OSES: Final = frozenset({"iOS", "Android", "HarmonyOS"})
_DESKTOP_OSES: Final = frozenset(
    {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Debian", "Chrome OS", "FreeBSD"}
)


def _resolver(matchers: ua_parser.Matchers) -> tuple[ua_parser.Parser, bool]:
    # The regex resolver is ua-parser-rs. Built directly: the default global parser would add
    # its own small cache under ours.
    if ua_parser.RegexResolver is not None:
        return ua_parser.Parser(ua_parser.RegexResolver(matchers)), True
    return ua_parser.Parser.from_matchers(matchers), False


def _build_parsers() -> tuple[ua_parser.Parser, ua_parser.Parser, bool]:
    # Lazy matchers compile nothing in Python, which the Rust resolver does not need.
    lazy = ua_parser.RegexResolver is not None
    user_agents, oses, devices = (
        ua_parser.load_lazy_builtins() if lazy else ua_parser.load_builtins()
    )
    haina_uas = [UserAgentMatcher(regex, family) for family, regex in IN_APP_BROWSERS]
    haina_oses = [
        OSMatcher(rf"(OpenHarmony) {_V}", "HarmonyOS"),
        OSMatcher(r"(HarmonyOS)", "HarmonyOS"),  # Android-compatible HarmonyOS 2-4
    ]
    bots = DeviceMatcher("(" + "|".join(BOT_MARKERS) + ")", "i", "Spider", "Spider", "Bot")
    parser, fast = _resolver(([*haina_uas, *user_agents], [*haina_oses, *oses], [bots, *devices]))
    types: list[Matcher[ua_parser.Device]] = [
        DeviceMatcher(regex, "i" if flag else None, kind) for kind, regex, flag in DEVICE_TYPE_RULES
    ]
    return parser, _resolver(([], [], types))[0], fast


_PARSER, _DEVICE_TYPE_PARSER, FAST_RESOLVER = _build_parsers()


def parse_user_agent(ua: str | None) -> Device:
    """Browser, OS, device type and bot flag for a User-Agent string; never raises.

    Empty or missing UAs give `UNKNOWN_DEVICE`. Results are cached (LRU, 20,000 strings).
    """
    if not ua:
        return UNKNOWN_DEVICE
    return _parse_cached(ua[:MAX_UA_LENGTH])


@lru_cache(maxsize=20_000)
def _parse_cached(ua: str) -> Device:
    if not ua.strip():
        return UNKNOWN_DEVICE
    if not ua.isascii():  # lone surrogates cannot cross into Rust; the rules are ASCII anyway
        ua = ua.encode("utf-8", "replace").decode("utf-8")
    result = _PARSER.parse(ua)
    browser, browser_version = _family(result.user_agent)
    os_name, os_version = _family(result.os)
    if result.device is not None and result.device.family == "Spider":
        return Device(browser, browser_version, os_name, os_version, "bot", True)
    device_type = _device_type(ua, os_name, browser in _IN_APP_FAMILIES)
    return Device(browser, browser_version, os_name, os_version, device_type, False)


def _family(part: ua_parser.UserAgent | ua_parser.OS | None) -> tuple[str | None, str | None]:
    if part is None or part.family == "Other":
        return None, None
    numbers = [n for n in (part.major, part.minor, part.patch, part.patch_minor) if n]
    return part.family, ".".join(numbers) or None


def _device_type(ua: str, os_name: str | None, in_app: bool) -> str:
    match = _DEVICE_TYPE_PARSER(ua, Domain.DEVICE).device
    kind = match.family if match is not None else None
    if kind == "android":
        return "mobile" if "Mobi" in ua or "Dalvik" in ua else "tablet"
    if kind is not None:
        return kind
    if os_name in _MOBILE_OSES or in_app:  # Chinese apps without an OS token are phone apps
        return "mobile"
    return "desktop" if os_name in _DESKTOP_OSES else "unknown"
