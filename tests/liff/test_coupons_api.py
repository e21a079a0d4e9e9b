"""Coupons in LINE: claiming makes one single-use Shopify code; used and expired states."""

from __future__ import annotations

from datetime import timedelta

from server.coupons import services as coupons
from server.coupons.models import Coupon, CouponStatus, DiscountKind
from server.db import db, utcnow
from server.membership import services as membership
from tests.factories.commerce import OrderFactory
from tests.factories.coupons import OfferFactory
from tests.factories.membership import TierFactory
from tests.liff.conftest import LiffClient, Visitor


def test_claiming_twice_makes_one_discount_code(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    offer = OfferFactory(shop=visitor.shop, value=15, minimum_subtotal=3000, valid_hours=24)
    db.session.commit()

    first = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)
    second = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json["state"] == "active"
    assert second.json["code"] == first.json["code"]
    assert first.json["use_url"] == (
        f"https://{visitor.shop.domain}/discount/{first.json['code']}?redirect=%2F"
    )
    calls = shopify.calls("discountCodeBasicCreate")
    assert len(calls) == 1
    sent = calls[0].variables["input"]
    assert sent["code"] == first.json["code"]
    assert sent["usageLimit"] == 1
    assert sent["customerGets"]["value"] == {"percentage": 0.15}
    assert sent["minimumRequirement"] == {"subtotal": {"greaterThanOrEqualToSubtotal": "3000"}}
    assert sent["customerSelection"]["customers"]["add"] == [
        f"gid://shopify/Customer/{visitor.customer.shopify_id}"
    ]
    assert calls[0].errors == []  # the stand-in validated the document against the schema


def test_the_coupon_lasts_the_offers_hours_and_never_past_its_end(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    ends = utcnow() + timedelta(hours=10)
    offer = OfferFactory(shop=visitor.shop, valid_hours=24, ends_at=ends)
    db.session.commit()

    body = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor).json

    sent = shopify.calls("discountCodeBasicCreate")[0].variables["input"]
    assert body["valid_until"] == ends.isoformat()
    assert sent["endsAt"] == ends.isoformat()


def test_fixed_amount_and_free_shipping_offers(liff: LiffClient, visitor: Visitor, shopify) -> None:
    amount = OfferFactory(shop=visitor.shop, kind=DiscountKind.FIXED_AMOUNT, value=500)
    shipping = OfferFactory(
        shop=visitor.shop, kind=DiscountKind.FREE_SHIPPING, value=0, minimum_subtotal=0
    )
    db.session.commit()

    liff.post(f"/api/liff/coupons/{amount.id}/claim", as_visitor=visitor)
    liff.post(f"/api/liff/coupons/{shipping.id}/claim", as_visitor=visitor)

    basic = shopify.calls("discountCodeBasicCreate")[0].variables["input"]
    free = shopify.calls("discountCodeFreeShippingCreate")[0].variables["input"]
    assert basic["customerGets"]["value"] == {
        "discountAmount": {"amount": "500", "appliesOnEachItem": False}
    }
    assert free["destination"] == {"all": True}
    assert "minimumRequirement" not in free


def test_a_closed_offer_cannot_be_claimed(liff: LiffClient, visitor: Visitor, shopify) -> None:
    offer = OfferFactory(shop=visitor.shop, ends_at=utcnow() - timedelta(minutes=1))
    db.session.commit()

    response = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)

    assert response.status_code == 409
    assert response.json["error"] == "offer_closed"
    assert shopify.calls() == []
    assert db.session.query(Coupon).count() == 0


def test_an_offer_for_a_higher_tier_is_refused(liff: LiffClient, visitor: Visitor, shopify) -> None:
    gold = TierFactory(shop=visitor.shop, name="GOLD", threshold=30_000)
    offer = OfferFactory(shop=visitor.shop, min_tier_id=gold.id)
    db.session.commit()

    listing = liff.get("/api/liff/coupons", as_visitor=visitor).json
    response = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)

    assert offer.id not in [o["id"] for o in listing["available"]]
    assert response.status_code == 409
    assert response.json["error"] == "not_eligible"


def test_shopify_refusing_the_code_marks_the_coupon_failed(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    shopify.on_graphql(
        "discountCodeBasicCreate",
        {
            "discountCodeBasicCreate": {
                "codeDiscountNode": None,
                "userErrors": [
                    {
                        "field": ["basicCodeDiscount", "customerSelection"],
                        "code": "INVALID",
                        "message": "Customer does not exist",
                    }
                ],
            }
        },
    )
    offer = OfferFactory(shop=visitor.shop)
    db.session.commit()

    response = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)

    assert response.status_code == 201
    assert response.json["state"] == "failed"
    assert response.json["code"] is None
    coupon = db.session.get(Coupon, response.json["id"])
    assert "Customer does not exist" in coupon.failure


