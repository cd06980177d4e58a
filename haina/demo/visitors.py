"""Who visits the demo sites: devices, places, names and the traffic channels they arrive by."""

from __future__ import annotations

import random
from dataclasses import dataclass

from haina.demo.weighted import choose


@dataclass(frozen=True, slots=True)
class DeviceKind:
    user_agent: str
    shop_weight: float
    b2b_weight: float
    screen: tuple[int, int, float]
    wechat: bool  # the WeChat in-app browser


# fmt: off
_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko)")
_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
DEVICES: tuple[DeviceKind, ...] = (
    DeviceKind(f"{_IOS} Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI "
               "Language/zh_CN", 10, 3, (393, 852, 3.0), True),
    DeviceKind("Mozilla/5.0 (Linux; Android 14; V2309A Build/UP1A.231005.007; wv) "
               "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.120 Mobile "
               "Safari/537.36 XWEB/1220133 MMWEBSDK/20240404 MMWEBID/3510 "
               "MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/5G "
               "Language/zh_CN ABI/arm64", 8, 2, (412, 915, 2.625), True),
    DeviceKind(f"{_IOS} Version/18.1 Mobile/15E148 Safari/604.1", 14, 6, (390, 844, 3.0), False),
    DeviceKind("Mozilla/5.0 (Linux; Android 14; 23127PN0CC) AppleWebKit/537.36 (KHTML, like "
               "Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", 5, 2, (393, 873, 2.75), False),
    DeviceKind("Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.302) "
               "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 "
               "HuaweiBrowser/15.0.4.312 Mobile Safari/537.36", 8, 2, (360, 780, 3.0), False),
    DeviceKind("Mozilla/5.0 (Linux; U; Android 14; zh-cn; 23078RKD5C Build/UP1A.230905.011) "
               "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.111 "
               "Mobile Safari/537.36 XiaoMi/MiuiBrowser/18.6.70523", 3, 1, (393, 873, 2.75),
               False),
    DeviceKind(f"{_WIN} Chrome/131.0.0.0 Safari/537.36", 14, 32, (1920, 1080, 1.0), False),
    DeviceKind(f"{_MAC} AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
               6, 14, (1512, 982, 2.0), False),
    DeviceKind(f"{_WIN} Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 6, 14, (1920, 1080, 1.25),
               False),
    DeviceKind(f"{_MAC} AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
               3, 6, (1440, 900, 2.0), False),
    DeviceKind("Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/108.0.5359.95 Safari/537.36 QIHU 360SE", 2, 4, (1366, 768, 1.0), False),
    DeviceKind("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
               "Firefox/133.0", 1, 3, (1920, 1080, 1.0), False),
    DeviceKind("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
               "Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 2, 1, (820, 1180, 2.0), False),
    DeviceKind(f"{_WIN} Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI "
               "MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129",
               1, 3, (1920, 1080, 1.0), True),
)

# Crawlers: user agent and the address block they crawl from.
CRAWLERS: tuple[tuple[str, str], ...] = (
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     "220.181.108."),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)", "66.249.66."),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "157.55.39."),
    ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", "123.126.113."),
)

# fmt: on


@dataclass(frozen=True, slots=True)
class City:
    name: str
    weight: float
    ip_prefixes: tuple[str, ...]  # first two octets and a dot
    locale: str
    timezone: str


# fmt: off
CITIES: tuple[City, ...] = (
    City("上海", 16, ("116.228.", "101.80."), "zh-CN", "Asia/Shanghai"),
    City("北京", 14, ("123.125.", "114.247."), "zh-CN", "Asia/Shanghai"),
    City("广州", 9, ("113.108.", "183.6."), "zh-CN", "Asia/Shanghai"),
    City("深圳", 9, ("58.60.", "119.123."), "zh-CN", "Asia/Shanghai"),
    City("杭州", 7, ("60.191.", "115.236."), "zh-CN", "Asia/Shanghai"),
    City("成都", 6, ("118.113.", "171.221."), "zh-CN", "Asia/Shanghai"),
    City("南京", 5, ("221.226.",), "zh-CN", "Asia/Shanghai"),
    City("武汉", 5, ("27.17.",), "zh-CN", "Asia/Shanghai"),
    City("西安", 4, ("113.140.",), "zh-CN", "Asia/Shanghai"),
    City("重庆", 4, ("106.91.",), "zh-CN", "Asia/Shanghai"),
    City("苏州", 4, ("58.210.",), "zh-CN", "Asia/Shanghai"),
    City("天津", 3, ("60.28.",), "zh-CN", "Asia/Shanghai"),
    City("香港", 1.5, ("1.2.3.",), "zh-HK", "Asia/Hong_Kong"),
    City("London", 2, ("81.2.69.",), "en-US", "Europe/London"),
    City("Singapore", 1.5, ("1.2.3.",), "en-US", "Asia/Singapore"),
)
MOBILE_IP_PREFIX = "117.136."  # China Mobile 4G/5G: phones move between addresses

SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
    ("黄", "Huang"), ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"),
    ("马", "Ma"), ("朱", "Zhu"), ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"),
)
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("磊", "Lei"),
    ("洋", "Yang"), ("杰", "Jie"), ("涛", "Tao"), ("明", "Ming"), ("秀英", "Xiuying"),
    ("子涵", "Zihan"), ("浩然", "Haoran"), ("欣怡", "Xinyi"), ("宇轩", "Yuxuan"),
    ("思远", "Siyuan"), ("雨桐", "Yutong"), ("嘉怡", "Jiayi"),
)
MAIL_DOMAINS: tuple[str, ...] = ("163.com", "126.com", "foxmail.com", "gmail.com", "outlook.com",
                                 "sina.com")
