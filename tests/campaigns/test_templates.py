"""The gallery templates, switched on and run end to end: real Shopify webhooks (HMAC) and LINE
webhooks (signature) in, the LINE stand-in (OpenAPI-checked) and the Shopify stand-in out."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.campaigns import editing, messages, templates, triggers
from server.campaigns.models import EnrollmentState, ExitReason, Scenario, TrackedLink
from server.coupons.models import Coupon
from server.db import db
from server.line import messages as line_messages
from server.line.models import Delivery
from server.linking import services as linking
from server.segments.models import SurveyAnswer
from server.shops.models import Shop
from tests.campaigns.conftest import NOON_JST, Clock, Friend, Tick, enrollments, make_friend
from tests.factories.commerce import CustomerFactory, OrderFactory, ProductFactory
from tests.fakes.line_api import LineStandIn
from tests.liff.conftest import discount_created
from tests.line import helpers
from tests.shopify.conftest import ORDER_SAMPLE, SendWebhook, sample, send_webhook  # noqa: F401

TOKYO = ZoneInfo("Asia/Tokyo")
CUSTOMER_ID = ORDER_SAMPLE["customer"]["id"]


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
def shopify(shopify_api: Any) -> Any:
    shopify_api.on_graphql("discountCodeBasicCreate", discount_created)
    return shopify_api


@pytest.fixture
def buyer(shop: Shop) -> Friend:
    customer = CustomerFactory(
        shop=shop, shopify_id=CUSTOMER_ID, last_name="山田", first_name="花子"
    )
    ProductFactory(
        shop=shop,
        shopify_id=632910392,
        title="酵素ドリンク",
        handle="enzyme-drink",
        subscribable=True,
        usage_days=30,
    )
    ProductFactory(shop=shop, shopify_id=632910393, title="シェイカー", handle="shaker")
    return make_friend(shop, customer=customer)


def order(order_id: int, at: datetime, *, subscription: bool, **changes: Any) -> dict[str, Any]:
    stamp = at.astimezone(TOKYO).isoformat()
    payload = sample(
        ORDER_SAMPLE, id=order_id, processed_at=stamp, created_at=stamp, updated_at=stamp
    )
    payload["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    payload["discount_codes"] = []
    payload["customer"] = {**payload["customer"], "first_name": "花子", "last_name": "山田"}
    payload.update(changes)
    for index, item in enumerate(payload["line_items"]):
        item["id"] = order_id * 10 + index
        item["admin_graphql_api_id"] = f"gid://shopify/LineItem/{item['id']}"
        if not subscription:
            item["selling_plan_id"] = None
    if not subscription:
        payload["line_items"] = payload["line_items"][:1]
    return payload


def switch_on(shop: Shop, key: str) -> Scenario:
    scenario = templates.create_from_template(shop, key, now=NOON_JST)
    editing.set_status(shop, scenario, "active", now=NOON_JST)
    db.session.commit()
    return scenario


def pushed(line_api: LineStandIn, user_id: str) -> list[dict[str, Any]]:
    return [m for _, batch in line_api.delivered(user_id) for m in batch]


def target(uri: str) -> str:
    """Where a step's tracked /r/<token> link leads (links to the shop are tracked per friend)."""
    assert uri.startswith("https://kizuna.test/r/"), uri
    token = uri.removeprefix("https://kizuna.test/r/")
    link = db.session.scalar(select(TrackedLink).where(TrackedLink.token == token))
    assert link is not None
    assert link.source_kind == "scenario_step"
    return link.url


