"""Entering and leaving scenarios through the real webhook endpoints (Shopify with its HMAC, LINE
with its signature): once per trigger event however often it is delivered, exits on
conversion, unfollow, unlink and redaction."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.campaigns import services, triggers
from server.campaigns.models import EnrollmentState, ExitReason, ScheduledStatus
from server.commerce import sync
from server.commerce.models import Customer, Order
from server.db import db
from server.line.models import LineUser
from server.linking import services as linking
from server.membership.services import TierChange
from server.segments.models import NineSegmentProfile
from server.shops.models import Shop
from tests.campaigns.conftest import (
    NOON_JST,
    Clock,
    Friend,
    enrollments,
    make_friend,
    make_scenario,
    scheduled,
)
from tests.factories.commerce import CustomerFactory, OrderFactory, ProductFactory
from tests.factories.membership import TierFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.shopify.conftest import ORDER_SAMPLE, SendWebhook, sample, send_webhook  # noqa: F401

SHOPIFY_CUSTOMER = ORDER_SAMPLE["customer"]["id"]


@pytest.fixture
def buyer(shop: Shop) -> Friend:
    """The LINE friend linked to the customer of the sample order."""
    customer = CustomerFactory(shop=shop, shopify_id=SHOPIFY_CUSTOMER)
    return make_friend(shop, customer=customer)


def order_payload(
    order_id: int, *, at: str = "2026-04-06T08:09:03+09:00", **changes: Any
) -> dict[str, Any]:
    payload = sample(
        ORDER_SAMPLE, id=order_id, processed_at=at, created_at=at, updated_at=at, **changes
    )
    payload["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    for index, item in enumerate(payload["line_items"]):  # line ids are unique per shop
        item["id"] = order_id * 10 + index
        item["admin_graphql_api_id"] = f"gid://shopify/LineItem/{item['id']}"
    return payload


def one_off(payload: dict[str, Any]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    for item in payload["line_items"]:
        item["selling_plan_id"] = None
    return payload


def test_a_replayed_order_webhook_never_enrolls_twice(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    line_api: LineStandIn,
) -> None:
    scenario = make_scenario(shop, trigger="order_paid", trigger_params={"order": "any"})
    payload = order_payload(5001)

    assert (
        send_webhook("orders/create", payload, shop=shop.domain, webhook_id="w-1").status_code
        == 200
    )
    send_webhook("orders/create", payload, shop=shop.domain, webhook_id="w-1")  # redelivery
    send_webhook("orders/paid", payload, shop=shop.domain, webhook_id="w-2")
    send_webhook(
        "orders/updated", sample(payload, updated_at="2026-04-06T09:00:00+09:00"), shop=shop.domain
    )
    clock.now = NOON_JST + timedelta(hours=5)  # a late retry of the same order
    send_webhook("orders/paid", payload, shop=shop.domain, webhook_id="w-3")

    [enrollment] = enrollments(scenario)
    order = db.session.scalar(select(Order).where(Order.shopify_id == 5001))
    assert order is not None
    assert enrollment.trigger_key == f"order:{order.id}"
    assert enrollment.customer_id == buyer.customer.id
    assert enrollment.line_user_id == buyer.line_user.id
    assert enrollment.entered_at == NOON_JST
    assert len(scheduled(scenario)) == 1


def test_order_filters_first_nth_kind_and_products(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    line_api: LineStandIn,
) -> None:
    enzyme = ProductFactory(
        shop=shop, shopify_id=632910392, tags=["ドリンク"], product_type="drink"
    )
    first = make_scenario(shop, name="first", trigger_params={"order": "first"})
    second = make_scenario(shop, name="second", trigger_params={"order": "nth", "n": 2})
    one_off_only = make_scenario(shop, name="one-off", trigger_params={"kind": "one_off"})
    subs_only = make_scenario(shop, name="subscription", trigger_params={"kind": "subscription"})
    tagged = make_scenario(shop, name="tag", trigger_params={"product_tags": ["ドリンク"]})
    other_product = make_scenario(
        shop, name="product", trigger_params={"product_ids": [ProductFactory(shop=shop).id]}
    )
    drinks = sync.CollectionData(shopify_id=31, title="ドリンク", product_ids=[632910392])
    elsewhere = sync.CollectionData(shopify_id=32, title="雑貨", product_ids=[999])
    in_collection = make_scenario(
        shop,
        name="collection",
        trigger_params={"collection_ids": [sync.replace_collection(shop, drinks, now=NOON_JST).id]},
    )
    other_collection = make_scenario(
        shop,
        name="other collection",
        trigger_params={
            "collection_ids": [sync.replace_collection(shop, elsewhere, now=NOON_JST).id]
        },
    )
    db.session.commit()

    send_webhook("orders/paid", order_payload(6001), shop=shop.domain)  # a subscription order
    send_webhook(
        "orders/paid",
        one_off(order_payload(6002, at="2026-04-07T08:00:00+09:00")),
        shop=shop.domain,
    )
    send_webhook("orders/create", order_payload(6003, financial_status="pending"), shop=shop.domain)

    counts = {
        s.name: len(enrollments(s))
        for s in (
            first,
            second,
            one_off_only,
            subs_only,
            tagged,
            other_product,
            in_collection,
            other_collection,
        )
    }
    # 6001 is the first order (a subscription one, with the tagged product); 6002 the second
    # (one-off); 6003 is unpaid. One enrollment each at most: the first is still in progress.
    assert counts == {
        "first": 1,
        "second": 1,
        "one-off": 1,
        "subscription": 1,
        "tag": 1,
        "product": 0,
        "collection": 1,
        "other collection": 0,
    }
    assert enrollments(tagged)[0].context["product_ids"] == [enzyme.id]


def test_ordering_again_converts_and_cancels_the_remaining_steps(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    line_api: LineStandIn,
) -> None:
    scenario = make_scenario(
        shop,
        trigger_params={"kind": "one_off"},
        exit_rules=[{"rule": "ordered"}],
        steps=[{"delay_days": 5, "message": {"type": "text", "text": "5日目"}}],
    )
    send_webhook("orders/paid", one_off(order_payload(7001)), shop=shop.domain)
    [enrollment] = enrollments(scenario)
    assert enrollment.state == EnrollmentState.ACTIVE

    # The same order again (fulfilled) is not a new order.
    send_webhook(
        "orders/fulfilled",
        one_off(order_payload(7001, fulfillment_status="fulfilled")),
        shop=shop.domain,
    )
    assert enrollments(scenario)[0].state == EnrollmentState.ACTIVE

    clock.now = NOON_JST + timedelta(days=2)
    send_webhook(
        "orders/create",
        one_off(order_payload(7002, at="2026-04-08T12:00:00+09:00")),
        shop=shop.domain,
    )

    # The first run ends as converted; the new order starts a run of its own.
    first, second = enrollments(scenario)
    assert (first.state, first.exit_reason, first.exit_detail) == (
        EnrollmentState.EXITED,
        ExitReason.CONVERTED,
        "ordered",
    )
    assert first.ended_at == NOON_JST + timedelta(days=2)
    assert second.state == EnrollmentState.ACTIVE
    assert [r.status for r in scheduled(scenario)] == [
        ScheduledStatus.CANCELLED,
        ScheduledStatus.SCHEDULED,
    ]


def test_an_exit_rule_with_a_product_tag_waits_for_that_product(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    line_api: LineStandIn,
) -> None:
    ProductFactory(shop=shop, shopify_id=632910393, tags=["まとめ便"])  # the sample's shaker
    scenario = make_scenario(
        shop,
        trigger_params={"order": "first"},
        exit_rules=[{"rule": "ordered", "product_tags": ["まとめ便"]}],
    )
    payload = order_payload(8001)
    payload["line_items"] = payload["line_items"][:1]  # the enzyme drink only
    send_webhook("orders/paid", payload, shop=shop.domain)
    clock.now = NOON_JST + timedelta(days=1)
    later = order_payload(8002, at="2026-04-07T12:00:00+09:00")
    later["line_items"] = later["line_items"][:1]
    send_webhook("orders/paid", later, shop=shop.domain)
    assert enrollments(scenario)[0].state == EnrollmentState.ACTIVE
    bundle = order_payload(8003, at="2026-04-08T12:00:00+09:00")
    bundle["line_items"] = bundle["line_items"][1:]  # the product tagged まとめ便
    clock.now = NOON_JST + timedelta(days=2)
    send_webhook("orders/paid", bundle, shop=shop.domain)
    assert enrollments(scenario)[0].exit_reason == ExitReason.CONVERTED


def test_entry_conditions_and_reachability_are_checked(
    shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    vip = make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"]))
    plain = make_friend(shop)
    unreachable = CustomerFactory(shop=shop)  # no LINE friend
    blocked = make_friend(shop, blocked_at=NOON_JST - timedelta(days=1))
    scenario = make_scenario(
        shop,
        trigger="manual",
        entry_definition={
            "match": "all",
            "conditions": [{"field": "customer_tag", "op": "any", "value": ["VIP"]}],
        },
    )
    results = {
        name: services.enroll(shop, scenario, customer_id=c.id, trigger_key="k", now=NOON_JST)
        for name, c in (
            ("vip", vip.customer),
            ("plain", plain.customer),
            ("unreachable", unreachable),
            ("blocked", blocked.customer),
        )
    }
    assert {k: v is not None for k, v in results.items()} == {
        "vip": True,
        "plain": False,
        "unreachable": False,
        "blocked": False,
    }
    # In progress already: a second trigger event does not start a second run.
    assert (
        services.enroll(shop, scenario, customer_id=vip.customer.id, trigger_key="k2", now=NOON_JST)
        is None
    )
    # A paused scenario enrolls nobody.
    from server.campaigns import editing

    editing.set_status(shop, scenario, "paused", now=NOON_JST)
    other = make_friend(shop, customer=CustomerFactory(shop=shop, tags=["VIP"]))
    assert (
        services.enroll(
            shop, scenario, customer_id=other.customer.id, trigger_key="k", now=NOON_JST
        )
        is None
    )


def test_a_follow_enrolls_once_and_a_block_ends_everything(
    client: FlaskClient, shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    friend = make_friend(shop, linked=False)
    scenario = make_scenario(
        shop,
        trigger="follow",
        steps=[{"delay_hours": 1, "message": {"type": "text", "text": "ようこそ"}}],
    )
    newcomer = "U" + "c" * 32
    event = helpers.follow(newcomer, timestamp_ms=int(NOON_JST.timestamp() * 1000))
    assert helpers.post_webhook(client, friend.channel, [event]).status_code == 200
    redelivered = {
        **event,
        "webhookEventId": helpers.ulid(),
        "deliveryContext": {"isRedelivery": True},
    }
    helpers.post_webhook(client, friend.channel, [redelivered])

    [enrollment] = enrollments(scenario)
    user = db.session.scalar(select(LineUser).where(LineUser.line_user_id == newcomer))
    assert user is not None
    assert (enrollment.customer_id, enrollment.line_user_id) == (None, user.id)
    assert enrollment.subject == f"l:{user.id}"

    helpers.post_webhook(client, friend.channel, [helpers.unfollow(newcomer)])
    [enrollment] = enrollments(scenario)
    assert (enrollment.state, enrollment.exit_reason) == (
        EnrollmentState.EXITED,
        ExitReason.UNFOLLOWED,
    )
    assert [r.status for r in scheduled(scenario)] == [ScheduledStatus.CANCELLED]


def test_linking_converts_the_link_invitation_and_carries_on_with_the_customer(
    shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    friend = make_friend(shop, linked=False)
    invitation = make_scenario(
        shop, name="invite", trigger="manual", exit_rules=[{"rule": "linked"}]
    )
    other = make_scenario(shop, name="other", trigger="manual")
    after_link = make_scenario(shop, name="after link", trigger="link_completed")
    for scenario in (invitation, other):
        assert services.enroll(
            shop, scenario, line_user_id=friend.line_user.id, trigger_key="k", now=NOON_JST
        )
    customer = CustomerFactory(shop=shop)
    db.session.commit()

    linking.link(
        shop, friend.line_user, customer, method=linking.LinkMethod.ACCOUNT_LINK, now=NOON_JST
    )
    db.session.commit()

    assert enrollments(invitation)[0].exit_reason == ExitReason.CONVERTED
    assert enrollments(other)[0].state == EnrollmentState.ACTIVE
    assert enrollments(other)[0].customer_id == customer.id
    [linked] = enrollments(after_link)
    assert linked.subject == f"c:{customer.id}"

    linking.unlink(shop, friend.line_user, by="customer", now=NOON_JST + timedelta(hours=1))
    db.session.commit()
    assert enrollments(other)[0].exit_reason == ExitReason.UNLINKED
    assert enrollments(after_link)[0].exit_reason == ExitReason.UNLINKED


def test_customers_redact_ends_enrollments_and_forgets_their_answers(
    send_webhook: SendWebhook,  # noqa: F811
    shop: Shop,
    buyer: Friend,
    clock: Clock,
    line_api: LineStandIn,
) -> None:
    scenario = make_scenario(shop, trigger="manual")
    services.enroll(
        shop,
        scenario,
        customer_id=buyer.customer.id,
        trigger_key="k",
        context={"reason": "leftover", "units_left": 2},
        now=NOON_JST,
    )
    db.session.commit()
    export = send_webhook(
        "customers/data_request",
        {
            "shop_domain": shop.domain,
            "customer": {"id": SHOPIFY_CUSTOMER},
            "orders_requested": [],
            "data_request": {"id": 9},
        },
        shop=shop.domain,
    )
    assert export.status_code == 200
    from server.shops.models import ComplianceRequest

    request = db.session.scalar(
        select(ComplianceRequest).where(ComplianceRequest.topic == "customers/data_request")
    )
    assert request is not None
    assert request.export is not None
    [exported] = request.export["campaigns"]["enrollments"]
    assert exported["scenario"] == "テストシナリオ"
    assert exported["answers"] == {"reason": "leftover", "units_left": 2}

    send_webhook(
        "customers/redact",
        {"shop_domain": shop.domain, "customer": {"id": SHOPIFY_CUSTOMER}, "orders_to_redact": []},
        shop=shop.domain,
    )
    [enrollment] = enrollments(scenario)
    assert (enrollment.state, enrollment.exit_reason, enrollment.context) == (
        EnrollmentState.EXITED,
        ExitReason.REDACTED,
        {},
    )
    assert [r.status for r in scheduled(scenario)] == [ScheduledStatus.CANCELLED]


def test_a_tier_change_enrolls_by_direction(shop: Shop, friend: Friend, clock: Clock) -> None:
    silver = TierFactory(shop=shop, name="SILVER", threshold=10_000)
    gold = TierFactory(shop=shop, name="GOLD", threshold=50_000)
    ups = make_scenario(
        shop,
        name="up",
        trigger="tier_changed",
        trigger_params={"direction": "up", "tier_ids": [gold.id]},
    )
    downs = make_scenario(
        shop, name="down", trigger="tier_changed", trigger_params={"direction": "down"}
    )
    up = TierChange(1, friend.customer.id, silver.id, gold.id, 60_000, NOON_JST, 10_000, 50_000)
    down = TierChange(
        1,
        friend.customer.id,
        gold.id,
        silver.id,
        20_000,
        NOON_JST + timedelta(days=1),
        50_000,
        10_000,
    )
    to_silver = TierChange(1, friend.customer.id, None, silver.id, 12_000, NOON_JST, None, 10_000)

    triggers.on_tier_change(shop, to_silver)  # up, but not to GOLD
    triggers.on_tier_change(shop, up)
    triggers.on_tier_change(shop, up)  # announced twice
    triggers.on_tier_change(shop, down)
    db.session.commit()

    assert [e.context for e in enrollments(ups)] == [{"tier_id": gold.id}]
    assert [e.context for e in enrollments(downs)] == [{"tier_id": silver.id}]


def test_a_tier_change_enrolls_only_from_the_tiers_chosen(
    shop: Shop, friend: Friend, clock: Clock
) -> None:
    silver = TierFactory(shop=shop, name="SILVER", threshold=10_000)
    gold = TierFactory(shop=shop, name="GOLD", threshold=50_000)
    from_silver = make_scenario(
        shop,
        trigger="tier_changed",
        trigger_params={"direction": "any", "from_tier_ids": [silver.id]},
    )
    to_silver = TierChange(1, friend.customer.id, None, silver.id, 12_000, NOON_JST, None, 10_000)
    to_gold = TierChange(
        1, friend.customer.id, silver.id, gold.id, 60_000, NOON_JST, 10_000, 50_000
    )

    triggers.on_tier_change(shop, to_silver)  # from no tier: not from SILVER
    triggers.on_tier_change(shop, to_gold)
    db.session.commit()

    assert [e.context for e in enrollments(from_silver)] == [{"tier_id": gold.id}]


def test_the_nine_segment_survey_postback_places_and_enrolls(
    client: FlaskClient, shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    friend = make_friend(shop, linked=False)
    scenario = make_scenario(
        shop,
        trigger="survey_answered",
        trigger_params={"cells": ["lapsed_active"]},
        steps=[{"delay_days": 1, "message": {"type": "text", "text": "おかえりなさい"}}],
    )
    for q, v in (("aware", "yes"), ("purchase", "lapsed"), ("intent", "yes")):
        event = helpers.postback(friend.user_id, f"a=kz.s9&q={q}&v={v}")
        assert helpers.post_webhook(client, friend.channel, [event]).status_code == 200

    profile = db.session.scalar(
        select(NineSegmentProfile).where(NineSegmentProfile.line_user_id == friend.line_user.id)
    )
    assert profile is not None
    assert profile.cell == "lapsed_active"
    [enrollment] = enrollments(scenario)
    assert enrollment.context == {"cell": "lapsed_active"}
    replies = [r.json["messages"][0]["text"] for r in line_api.replies()]
    assert len(replies) == 3
    assert "ありがとう" in replies[-1]
    # The same answer tapped again from an old quick reply: no second enrollment.
    helpers.post_webhook(
        client, friend.channel, [helpers.postback(friend.user_id, "a=kz.s9&q=intent&v=yes")]
    )
    assert len(enrollments(scenario)) == 1


def test_dormant_customers_are_found_by_days_or_their_own_interval(
    shop: Shop, clock: Clock
) -> None:
    now = NOON_JST

    def customer_with(*days_ago: int, linked: bool = True) -> Customer:
        customer = CustomerFactory(shop=shop)
        for d in days_ago:
            OrderFactory(customer=customer, processed_at=now - timedelta(days=d))
        if linked:
            make_friend(shop, customer=customer)
        return customer

    every_30_quiet_70 = customer_with(130, 100, 70)  # interval 30, gap 70 > 2 × 30: dormant
    every_30_quiet_50 = customer_with(110, 80, 50)  # gap 50 < 60: not yet
    every_10_quiet_25 = customer_with(45, 35, 25)  # gap 25 > 20 but under min_days 30
    single_100 = customer_with(100)  # one order, 100 days ago: dormant by days
    single_60 = customer_with(60)  # one order, 60 days: not yet
    gone_long = customer_with(900, 800)  # beyond max_days
    customer_with(200, 130, linked=False)  # dormant, but no LINE friend
    by_multiple = make_scenario(
        shop,
        name="multiple",
        trigger="dormant",
        trigger_params={"multiple": 2, "min_days": 30, "days": 90, "max_days": 365},
    )
    by_days = make_scenario(shop, name="days", trigger="dormant", trigger_params={"days": 60})

    assert triggers.find_dormant(shop, by_multiple, now=now) == 2
    assert triggers.find_dormant(shop, by_days, now=now) == 3
    assert triggers.find_dormant(shop, by_multiple, now=now + timedelta(hours=1)) == 0  # idempotent
    db.session.commit()

    assert {e.customer_id for e in enrollments(by_multiple)} == {
        every_30_quiet_70.id,
        single_100.id,
    }
    # Without max_days, a customer gone for years is dormant too.
    assert {e.customer_id for e in enrollments(by_days)} == {
        every_30_quiet_70.id,
        single_100.id,
        gone_long.id,
    }
    assert not {every_30_quiet_50.id, every_10_quiet_25.id, single_60.id} & {
        e.customer_id for e in enrollments(by_days) + enrollments(by_multiple)
    }
    assert len(scheduled(by_multiple)) == 2


def test_an_expiring_coupon_brings_its_holder_in_with_that_coupon(
    shop: Shop, friend: Friend, clock: Clock
) -> None:
    from server.coupons.models import Coupon, CouponSource, CouponStatus
    from server.membership import services as membership
    from tests.factories.coupons import OfferFactory

    member = membership.ensure_member(shop, friend.customer, now=NOON_JST)
    offer = OfferFactory(shop=shop)
    soon = Coupon(
        shop_id=shop.id,
        offer_id=offer.id,
        member_id=member.id,
        source=CouponSource.CLAIM,
        issue_key="a",
        code="KZSOON001",
        status=CouponStatus.ACTIVE,
        issued_at=NOON_JST - timedelta(days=6),
        valid_until=NOON_JST + timedelta(hours=20),
    )
    later = Coupon(
        shop_id=shop.id,
        offer_id=offer.id,
        member_id=member.id,
        source=CouponSource.CLAIM,
        issue_key="b",
        code="KZLATER01",
        status=CouponStatus.ACTIVE,
        issued_at=NOON_JST,
        valid_until=NOON_JST + timedelta(days=5),
    )
    db.session.add_all([soon, later])
    scenario = make_scenario(shop, trigger="coupon_expiring", trigger_params={"hours_before": 24})

    assert triggers.find_expiring_coupons(shop, scenario, now=NOON_JST) == 1
    assert triggers.find_expiring_coupons(shop, scenario, now=NOON_JST + timedelta(hours=1)) == 0
    [enrollment] = enrollments(scenario)
    assert enrollment.context == {"coupon_id": soon.id}


def test_unpaid_guest_or_another_shops_orders_enroll_nobody(shop: Shop, friend: Friend) -> None:
    from tests.factories.shops import ShopFactory

    scenario = make_scenario(shop)
    guest = OrderFactory(customer=friend.customer, financial_status="paid")
    guest.customer_id = None
    triggers.on_order(shop, guest, now=NOON_JST)
    unpaid = OrderFactory(customer=friend.customer, financial_status="pending")
    triggers.on_order(shop, unpaid, now=NOON_JST)
    paid = OrderFactory(customer=friend.customer, financial_status="paid")
    triggers.on_order(ShopFactory(), paid, now=NOON_JST)
    assert enrollments(scenario) == []

    triggers.on_order(shop, paid, now=NOON_JST)
    assert len(enrollments(scenario)) == 1
