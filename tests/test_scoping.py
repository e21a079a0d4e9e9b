from __future__ import annotations

from server.commerce.models import Customer, Order
from server.db import db
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.shops import ShopFactory


def test_a_query_for_shop_a_never_returns_shop_b_rows(app_ctx: None) -> None:
    shop_a, shop_b = ShopFactory(), ShopFactory()
    mine = CustomerFactory(shop=shop_a)
    CustomerFactory(shop=shop_b)
    OrderFactory(customer=mine)
    OrderFactory(customer=CustomerFactory(shop=shop_b))

    customers = db.session.scalars(Customer.for_shop(shop_a)).all()
    orders = db.session.scalars(Order.for_shop(shop_a.id)).all()

    assert [c.id for c in customers] == [mine.id]
    assert [o.customer_id for o in orders] == [mine.id]


def test_the_admin_api_counts_only_the_callers_shop(app_ctx: None, admin: AdminClient) -> None:
    shop_a, shop_b = ShopFactory(), ShopFactory()
    CustomerFactory.create_batch(2, shop=shop_a)
    CustomerFactory.create_batch(5, shop=shop_b)
    db.session.commit()

    response = admin.get("/api/admin/shop", shop=shop_a)

    assert response.status_code == 200
    assert response.json["domain"] == shop_a.domain
    assert response.json["counts"]["customers"] == 2
