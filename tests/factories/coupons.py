from __future__ import annotations

import factory

from server.coupons.models import CouponOffer, DiscountKind
from tests.factories import ModelFactory
from tests.factories.shops import ShopFactory


class OfferFactory(ModelFactory):
    class Meta:
        model = CouponOffer
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    title = factory.Sequence(lambda n: f"LINE限定 10%OFF {n}")
    description = "LINEのお友だち限定クーポンです。"
    kind = DiscountKind.PERCENTAGE
    value = 10
    minimum_subtotal = 3000
    valid_hours = 24
    claimable = True
    active = True
