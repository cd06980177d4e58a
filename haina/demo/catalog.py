"""Static tables behind the demo data: products, content, devices, places, people, channels.

Everything here is plain data, built once at import; the generator only picks from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

SHOP_SITE = "https://shop.example.cn"
SHOP_NAME = "海纳优选"
B2B_SITE = "https://www.example-saas.cn"
B2B_NAME = "海纳云"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a demo site; `search` is the query string including its `?`."""

    url: str
    path: str
    search: str
    title: str


def page(site: str, target: str, title: str) -> Page:
    path, sep, query = target.partition("?")
    search = sep + query
    return Page(site + target, path, search, title)


def with_query(base: Page, query: str) -> Page:
    """The same page reached through a tagged link (`query` without the `?`)."""
    search = f"{base.search}&{query}" if base.search else f"?{query}"
    return Page(base.url.partition("?")[0] + search, base.path, search, base.title)


# --- the shop -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    sku: str
    name: str
    category: str
    brand: str
    price: float
    page: Page


CATEGORIES: dict[str, str] = {
    "electronics": "数码电器",
    "home": "家居生活",
    "beauty": "美妆个护",
    "books": "图书音像",
}

# fmt: off
_PRODUCT_ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("electronics", "降噪蓝牙耳机 Pro", "声悦", 899.0),
    ("electronics", "智能手表 S3", "华途", 1299.0),
    ("electronics", "20000mAh 快充充电宝", "电能", 159.0),
    ("electronics", "87 键机械键盘", "键客", 349.0),
    ("electronics", "27 英寸 4K 显示器", "视界", 1999.0),
    ("electronics", "扫地机器人 X10", "净界", 2599.0),
    ("electronics", "手机壳 (iPhone 16)", "壳匠", 49.0),
    ("electronics", "Kindle 保护套", "壳匠", 79.0),
    ("home", "空气炸锅 5L", "厨鲜", 399.0),
    ("home", "纯棉四件套", "眠语", 459.0),
    ("home", "超声波香薰机", "木香", 129.0),
    ("home", "316 不锈钢保温杯", "行者", 99.0),
    ("home", "人体工学办公椅", "坐享", 1599.0),
    ("home", "电动牙刷", "洁齿", 199.0),
    ("beauty", "玻尿酸补水面膜 (10片)", "水漾", 89.0),
    ("beauty", "烟酰胺精华液", "肌源", 269.0),
    ("beauty", "清爽防晒霜 SPF50+", "晴空", 139.0),
    ("beauty", "丝绒雾面口红", "绯色", 229.0),
    ("beauty", "氨基酸洗面奶", "肌源", 69.0),
    ("books", "三体 (全三册)", "重庆出版社", 93.0),
    ("books", "活着", "作家出版社", 35.0),
    ("books", "Python 编程：从入门到实践", "人民邮电出版社", 89.0),
    ("books", "置身事内", "上海人民出版社", 65.0),
    ("books", "The Pragmatic Programmer", "Addison-Wesley", 328.0),
)
# fmt: on
_CATEGORY_PREFIX = {"electronics": "EL", "home": "HM", "beauty": "BT", "books": "BK"}


def _products() -> tuple[Product, ...]:
    rows = []
    for n, (slug, name, brand, price) in enumerate(_PRODUCT_ROWS):
        pid = f"P{1001 + n}"
        sku = f"SKU-{_CATEGORY_PREFIX[slug]}-{1001 + n}"
        rows.append(
            Product(
                pid,
                sku,
                name,
                CATEGORIES[slug],
                brand,
                price,
                page(SHOP_SITE, f"/product/{pid}", f"{name} - {SHOP_NAME}"),
            )
        )
    return tuple(rows)


PRODUCTS = _products()
PRODUCTS_BY_CATEGORY: dict[str, tuple[Product, ...]] = {
    slug: tuple(p for p in PRODUCTS if p.category == name) for slug, name in CATEGORIES.items()
}
CATEGORY_PAGES: dict[str, Page] = {
    slug: page(SHOP_SITE, f"/category/{slug}", f"{name} - {SHOP_NAME}")
    for slug, name in CATEGORIES.items()
}
SORTED_CATEGORY_PAGES: dict[str, Page] = {
    slug: page(SHOP_SITE, f"/category/{slug}?sort=price_asc", f"{name} - {SHOP_NAME}")
    for slug, name in CATEGORIES.items()
}