def texts_of(message: dict[str, Any]) -> str:
    """Every text in a LINE message (a Flex bubble's components included), joined."""
    found: list[str] = []
    stack: list[Any] = [message]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            if isinstance(node.get("altText"), str):
                found.append(node["altText"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return "\n".join(found)


def all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        return [text for item in node for text in all_strings(item)]
    return []


# -- the gallery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(templates.TEMPLATES))
def test_every_template_makes_a_valid_draft_whose_messages_line_accepts(
    shop: Shop, key: str
) -> None:
    ProductFactory(shop=shop, title="酵素ドリンク", subscribable=True)
    scenario = templates.create_from_template(shop, key, now=NOON_JST)

    assert scenario.status == "draft"
    assert scenario.template_key == key
    assert scenario.steps
    for step in scenario.steps:
        offer = (
            db.session.get(messages.CouponOffer, step.coupon_offer_id)
            if step.coupon_offer_id
            else None
        )
        if offer is not None:
            assert offer.claimable is False  # only the scenario hands it out
        for reason in (None, "leftover", "price", "no_effect"):
            facts = messages.sample_facts(shop, locale="ja", coupon_offer=offer, reason=reason)
            built = messages.render(shop, step.message, facts)
            line_messages.validate(built)  # raises when LINE would refuse it
            assert "{" not in texts_of({"m": built}), "every variable is filled in"


@pytest.mark.parametrize(
    "key", ["upsell_one_off", "upsell_subscriber", "reactivation", "retention"]
)
def test_templates_about_the_subscription_say_leaving_needs_no_line(shop: Shop, key: str) -> None:
    scenario = templates.create_from_template(shop, key, now=NOON_JST)
    copy_text = "\n".join(all_strings([s.message for s in scenario.steps]))
    assert "LINEを使わなくても" in copy_text or "LINEでのご連絡は必要ありません" in copy_text


def test_the_gallery_lists_every_template_in_both_languages() -> None:
    ja, en = templates.gallery("ja"), templates.gallery("en")
    assert [t["key"] for t in ja] == [t["key"] for t in en] == list(templates.TEMPLATES)
    assert all(t["name"] and t["summary"] for t in ja + en)
    reactivation = next(t for t in ja if t["key"] == "reactivation")
    assert [(s["delay_days"], s["at_time"], s["coupon"]) for s in reactivation["steps"]] == [
        (1, "10:00", False),
        (30, "10:00", True),
    ]


# -- end to end -----------------------------------------------------------------------------------


def test_the_upsell_runs_from_a_one_off_order_webhook(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
    shopify: Any,
) -> None:
    scenario = switch_on(shop, "upsell_one_off")
    response = send_webhook(
        "orders/paid",
        order(9001, NOON_JST - timedelta(hours=3), subscription=False),
        shop=shop.domain,
    )
    assert response.status_code == 200
    assert len(enrollments(scenario)) == 1

    tick(jst(2026, 4, 11, 9, 59))
    assert pushed(line_api, buyer.user_id) == []
    tick(jst(2026, 4, 11, 10, 0))  # day 5, 10:00
    [howto] = pushed(line_api, buyer.user_id)
    assert howto["type"] == "flex"
    assert howto["altText"] == "酵素ドリンクのおすすめの使い方"
    assert "山田 花子様、先日は酵素ドリンクをお買い上げいただき" in texts_of(howto)
    button = howto["contents"]["footer"]["contents"][0]["action"]
    assert target(button["uri"]) == f"https://{shop.domain}/products/enzyme-drink"

    tick(jst(2026, 4, 13, 12, 0))  # day 7, 12:00
    voices = pushed(line_api, buyer.user_id)[1]
    assert voices["type"] == "text"
    assert "レビュー" in voices["text"]

    tick(jst(2026, 4, 16, 10, 0))  # day 10: handed over, but 2 promotions in 7 days already
    coupon = db.session.scalar(select(Coupon).where(Coupon.shop_id == shop.id))
    assert coupon is not None
    assert coupon.issue_key.startswith("scenario:")
    [created] = shopify.calls("discountCodeBasicCreate")
    assert created.variables["input"]["code"] == coupon.code
    assert created.variables["input"]["customerGets"]["value"] == {"percentage": 0.2}
    assert coupon.valid_until == jst(2026, 4, 19, 10, 0)  # 72 hours
    assert len(pushed(line_api, buyer.user_id)) == 2
    held = db.session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    assert held is not None
    assert (held.deferred_reason, held.due_at) == ("frequency_cap", jst(2026, 4, 18, 10, 0))

    tick(jst(2026, 4, 18, 10, 0))  # the cap lets it through
    offer_card = pushed(line_api, buyer.user_id)[2]
    body = texts_of(offer_card)
    assert "20%OFF" in body
    assert coupon.code in body
    assert "4月19日 10:00まで有効" in body
    use = offer_card["contents"]["footer"]["contents"][0]["action"]
    assert (
        target(use["uri"])
        == f"https://{shop.domain}/discount/{coupon.code}?redirect=%2Fproducts%2Fenzyme-drink"
    )
    assert enrollments(scenario)[0].state == EnrollmentState.COMPLETED


def test_the_upsell_stops_when_the_buyer_subscribes(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
) -> None:
    scenario = switch_on(shop, "upsell_one_off")
    send_webhook(
        "orders/paid",
        order(9101, NOON_JST - timedelta(hours=3), subscription=False),
        shop=shop.domain,
    )
    tick(jst(2026, 4, 11, 10, 0))
    assert len(pushed(line_api, buyer.user_id)) == 1

    clock.now = jst(2026, 4, 12, 20, 0)  # they subscribe on day 6
    send_webhook("orders/paid", order(9102, clock.now, subscription=True), shop=shop.domain)

    [enrollment] = enrollments(scenario)
    assert (enrollment.state, enrollment.exit_reason) == (
        EnrollmentState.EXITED,
        ExitReason.CONVERTED,
    )
    for day in (13, 16, 20):
        tick(jst(2026, 4, day, 12, 0))
    assert len(pushed(line_api, buyer.user_id)) == 1


def test_the_reactivation_asks_why_and_times_the_restart_by_the_answer(
    client: FlaskClient,
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
    shopify: Any,
) -> None:
    scenario = switch_on(shop, "reactivation")
    subscribed = order(9201, jst(2026, 3, 20, 9, 0), subscription=True)
    clock.now = jst(2026, 3, 20, 9, 5)
    send_webhook("orders/paid", subscribed, shop=shop.domain)
    assert enrollments(scenario) == []

    # The subscription ends: its latest order is cancelled (the subscription app did it).
    clock.now = NOON_JST
    cancelled = copy.deepcopy(subscribed)
    cancelled.update(
        cancelled_at=jst(2026, 4, 6, 11, 30).astimezone(TOKYO).isoformat(),
        updated_at=jst(2026, 4, 6, 11, 30).astimezone(TOKYO).isoformat(),
        cancel_reason="customer",
        financial_status="voided",
    )
    assert send_webhook("orders/cancelled", cancelled, shop=shop.domain).status_code == 200

    [enrollment] = enrollments(scenario)
    assert enrollment.context["usage_days"] == 30
    [question] = pushed(line_api, buyer.user_id)  # asked at once, by push
    assert "解約の理由" in question["text"]
    assert "マイページからいつでも" in question["text"]
    labels = [i["action"]["label"] for i in question["quickReply"]["items"]]
    assert labels == [
        "まだ余っている",
        "効果を感じない",
        "価格が合わない",
        "届く頻度が合わない",
        "その他",
    ]

    leftover = question["quickReply"]["items"][0]["action"]["data"]
    helpers.post_webhook(client, buyer.channel, [helpers.postback(buyer.user_id, leftover)])
    units_question = line_api.replies()[-1].json["messages"][0]
    assert "あといくつ" in units_question["text"]
    two = next(i for i in units_question["quickReply"]["items"] if i["action"]["label"] == "2つ")
    helpers.post_webhook(
        client, buyer.channel, [helpers.postback(buyer.user_id, two["action"]["data"])]
    )
    thanks = line_api.replies()[-1].json["messages"][0]["text"]
    assert "マイページからいつでも再開できます" in thanks
    answers = dict(
        db.session.execute(
            select(SurveyAnswer.question, SurveyAnswer.answer).where(
                SurveyAnswer.survey == "cancellation"
            )
        ).all()
    )
    assert answers == {"reason": "leftover", "units": "2"}

    tick(jst(2026, 4, 7, 10, 0))  # day 1, 10:00: thanks and how to restart, for leftover stock
    day_one = pushed(line_api, buyer.user_id)[1]
    assert "お手元の酵素ドリンクがなくなる頃に" in day_one["text"]
    [restart_link] = re.findall(r"https://kizuna\.test/r/[\w-]+", day_one["text"])
    assert target(restart_link) == f"https://{shop.domain}/products/enzyme-drink"

    tick(jst(2026, 5, 6, 10, 0))  # the fixed day 30 has moved: 2 units × 30 days
    assert len(pushed(line_api, buyer.user_id)) == 2
    tick(jst(2026, 6, 5, 9, 59))
    assert len(pushed(line_api, buyer.user_id)) == 2
    tick(jst(2026, 6, 5, 10, 0))  # day 60, 10:00
    restart = pushed(line_api, buyer.user_id)[2]
    body = texts_of(restart)
    assert restart["altText"] == "24時間限定｜定期便 再開キャンペーン"
    assert "残り少なくなる頃" in body
    assert "20%OFF" in body
    coupon = db.session.scalar(select(Coupon).where(Coupon.shop_id == shop.id))
    assert coupon is not None
    assert coupon.valid_until == jst(2026, 6, 6, 10, 0)  # 24 hours
    assert "6月6日 10:00まで有効" in body
    assert enrollments(scenario)[0].state == EnrollmentState.COMPLETED


def test_the_retention_series_starts_with_the_subscription_and_ends_with_it(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
) -> None:
    scenario = switch_on(shop, "retention")
    first = order(9301, NOON_JST - timedelta(hours=1), subscription=True)
    send_webhook("orders/paid", first, shop=shop.domain)
    [enrollment] = enrollments(scenario)
    assert enrollment.state == EnrollmentState.ACTIVE

    tick(jst(2026, 4, 9, 12, 0))  # day 3, 12:00
    [welcome] = pushed(line_api, buyer.user_id)
    assert "定期便をはじめていただき" in welcome["text"]
    assert "LINEを使わなくても" in welcome["text"]

    clock.now = jst(2026, 4, 12, 12, 0)
    cancelled = copy.deepcopy(first)
    cancelled.update(
        cancelled_at=clock.now.astimezone(TOKYO).isoformat(),
        updated_at=clock.now.astimezone(TOKYO).isoformat(),
        financial_status="voided",
    )
    send_webhook("orders/cancelled", cancelled, shop=shop.domain)
    [enrollment] = enrollments(scenario)
    assert (enrollment.state, enrollment.exit_reason) == (
        EnrollmentState.EXITED,
        ExitReason.UNSUBSCRIBED,
    )
    tick(jst(2026, 4, 16, 12, 0))
    assert len(pushed(line_api, buyer.user_id)) == 1


def test_the_link_invitation_runs_from_a_follow_and_stops_at_the_link(
    client: FlaskClient, shop: Shop, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    host = make_friend(shop, linked=False)  # gives the shop its channel
    scenario = switch_on(shop, "link_incentive")
    newcomer = "U" + "d" * 32
    follow = helpers.follow(newcomer, timestamp_ms=int(NOON_JST.timestamp() * 1000))
    helpers.post_webhook(client, host.channel, [follow])
    [enrollment] = enrollments(scenario)

    tick(NOON_JST + timedelta(hours=1))
    invitation = [m for m in pushed(line_api, newcomer) if "連携" in m.get("text", "")][-1]
    assert "アカウントとLINEを連携すると" in invitation["text"]
    action = invitation["quickReply"]["items"][0]["action"]
    assert (action["type"], action["data"]) == ("postback", "action=link")

    from server.line.models import LineUser

    user = db.session.get(LineUser, enrollment.line_user_id)
    assert user is not None
    clock.now = NOON_JST + timedelta(days=1)
    linking.link(
        shop,
        user,
        CustomerFactory(shop=shop),
        method=linking.LinkMethod.LOGIN,
        now=NOON_JST + timedelta(days=1),
    )
    db.session.commit()
    [enrollment] = enrollments(scenario)
    assert enrollment.exit_reason == ExitReason.CONVERTED
    before = len(pushed(line_api, newcomer))
    tick(jst(2026, 4, 9, 12, 0))  # the day-3 reminder never goes
    assert len(pushed(line_api, newcomer)) == before


def test_the_dormant_winback_finds_the_customer_and_sends_a_coupon_a_week_later(
    shop: Shop, buyer: Friend, clock: Clock, tick: Tick, line_api: LineStandIn, shopify: Any
) -> None:
    scenario = switch_on(shop, "dormant_winback")
    for days in (200, 160, 120):  # every 40 days, silent for 120 (> 2 × 40)
        OrderFactory(customer=buyer.customer, processed_at=NOON_JST - timedelta(days=days))
    db.session.commit()
    from server.campaigns.tasks import find_dormant_customers

    clock.now = jst(2026, 4, 6, 9, 30)
    find_dormant_customers.call_local()
    find_dormant_customers.call_local()  # the next day's run: still dormant, not again
    assert len(enrollments(scenario)) == 1

    tick(jst(2026, 4, 6, 12, 0))
    [hello] = pushed(line_api, buyer.user_id)
    assert hello["altText"] == "山田 花子様、お久しぶりです"
    tick(jst(2026, 4, 13, 12, 0))
    welcome_back = pushed(line_api, buyer.user_id)[1]
    assert "15%OFF" in texts_of(welcome_back)
    assert triggers.find_dormant(shop, scenario, now=jst(2026, 4, 14, 9, 30)) == 0


def test_the_reactivation_starts_when_the_subscription_app_removes_the_tag(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
) -> None:
    """Most shops sell subscriptions through another app, which tags subscribers: the tag going
    away ten days after the last delivery is the cancellation."""
    from tests.shopify.conftest import CUSTOMER_SAMPLE

    shop.settings = {"subscriber_tags": ["定期購入"]}
    scenario = switch_on(shop, "reactivation")
    customer = dict(CUSTOMER_SAMPLE, id=CUSTOMER_ID, tags="定期購入")
    clock.now = jst(2026, 3, 1, 12, 0)
    send_webhook("customers/update", customer, shop=shop.domain)
    clock.now = jst(2026, 3, 27, 9, 5)
    paid = order(9401, jst(2026, 3, 27, 9, 0), subscription=True)
    paid["customer"]["tags"] = "定期購入"  # the order carries the customer as they are
    send_webhook("orders/paid", paid, shop=shop.domain)
    assert enrollments(scenario) == []

    clock.now = NOON_JST
    removed = dict(customer, tags="", updated_at="2026-04-06T12:00:00+09:00")
    send_webhook("customers/update", removed, shop=shop.domain)

    [enrollment] = enrollments(scenario)
    assert enrollment.entered_at == NOON_JST
    [question] = pushed(line_api, buyer.user_id)
    assert "解約の理由" in question["text"]
    tick(jst(2026, 4, 7, 10, 0))  # no answer: the plain day-1 message
    day_one = pushed(line_api, buyer.user_id)[1]
    assert "前回と同じ内容でいつでも再開できます" in day_one["text"]
