from __future__ import annotations

import factory

from server.db import utcnow
from server.membership.models import Member, SubscriberPost, Tier
from server.membership.services import new_member_number
from tests.factories import ModelFactory
from tests.factories.commerce import CustomerFactory
from tests.factories.shops import ShopFactory


class TierFactory(ModelFactory):
    class Meta:
        model = Tier
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    name = factory.Sequence(lambda n: f"TIER{n}")
    threshold = factory.Sequence(lambda n: n * 10_000)
    benefits = "送料無料"


class MemberFactory(ModelFactory):
    class Meta:
        model = Member

    customer = factory.SubFactory(CustomerFactory)
    customer_id = factory.SelfAttribute("customer.id")
    shop_id = factory.SelfAttribute("customer.shop_id")
    member_number = factory.LazyFunction(new_member_number)
    joined_at = factory.LazyFunction(utcnow)


class SubscriberPostFactory(ModelFactory):
    class Meta:
        model = SubscriberPost
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    title = factory.Sequence(lambda n: f"定期便のお客さまへ {n}")
    body = "いつもありがとうございます。"
    published_at = factory.LazyFunction(utcnow)