# fmt: off
# Site-search terms and the category their results come from.
SHOP_SEARCH_TERMS: tuple[tuple[str, str], ...] = (
    ("蓝牙耳机", "electronics"), ("降噪耳机", "electronics"), ("充电宝", "electronics"),
    ("机械键盘", "electronics"), ("iphone 16 壳", "electronics"), ("kindle", "electronics"),
    ("4k monitor", "electronics"), ("空气炸锅", "home"), ("保温杯", "home"), ("四件套", "home"),
    ("office chair", "home"), ("面膜", "beauty"), ("防晒", "beauty"), ("口红", "beauty"),
    ("sunscreen", "beauty"), ("三体", "books"), ("python", "books"), ("余华", "books"),
)
# fmt: on
SEARCH_PAGES: tuple[tuple[str, str, Page], ...] = tuple(
    (term, slug, page(SHOP_SITE, f"/search?q={quote(term)}", f"“{term}”的搜索结果 - {SHOP_NAME}"))
    for term, slug in SHOP_SEARCH_TERMS
)

SHOP_HOME = page(SHOP_SITE, "/", f"{SHOP_NAME} - 品质生活，一站购齐")
SHOP_PAGES: dict[str, Page] = {
    "home": SHOP_HOME,
    "coupons": page(SHOP_SITE, "/coupons", f"领券中心 - {SHOP_NAME}"),
    "promo": page(SHOP_SITE, "/promo/double11", f"双11大促 全场满300减50 - {SHOP_NAME}"),
    "cart": page(SHOP_SITE, "/cart", f"购物车 - {SHOP_NAME}"),
    "checkout": page(SHOP_SITE, "/checkout", f"确认订单 - {SHOP_NAME}"),
    "success": page(SHOP_SITE, "/checkout/success", f"支付成功 - {SHOP_NAME}"),
    "login": page(SHOP_SITE, "/login", f"登录 - {SHOP_NAME}"),
    "signup": page(SHOP_SITE, "/signup", f"注册 - {SHOP_NAME}"),
    "orders": page(SHOP_SITE, "/account/orders", f"我的订单 - {SHOP_NAME}"),
    "help": page(SHOP_SITE, "/help/shipping", f"配送说明 - {SHOP_NAME}"),
}
# fmt: off
COUPONS: tuple[tuple[str, str, float], ...] = (
    ("NEW20", "新人立减20元", 20.0), ("D11-50", "双11满300减50", 50.0),
    ("VIP10", "会员日立减10元", 10.0),
)
STORES: tuple[tuple[str, str, str], ...] = (
    ("S-SH-01", "海纳优选 上海南京西路店", "上海"), ("S-SH-02", "海纳优选 上海徐家汇店", "上海"),
    ("S-BJ-01", "海纳优选 北京三里屯店", "北京"), ("S-GZ-01", "海纳优选 广州天河店", "广州"),
    ("S-SZ-01", "海纳优选 深圳万象天地店", "深圳"), ("S-HZ-01", "海纳优选 杭州湖滨店", "杭州"),
    ("S-CD-01", "海纳优选 成都太古里店", "成都"),
)
# fmt: on