def test_a_code_shopify_already_has_is_looked_up_not_duplicated(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    # A first attempt timed out after Shopify had made the code: the retry finds it.
    shopify.on_graphql(
        "discountCodeBasicCreate",
        {
            "discountCodeBasicCreate": {
                "codeDiscountNode": None,
                "userErrors": [
                    {
                        "field": ["basicCodeDiscount", "code"],
                        "code": "TAKEN",
                        "message": "Code must be unique.",
                    }
                ],
            }
        },
    )
    shopify.on_graphql(
        "codeDiscountNodeByCode",
        {"codeDiscountNodeByCode": {"id": "gid://shopify/DiscountCodeNode/77"}},
    )
    offer = OfferFactory(shop=visitor.shop)
    db.session.commit()

    response = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor)

    assert response.json["state"] == "active"
    assert db.session.get(Coupon, response.json["id"]).shopify_discount_id.endswith("/77")


def test_an_order_carrying_the_code_marks_it_used_and_ties_the_revenue(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    offer = OfferFactory(shop=visitor.shop)
    db.session.commit()
    code = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor).json["code"]
    order = OrderFactory(
        customer=visitor.customer,
        total_price=8_000,
        total_discounts=800,
        discount_codes=[code.lower()],
    )

    coupons.record_redemptions(visitor.shop, order, now=utcnow())
    coupons.record_redemptions(visitor.shop, order, now=utcnow())  # redelivered
    db.session.commit()

    mine = liff.get("/api/liff/coupons", as_visitor=visitor).json["mine"]
    assert [(c["code"], c["state"]) for c in mine] == [(code, "used")]
    stats = coupons.offer_stats(visitor.shop, [offer.id])[offer.id]
    assert (stats.issued, stats.used, stats.revenue) == (1, 1, 8_000)


def test_a_coupon_past_its_validity_shows_as_expired(
    liff: LiffClient, visitor: Visitor, shopify
) -> None:
    offer = OfferFactory(shop=visitor.shop, valid_hours=24)
    db.session.commit()
    claimed = liff.post(f"/api/liff/coupons/{offer.id}/claim", as_visitor=visitor).json
    coupon = db.session.get(Coupon, claimed["id"])
    coupon.valid_until = utcnow() - timedelta(seconds=1)
    db.session.commit()

    shown = liff.get(f"/api/liff/coupons/mine/{coupon.id}", as_visitor=visitor).json

    assert shown["state"] == "expired"
    assert shown["use_url"] is None
    assert coupon.status == CouponStatus.ACTIVE  # expiry is a matter of time, not a write


def test_points_buy_a_coupon_once_per_tap(liff: LiffClient, visitor: Visitor, shopify) -> None:
    membership.award_bonus(visitor.shop, visitor.member, 500, key="gift", note="", now=utcnow())
    offer = OfferFactory(shop=visitor.shop, claimable=False, points_cost=300)
    db.session.commit()

    first = liff.post(
        f"/api/liff/coupons/{offer.id}/exchange",
        as_visitor=visitor,
        json={"request_id": "tap-00000001"},
    )
    again = liff.post(
        f"/api/liff/coupons/{offer.id}/exchange",
        as_visitor=visitor,
        json={"request_id": "tap-00000001"},
    )
    poor = liff.post(
        f"/api/liff/coupons/{offer.id}/exchange",
        as_visitor=visitor,
        json={"request_id": "tap-00000002"},
    )

    assert first.status_code == 201
    assert again.json["id"] == first.json["id"]
    assert poor.status_code == 409
    assert poor.json["error"] == "not_enough_points"
    db.session.refresh(visitor.member)
    assert visitor.member.points_balance == 200
    assert len(shopify.calls("discountCodeBasicCreate")) == 1


def test_coupons_need_a_linked_account(liff: LiffClient, stranger: Visitor) -> None:
    response = liff.get("/api/liff/coupons", as_visitor=stranger)

    assert response.status_code == 403
    assert response.json["error"] == "not_linked"


def test_linking_makes_a_member_with_the_bonus_and_the_link_coupon(
    liff: LiffClient, stranger: Visitor, shopify
) -> None:
    from server.linking import services as linking
    from server.linking.models import LinkMethod, LinkOutcome
    from tests.factories.commerce import CustomerFactory

    OfferFactory(
        shop=stranger.shop,
        title="連携特典 送料無料",
        kind=DiscountKind.FREE_SHIPPING,
        value=0,
        minimum_subtotal=0,
        claimable=False,
        issue_on_link=True,
    )
    stranger.channel.link_incentive_points = 100
    customer = CustomerFactory(shop=stranger.shop)

    outcome = linking.link(
        stranger.shop, stranger.line_user, customer, method=LinkMethod.LOGIN, now=utcnow()
    )
    db.session.commit()

    me = liff.get("/api/liff/me", as_visitor=stranger).json
    mine = liff.get("/api/liff/coupons", as_visitor=stranger).json["mine"]
    assert outcome == LinkOutcome.LINKED
    assert me["linked"] is True
    assert me["points"]["balance"] == 100
    assert [(c["title"], c["source"], c["state"]) for c in mine] == [
        ("連携特典 送料無料", "link_incentive", "active")
    ]
