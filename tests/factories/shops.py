from __future__ import annotations

from datetime import timedelta

import factory

from server.db import utcnow
from server.shops.models import Shop
from tests.factories import ModelFactory


class ShopFactory(ModelFactory):
    """An installed shop with a valid expiring offline token pair (the `shopify_api` stand-in
    accepts these `shpat_` tokens unless a test asks it to be strict)."""

    class Meta:
        model = Shop

    domain = factory.Sequence(lambda n: f"shop-{n}.myshopify.com")
    name = factory.Sequence(lambda n: f"テストショップ {n}")
    currency = "JPY"
    timezone = "Asia/Tokyo"
    installed_at = factory.LazyFunction(utcnow)
    settings = factory.LazyFunction(dict)
    scopes = "read_products,read_customers,read_orders,read_all_orders,write_discounts"
    access_token = factory.Sequence(lambda n: f"shpat_factory_{n:08d}")
    access_token_expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=1))
    refresh_token = factory.Sequence(lambda n: f"shprt_factory_{n:08d}")
    refresh_token_expires_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=90))