MOBILE_PREFIXES: tuple[str, ...] = ("135", "136", "138", "139", "150", "158", "166", "177", "180",
                                    "186", "188", "189", "199")

# fmt: on


@dataclass(frozen=True, slots=True)
class Channel:
    """A way visitors arrive.

    Referrer templates take `{q}` (the search term), `{n}` (a number) and `{h}` (a hex token).
    """

    key: str
    shop_weight: float
    b2b_weight: float
    bounce: float  # probability that a visit from here is a single page
    referrers: tuple[str, ...]
    utm: tuple[str, str] | None  # (utm_source, utm_medium) on tagged visits
    tagged: float  # share of visits that carry UTM tags
    landing: str  # what kind of page they land on: search, paid, social, email, direct, referral
    click_id: str = ""  # the ad platform's click-id parameter on tagged landing URLs
    in_wechat: bool = False  # opens in WeChat's in-app browser (chat links send no referrer)


# fmt: off
CHANNELS: tuple[Channel, ...] = (
    Channel("baidu", 18, 16, 0.45, ("https://www.baidu.com/link?url={h}{n}&wd=&eqid={h}",), None, 0,
            "search"),
    Channel("baidu_cpc", 10, 10, 0.55, ("https://www.baidu.com/baidu.php?url={n}",),
            ("baidu", "cpc"), 1, "paid", click_id="bd_vid"),
    Channel("so360", 3, 2, 0.45, ("https://www.so.com/s?q={q}",), None, 0, "search"),
    Channel("sogou", 3, 2, 0.45, ("https://www.sogou.com/web?query={q}",), None, 0, "search"),
    Channel("bing", 3, 6, 0.40, ("https://cn.bing.com/",), None, 0, "search"),
    Channel("google", 3, 6, 0.40, ("https://www.google.com/",), None, 0, "search"),
    Channel("wechat", 15, 12, 0.50, ("https://mp.weixin.qq.com/",), ("wechat", "social"), 0.5,
            "social", in_wechat=True),
    Channel("weibo", 3, 1, 0.60, ("https://weibo.com/",), ("weibo", "social"), 0.4, "social"),
    Channel("douyin", 6, 1, 0.65, ("https://www.douyin.com/",), ("douyin", "social"), 0.5,
            "social"),
    Channel("xiaohongshu", 5, 1, 0.55, ("https://www.xiaohongshu.com/",),
            ("xiaohongshu", "social"), 0.4, "social"),
    Channel("zhihu", 3, 6, 0.45, ("https://www.zhihu.com/question/{n}",), ("zhihu", "social"),
            0.3, "social"),
    Channel("bilibili", 3, 2, 0.55, ("https://www.bilibili.com/video/BV1{n}",),
            ("bilibili", "social"), 0.3, "social"),
    Channel("email", 4, 9, 0.30, ("",), ("newsletter", "email"), 1, "email"),
    Channel("sms", 2, 0.5, 0.50, ("",), ("sms", "sms"), 1, "email"),
    Channel("direct", 12, 14, 0.35, ("",), None, 0, "direct"),
    Channel("referral", 5, 0, 0.40, ("https://www.smzdm.com/p/{n}/", "https://www.36kr.com/p/{n}",
                                     "https://partner.example.com/deals"), None, 0, "referral"),
    Channel("partner", 0, 8, 0.40, ("https://www.woshipm.com/data-analysis/{n}.html",
                                    "https://www.36kr.com/p/{n}",
                                    "https://partner.example.com/integrations"), None, 0,
            "referral"),
)
CHANNEL_BY_KEY: dict[str, Channel] = {c.key: c for c in CHANNELS}
# How people who already know the site come back.
RETURN_CHANNELS: tuple[tuple[str, float], ...] = (
    ("direct", 40), ("email", 14), ("wechat", 12), ("baidu", 12), ("sms", 4), ("baidu_cpc", 6),
    ("xiaohongshu", 3), ("douyin", 3), ("bing", 3), ("google", 3),
)
# Visits per local hour of day (China time): the shop peaks in the evening, B2B in office hours.
SHOP_HOURS: tuple[float, ...] = (
    1.5, 0.8, 0.4, 0.2, 0.2, 0.3, 0.8, 1.8, 2.8, 3.5, 4, 4, 4.5, 4, 3.8, 3.8, 3.8, 3.8, 4, 5, 6,
    6.5, 5.5, 3,
)
B2B_HOURS: tuple[float, ...] = (
    0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 1, 3, 6, 7, 6.5, 4, 5.5, 6.5, 6.5, 6, 5, 3, 2, 2, 1.8, 1.2,
    0.6,
)
# fmt: on


def person_name(rng: random.Random) -> tuple[str, str]:
    """A name as shown (Chinese, or pinyin for one in five) and a mailbox-style pinyin form."""
    surname, surname_py = choose(rng, SURNAMES)
    given, given_py = choose(rng, GIVEN_NAMES)
    shown = f"{given_py} {surname_py}" if rng.random() < 0.2 else surname + given
    return shown, f"{given_py}.{surname_py}".lower()


def mobile_number(rng: random.Random) -> str:
    """A mainland mobile number in E.164."""
    return f"+86{choose(rng, MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
