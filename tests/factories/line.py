from __future__ import annotations

import factory

from server.db import utcnow
from server.line.models import LineUser
from tests.factories import ModelFactory
from tests.factories.shops import ShopFactory


class LineUserFactory(ModelFactory):
    class Meta:
        model = LineUser
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    line_user_id = factory.Sequence(lambda n: f"U{n:032x}")
    display_name = "はなこ"
    language = "ja"
    followed_at = factory.LazyFunction(utcnow)