# --- the B2B SaaS site ----------------------------------------------------------------------
B2B_HOME = page(B2B_SITE, "/", f"{B2B_NAME} - 用户行为分析与客户数据平台")
B2B_PAGES: dict[str, Page] = {
    "home": B2B_HOME,
    "pricing": page(B2B_SITE, "/pricing", f"价格方案 - {B2B_NAME}"),
    "demo": page(B2B_SITE, "/demo", f"预约演示 - {B2B_NAME}"),
    "signup": page(B2B_SITE, "/signup", f"免费试用 14 天 - {B2B_NAME}"),
    "customers": page(B2B_SITE, "/customers", f"客户案例 - {B2B_NAME}"),
    "about": page(B2B_SITE, "/about", f"关于我们 - {B2B_NAME}"),
    "contact": page(B2B_SITE, "/contact", f"联系我们 - {B2B_NAME}"),
    "login": page(B2B_SITE, "/login", f"登录 - {B2B_NAME}"),
}
B2B_PRODUCT_PAGES: tuple[Page, ...] = tuple(
    page(B2B_SITE, f"/product/{slug}", f"{title} - {B2B_NAME}")
    for slug, title in (
        ("analytics", "用户行为分析"),
        ("cdp", "客户数据平台 CDP"),
        ("journeys", "营销自动化旅程"),
        ("scrm", "企微 SCRM"),
    )
)
B2B_SOLUTION_PAGES: tuple[Page, ...] = tuple(
    page(B2B_SITE, f"/solutions/{slug}", f"{title}行业解决方案 - {B2B_NAME}")
    for slug, title in (
        ("retail", "零售"),
        ("finance", "金融"),
        ("manufacturing", "制造"),
        ("education", "教育"),
    )
)
B2B_BLOG_PAGES: tuple[Page, ...] = tuple(
    page(B2B_SITE, f"/blog/{slug}", f"{title} - {B2B_NAME}博客")
    for slug, title in (
        ("what-is-cdp", "什么是 CDP？一文读懂客户数据平台"),
        ("pipl-tracking", "PIPL 合规下的用户行为埋点"),
        ("ga4-vs-self-hosted", "GA4 与私有部署分析工具对比"),
        ("funnel-analysis", "漏斗分析的五个常见误区"),
        ("private-traffic", "私域运营：从公众号到企业微信"),
        ("lead-scoring", "B2B 线索评分模型实践"),
        ("retention-curves", "如何读懂留存曲线"),
    )
)
# (id, title, page)
WHITEPAPERS: tuple[tuple[str, str, Page], ...] = tuple(
    (wid, title, page(B2B_SITE, f"/resources/whitepapers/{wid}", f"{title} - 白皮书下载"))
    for wid, title in (
        ("wp-cdp-2026", "2026 中国 CDP 行业白皮书"),
        ("wp-pipl", "个人信息保护法合规指南"),
        ("wp-retail-digital", "零售数字化增长报告"),
    )
)
WEBINARS: tuple[tuple[str, str, Page], ...] = tuple(
    (wid, title, page(B2B_SITE, f"/webinars/{wid}", f"{title} - 在线研讨会"))
    for wid, title in (
        ("webinar_2026q4", "2026 Q4 私域增长实战直播"),
        ("webinar-cdp-101", "CDP 入门：30 分钟搭建统一用户画像"),
        ("webinar-ma", "营销自动化旅程设计工作坊"),
    )
)
# fmt: off
TRADE_SHOWS: tuple[str, ...] = ("2026 中国数字营销峰会·上海站", "CDP 大会 2026·北京")
B2B_SEARCH_TERMS: tuple[str, ...] = (
    "用户行为分析", "CDP 客户数据平台", "营销自动化", "私域 SCRM", "埋点方案", "GA4 替代",
    "customer data platform", "posthog 私有部署", "PIPL 合规", "线索评分",
)
INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("零售", "retail"), ("金融", "fin"), ("制造", "mfg"), ("教育", "edu"), ("医疗", "med"),
    ("物流", "logistics"), ("互联网", "tech"),
)
COMPANY_WORDS: tuple[tuple[str, str], ...] = (
    ("云帆", "yunfan"), ("星河", "xinghe"), ("远景", "yuanjing"), ("华锐", "huarui"),
    ("智远", "zhiyuan"), ("盛邦", "shengbang"), ("青禾", "qinghe"), ("鼎新", "dingxin"),
    ("博雅", "boya"), ("海川", "haichuan"), ("银杉", "yinshan"), ("启明", "qiming"),
)
COMPANY_SIZES: tuple[str, ...] = ("1-49", "50-199", "200-999", "1000-4999", "5000+")
JOB_TITLES: tuple[str, ...] = (
    "市场总监", "数字营销经理", "CMO", "数据分析师", "IT 经理", "运营经理", "产品经理", "CTO",
    "销售总监", "Marketing Manager", "Head of Growth",
)
SALES_REPS: tuple[str, ...] = ("周敏", "陈浩", "林晓", "Kevin Wu")

# --- WeChat official account ------------------------------------------------------------------
WECHAT_ACCOUNTS: dict[str, str] = {"shop": "海纳优选服务号", "b2b": "海纳云公众号"}
WECHAT_ARTICLES: dict[str, tuple[str, ...]] = {
    "shop": ("双11攻略｜这份清单帮你省到底", "新品上架：降噪耳机 Pro 测评", "会员日福利来了",
             "秋冬护肤指南"),
    "b2b": ("一文读懂 CDP", "私域运营方法论（上）", "客户案例：某零售品牌复购率提升 35%",
            "直播预告：Q4 私域增长实战"),
}
WECHAT_MENUS: dict[str, tuple[str, ...]] = {
    "shop": ("会员中心", "领券", "联系客服", "最新活动"),
    "b2b": ("产品介绍", "预约演示", "白皮书下载", "联系客服"),
}
CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "shop": ("双11大促", "618年中大促", "spring_launch", "会员日", "新人礼包"),
    "b2b": ("webinar_2026q4", "spring_launch", "cdp_whitepaper", "free_trial_q4",
            "expo_2026_shanghai"),
}
# fmt: on
