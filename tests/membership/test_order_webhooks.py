"""Through the real Shopify webhook pipeline: an order earns points once; cancelling reverses."""

from __future__ import annotations

import copy

from server.commerce.models import Order
from server.db import db
from server.membership.models import Member, PointsEntry
from tests.factories.membership import TierFactory
from tests.shopify.conftest import ORDER_SAMPLE, SendWebhook, send_webhook  # noqa: F401


def test_an_order_earns_once_and_its_cancellation_takes_the_points_back(
    send_webhook: SendWebhook,  # noqa: F811 - the fixture imported above
    shop,
) -> None:
    TierFactory(shop=shop, name="REGULAR", threshold=0)
    TierFactory(shop=shop, name="SILVER", threshold=4_000)
    created = send_webhook("orders/create", ORDER_SAMPLE, shop=shop.domain)
    paid = send_webhook("orders/paid", ORDER_SAMPLE, shop=shop.domain)  # same state again

    assert created.status_code == paid.status_code == 200
    member = db.session.query(Member).filter_by(shop_id=shop.id).one()
    assert member.points_balance == 40  # ¥4,030 at 1 pt per ¥100
    assert member.tier.name == "SILVER"

    cancelled = copy.deepcopy(ORDER_SAMPLE)
    cancelled.update(
        cancelled_at="2026-04-06T10:00:00+09:00",
        updated_at="2026-04-06T10:00:00+09:00",
        cancel_reason="customer",
        financial_status="voided",
    )
    send_webhook("orders/cancelled", cancelled, shop=shop.domain)
    db.session.expire_all()

    member = db.session.query(Member).filter_by(shop_id=shop.id).one()
    order = db.session.query(Order).filter_by(shop_id=shop.id).one()
    assert order.cancelled
    assert member.points_balance == 0
    assert member.tier.name == "REGULAR"
    deltas = [e.delta for e in db.session.query(PointsEntry).order_by(PointsEntry.id)]
    assert deltas == [40, -40]
