from __future__ import annotations

import factory

from server.db import utcnow
from server.shops.models import Shop
from tests.factories import ModelFactory


class ShopFactory(ModelFactory):
    class Meta:
        model = Shop

    domain = factory.Sequence(lambda n: f"shop-{n}.myshopify.com")
    name = factory.Sequence(lambda n: f"テストショップ {n}")
    currency = "JPY"
    timezone = "Asia/Tokyo"
    installed_at = factory.LazyFunction(utcnow)
    settings = factory.LazyFunction(dict)
