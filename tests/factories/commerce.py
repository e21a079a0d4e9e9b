from __future__ import annotations

import factory

from server.commerce.models import Customer, Order, OrderLine, Product, ProductVariant
from server.db import utcnow
from tests.factories import ModelFactory
from tests.factories.shops import ShopFactory


class CustomerFactory(ModelFactory):
    class Meta:
        model = Customer
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    shopify_id = factory.Sequence(lambda n: 7_100_000_000 + n)
    email = factory.Sequence(lambda n: f"customer{n}@example.jp")
    first_name = "花子"
    last_name = "山田"
    tags = factory.LazyFunction(list)


class ProductFactory(ModelFactory):
    class Meta:
        model = Product
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    shopify_id = factory.Sequence(lambda n: 8_100_000_000 + n)
    title = factory.Sequence(lambda n: f"商品 {n}")
    handle = factory.Sequence(lambda n: f"product-{n}")
    tags = factory.LazyFunction(list)


class ProductVariantFactory(ModelFactory):
    class Meta:
        model = ProductVariant

    product = factory.SubFactory(ProductFactory)
    product_id = factory.SelfAttribute("product.id")
    shop_id = factory.SelfAttribute("product.shop_id")
    shopify_id = factory.Sequence(lambda n: 9_100_000_000 + n)
    price = 3000


class OrderFactory(ModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    customer_id = factory.SelfAttribute("customer.id")
    shop_id = factory.SelfAttribute("customer.shop_id")
    shopify_id = factory.Sequence(lambda n: 6_100_000_000 + n)
    name = factory.Sequence(lambda n: f"#{2000 + n}")
    total_price = 3000
    subtotal_price = 3000
    processed_at = factory.LazyFunction(utcnow)


class OrderLineFactory(ModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    order_id = factory.SelfAttribute("order.id")
    shop_id = factory.SelfAttribute("order.shop_id")
    shopify_id = factory.Sequence(lambda n: 5_100_000_000 + n)
    title = "商品"
    quantity = 1
    price = 3000
