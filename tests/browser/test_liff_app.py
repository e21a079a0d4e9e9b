"""The LIFF mini-app in Chromium at phone size, in Japanese and in English.

The page runs the real build (server/static/liff, `make liff`) against the live server. LIFF
itself is replaced by @line/liff-mock (the app loads it when the page defines
window.__KIZUNA_LIFF_MOCK__), which hands the app a real-format ES256 ID token signed by a test
key; the live server verifies it against a local stand-in of LINE's JWKS endpoint, and coupon
codes are created at a local stand-in of Shopify's Admin GraphQL API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from pytest_httpserver import HTTPServer

from server.commerce.models import Customer, Order, OrderLine, Product, ProductVariant
from server.coupons.models import CouponOffer, DiscountKind
from server.db import db, utcnow
from server.line.models import LineChannel, LineUser
from server.membership import services as membership
from server.membership.models import SubscriberPost, Tier
from server.recommendations import services as recommendation_services
from server.shops.models import Shop
from tests.browser.conftest import LiveServer, screenshot
from tests.fakes.shopify_api import ShopifyStandIn, admin_schema
from tests.liff.tokens import LineKeys, make_keys, mint

pytestmark = pytest.mark.browser

LIFF_ID = "2000000001-KizunaLf"
LOGIN_CHANNEL = "2000000001"
SHOP_DOMAIN = "liff-browser-tests.myshopify.com"
_ids = count(1)


@dataclass
class World:
    keys: LineKeys
    subscribers: dict[str, str]  # LINE user ids; one per language, each claims the offer once
    member: str
    stranger: str
    offer_id: int


def _customer(shop: Shop, n: int, *, tags: list[str]) -> Customer:
    customer = Customer(
        shop_id=shop.id,
        shopify_id=7_900_000_000 + n,
        email=f"liff{n}@example.jp",
        first_name="花子",
        last_name="山田",
        tags=tags,
    )
    db.session.add(customer)
    db.session.flush()
    return customer


def _products(shop: Shop, now: datetime) -> None:
    """Three products and some buyers, so the recommendations screen has best sellers."""
    buyer = _customer(shop, 9, tags=[])
    for n, (title, units) in enumerate(
        (("ほうじ茶 ティーバッグ", 9), ("季節の和菓子", 5), ("急須", 2)), start=1
    ):
        product = Product(
            shop_id=shop.id,
            shopify_id=8_900_000_000 + n,
            title=title,
            handle=f"item-{n}",
            subscribable=n == 1,
        )
        db.session.add(product)
        db.session.flush()
        db.session.add(
            ProductVariant(
                shop_id=shop.id, product_id=product.id, shopify_id=9_900_000_000 + n, price=1200 * n
            )
        )
        order = Order(
            shop_id=shop.id,
            shopify_id=6_910_000_000 + n,
            customer_id=buyer.id,
            name=f"#95{n}",
            total_price=1200 * n * units,
            financial_status="paid",
            processed_at=now - timedelta(days=5 * n),
        )
        db.session.add(order)
        db.session.flush()
        db.session.add(
            OrderLine(
                shop_id=shop.id,
                order_id=order.id,
                shopify_id=5_910_000_000 + n,
                product_id=product.id,
                title=title,
                quantity=units,
                price=1200 * n,
            )
        )


def _regular_of_tea(shop: Shop, customer: Customer, now: datetime) -> None:
    """The tea, bought 65 and 35 days ago: about due again."""
    tea = db.session.query(Product).filter_by(shop_id=shop.id, handle="item-1").one()
    for n, days in enumerate((65, 35), start=1):
        order = Order(
            shop_id=shop.id,
            shopify_id=6_920_000_000 + n,
            customer_id=customer.id,
            name=f"#96{n}",
            total_price=1200,
            financial_status="paid",
            processed_at=now - timedelta(days=days),
        )
        db.session.add(order)
        db.session.flush()
        db.session.add(
            OrderLine(
                shop_id=shop.id,
                order_id=order.id,
                shopify_id=5_920_000_000 + n,
                product_id=tea.id,
                title=tea.title,
                quantity=1,
                price=1200,
            )
        )


def _line_user(shop: Shop, user_id: str, customer: Customer | None, name: str) -> None:
    db.session.add(
        LineUser(
            shop_id=shop.id,
            line_user_id=user_id,
            display_name=name,
            language="ja",
            followed_at=utcnow(),
            customer_id=customer.id if customer else None,
            linked_at=utcnow() if customer else None,
        )
    )


@pytest.fixture(scope="session")
def world(live_server: LiveServer) -> Iterator[World]:
    keys = make_keys()
    certs = HTTPServer(host="127.0.0.1", port=0)
    certs.start()
    certs.expect_request("/oauth2/v2.1/certs").respond_with_json(keys.jwks)
    app = live_server.app
    previous = app.config["LINE_API_BASE_URL"]
    app.config["LINE_API_BASE_URL"] = certs.url_for("/").rstrip("/")
    now = utcnow()
    with app.app_context():
        # A shop of its own: the demo shop's single LINE channel belongs to other browser tests.
        shop = Shop(
            domain=SHOP_DOMAIN,
            name="ひだまり茶房",
            currency="JPY",
            timezone="Asia/Tokyo",
            installed_at=now - timedelta(days=400),
            settings={"subscriber_tags": ["定期購入"]},
            access_token="shpat_liff_browser_tests",  # accepted by the Shopify stand-in
            access_token_expires_at=now + timedelta(days=1),
        )
        db.session.add(shop)
        db.session.flush()
        _products(shop, now)
        db.session.add(
            LineChannel(
                shop_id=shop.id,
                channel_key="liff-browser-tests",
                login_channel_id=LOGIN_CHANNEL,
                liff_id=LIFF_ID,
                bot_basic_id="@hanamaru",
                link_incentive_points=100,
            )
        )
        for name, threshold, color, benefits in (
            ("REGULAR", 0, "#5b6472", "お誕生月クーポン"),
            ("SILVER", 10_000, "#8a9bb0", "送料無料（¥3,000以上）"),
            ("GOLD", 30_000, "#b8892b", "いつでも送料無料・ポイント2倍デー"),
        ):
            db.session.add(
                Tier(
                    shop_id=shop.id, name=name, threshold=threshold, color=color, benefits=benefits
                )
            )
        offer = CouponOffer(
            shop_id=shop.id,
            title="LINE限定 10%OFF",
            description="LINEのお友だちだけの特別クーポンです。",
            kind=DiscountKind.PERCENTAGE,
            value=10,
            minimum_subtotal=3000,
            valid_hours=24,
            claimable=True,
        )
        db.session.add(offer)
        db.session.add(
            CouponOffer(
                shop_id=shop.id,
                title="500円OFFクーポン",
                kind=DiscountKind.FIXED_AMOUNT,
                value=500,
                valid_hours=72,
                claimable=False,
                points_cost=500,
            )
        )
        db.session.add(
            CouponOffer(
                shop_id=shop.id,
                title="連携特典 送料無料",
                kind=DiscountKind.FREE_SHIPPING,
                valid_hours=168,
                claimable=False,
                issue_on_link=True,
            )
        )
        db.session.add(
            SubscriberPost(
                shop_id=shop.id,
                title="定期便をもっと楽しむ 3つのコツ",
                body="朝いちばんの一杯がおすすめです。\n\n冷やしすぎず、常温で。",
                published_at=now - timedelta(days=2),
            )
        )
        plain = _customer(shop, 2, tags=[])
        ids = {"ja": "U" + "a1" * 16, "en": "U" + "d4" * 16, "member": "U" + "b2" * 16}
        ids["stranger"] = "U" + "c3" * 16
        _line_user(shop, ids["member"], plain, "たろう")
        _line_user(shop, ids["stranger"], None, "ゆき")
        for n, lang in ((1, "ja"), (3, "en")):
            subscriber = _customer(shop, n, tags=["定期購入"])
            _line_user(shop, ids[lang], subscriber, "はなこ")
            db.session.flush()
            order = Order(
                shop_id=shop.id,
                shopify_id=6_900_000_000 + n,
                customer_id=subscriber.id,
                name=f"#900{n}",
                total_price=26_800,
                subtotal_price=26_800,
                financial_status="paid",
                processed_at=now - timedelta(days=10),
            )
            db.session.add(order)
            db.session.flush()
            membership.settle_order(shop, order, now=now - timedelta(days=10))
        membership.ensure_member(shop, plain, now=now)
        _regular_of_tea(shop, plain, now)
        db.session.commit()
        # The recommender trained on this history: たろう reorders the tea, discovers the rest.
        recommendation_services.train_shop(shop, now=now)
        db.session.commit()
        world = World(
            keys, {k: ids[k] for k in ("ja", "en")}, ids["member"], ids["stranger"], offer.id
        )
    yield world
    app.config["LINE_API_BASE_URL"] = previous
    certs.stop()


@pytest.fixture
def shopify(live_server: LiveServer, _shopify_server: HTTPServer) -> Iterator[ShopifyStandIn]:
    admin_schema()  # parse the schema before the first request needs it
    stand_in = ShopifyStandIn(_shopify_server, live_server.app)
    _shopify_server.clear()
    _shopify_server.expect_request(re.compile(r"^/.*")).respond_with_handler(stand_in.dispatch)

    def created(variables: dict[str, Any], call: Any) -> dict[str, Any]:
        node = {"id": f"gid://shopify/DiscountCodeNode/{next(_ids)}"}
        return {call.root_fields[0]: {"codeDiscountNode": node, "userErrors": []}}

    stand_in.on_graphql("discountCodeBasicCreate", created)
    stand_in.on_graphql("discountCodeFreeShippingCreate", created)
    previous = live_server.app.config["SHOPIFY_API_BASE_URL"]
    live_server.app.config["SHOPIFY_API_BASE_URL"] = stand_in.base_url
    yield stand_in
    live_server.app.config["SHOPIFY_API_BASE_URL"] = previous


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="ja-JP",
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield context
    context.close()


def open_app(
    phone: BrowserContext, live_server: LiveServer, world: World, user_id: str, lang: str
) -> tuple[Page, list[str]]:
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    opened: list[str] = []

    def leave(route: Route) -> None:  # the storefront and LINE's chat, outside this machine
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>left the app</title>")

    page.route(re.compile(r"^https://(liff-browser-tests\.myshopify\.com|line\.me)/.*"), leave)
    token = mint(world.keys, aud=LOGIN_CHANNEL, sub=user_id, name="はなこ", picture=None)
    mock = json.dumps({"idToken": token, "language": lang})
    page.add_init_script(f"window.__KIZUNA_LIFF_MOCK__ = {mock};")
    page.goto(f"{live_server.url}/liff/{LIFF_ID}/")
    page.opened = opened  # type: ignore[attr-defined]
    return page, errors


TEXT = {
    "ja": {
        "to_gold": "あと¥3,200でGOLD",
        "coupons": "クーポン",
        "claim": "受け取る",
        "use": "今すぐ使う",
        "copy": "コードをコピー",
        "copied": "コードをコピーしました",
        "members": "定期便会員",
        "priority": "優先サポートに相談する",
        "refused": "定期便会員さま限定のページです",
        "subscribe": "定期便について見る",
        "link_title": "ストアのアカウントと連携しましょう",
        "link_button": "アカウントを連携する",
        "bonus": "いま連携すると 100pt プレゼント",
        "recommend": "おすすめ",
        "popular": "人気の商品",
        "reorder": "そろそろ買い替え",
        "discovery": "あなたへのおすすめ",
        "reorder_reason": "前回のご購入から約35日です",
        "discovery_reason": "ほうじ茶 ティーバッグをご購入の方に人気",
        "points": "268",
        "sub_active": "ご利用中",
    },
    "en": {
        "to_gold": "¥3,200 more to GOLD",
        "coupons": "Coupons",
        "claim": "Claim",
        "use": "Use now",
        "copy": "Copy code",
        "copied": "Code copied",
        "members": "Members",
        "priority": "Ask priority support",
        "refused": "This page is for subscribers",
        "subscribe": "About subscriptions",
        "link_title": "Link your store account",
        "link_button": "Link my account",
        "bonus": "Link now and get 100 pt",
        "recommend": "For you",
        "popular": "Popular now",
        "reorder": "Time to reorder",
        "discovery": "You may also like",
        "reorder_reason": "About 35 days since your last purchase",
        "discovery_reason": "Popular with customers who bought ほうじ茶 ティーバッグ",
        "points": "268",
        "sub_active": "Active",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_card_coupons_and_subscriber_area(
    phone: BrowserContext, live_server: LiveServer, world: World, shopify: ShopifyStandIn, lang: str
) -> None:
    text = TEXT[lang]
    page, errors = open_app(phone, live_server, world, world.subscribers[lang], lang)

    # The membership card: tier, progress to the next tier, points, QR of the member number.
    expect(page.locator("[data-screen=card]")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_text(text["to_gold"])).to_be_visible()
    expect(page.locator(".tier-badge")).to_have_text("SILVER")
    expect(page.locator("[data-points]")).to_have_text(text["points"])
    expect(page.locator("[data-subscriber]")).to_have_text(text["sub_active"])
    number = page.locator("[data-member-number]").get_attribute("data-member-number")
    assert number is not None
    assert re.fullmatch(r"\d{10}", number)
    expect(page.locator("svg.qr")).to_have_attribute("data-value", number)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
    screenshot(page, f"liff_card_{lang}")

    # Coupons: claim one, see its code and countdown, copy it, use it in the store.
    page.locator("[data-tab=coupons]").click()
    offer = page.locator(f"[data-offer='{world.offer_id}']")
    expect(offer).to_be_visible()
    offer.get_by_role("button", name=re.compile(text["claim"])).click()
    coupon = page.locator(".coupon.mine[data-state=active]").first
    expect(coupon).to_be_visible()
    code = coupon.locator("[data-code]").inner_text()
    assert re.fullmatch(r"KZ[A-Z2-9]{8}", code)
    expect(coupon.locator(".countdown")).to_contain_text(re.compile(r"\d+:\d\d:\d\d"))
    coupon.get_by_role("button", name=text["copy"]).click()
    expect(page.locator("#toast")).to_have_text(text["copied"])
    assert page.evaluate("navigator.clipboard.readText()") == code
    screenshot(page, f"liff_coupons_{lang}")
    coupon.get_by_role("button", name=re.compile(text["use"])).click()
    page.wait_for_url(re.compile(r"^https://liff-browser-tests\.myshopify\.com/discount/"))
    assert page.opened[-1] == (  # type: ignore[attr-defined]
        f"https://{SHOP_DOMAIN}/discount/{code}?redirect=%2F"
    )
    assert len(shopify.calls("discountCodeBasicCreate")) == 1

    # Back in the app: the subscriber area, and priority support.
    page.goto(f"{live_server.url}/liff/{LIFF_ID}/?screen=members")
    expect(page.locator("[data-screen=members]")).to_be_visible()
    expect(page.get_by_text("定期便をもっと楽しむ 3つのコツ")).to_be_visible()
    screenshot(page, f"liff_members_{lang}")
    page.get_by_role("button", name=text["priority"]).click()
    page.wait_for_url(re.compile(r"^https://line\.me/R/oaMessage/@hanamaru/"))

    # Recommendations: the shop's best sellers until the recommender answers.
    page.goto(f"{live_server.url}/liff/{LIFF_ID}/?screen=recommend")
    expect(page.locator("[data-screen=recommend] .product").first).to_be_visible()
    screenshot(page, f"liff_recommend_{lang}")
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_recommendations_show_reorders_and_discoveries_with_their_reasons(
    phone: BrowserContext, live_server: LiveServer, world: World, lang: str
) -> None:
    text = TEXT[lang]
    page, errors = open_app(phone, live_server, world, world.member, lang)
    expect(page.locator("[data-screen=card]")).to_be_visible()

    page.locator("[data-tab=recommend]").click()

    screen = page.locator("[data-screen=recommend]")
    expect(screen).to_have_attribute("data-source", "personal")
    reorder = screen.locator("[data-section=reorder]")
    expect(reorder.get_by_role("heading")).to_have_text(text["reorder"])
    tea = reorder.locator(".product").first
    expect(tea.locator(".title")).to_have_text("ほうじ茶 ティーバッグ")
    expect(tea.locator(".reason")).to_have_text(text["reorder_reason"])
    expect(tea.locator(".price")).to_have_text("¥1,200")
    discovery = screen.locator("[data-section=discovery]")
    expect(discovery.get_by_role("heading")).to_have_text(text["discovery"])
    expect(discovery.locator(".product .reason").first).to_have_text(text["discovery_reason"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, f"liff_recommend_personal_{lang}")
    tea.click()
    page.wait_for_url(re.compile(r"^https://liff-browser-tests\.myshopify\.com/products/item-1"))
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_customer_without_a_subscription_is_refused_politely(
    phone: BrowserContext, live_server: LiveServer, world: World, lang: str
) -> None:
    text = TEXT[lang]
    page, errors = open_app(phone, live_server, world, world.member, lang)
    expect(page.locator("[data-screen=card]")).to_be_visible()

    page.locator("[data-tab=members]").click()

    refused = page.locator("[data-screen=members-refused]")
    expect(refused).to_be_visible()
    expect(refused).to_have_attribute("data-reason", "no_active_subscription")
    expect(refused.get_by_role("heading")).to_have_text(text["refused"])
    expect(refused.get_by_role("button", name=text["subscribe"])).to_be_visible()
    screenshot(page, f"liff_members_refused_{lang}")
    assert errors == []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_friend_who_has_not_linked_is_invited_to_link(
    phone: BrowserContext, live_server: LiveServer, world: World, lang: str
) -> None:
    text = TEXT[lang]
    page, errors = open_app(phone, live_server, world, world.stranger, lang)

    screen = page.locator("[data-screen=link]")
    expect(screen).to_be_visible()
    expect(screen.get_by_role("heading")).to_have_text(text["link_title"])
    expect(screen.get_by_text(text["bonus"])).to_be_visible()
    expect(screen.get_by_text("連携特典 送料無料")).to_be_visible()
    screenshot(page, f"liff_link_{lang}")
    screen.get_by_role("button", name=text["link_button"]).click()
    page.wait_for_url(f"https://{SHOP_DOMAIN}/apps/kizuna/link")
    assert errors == []
