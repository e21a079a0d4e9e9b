"""Attribution windows with a fixed clock: an order counts for a send when it follows a click on
the send's link within 7 days, or used a coupon the send issued; and outcomes per group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import literal, select, union_all

from server.campaigns import attribution
from server.campaigns.links import follow, track_url
from server.campaigns.models import LinkClick
from server.commerce.models import Customer
from server.coupons.models import Coupon, CouponSource, CouponStatus
from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.coupons import OfferFactory
from tests.factories.line import LineUserFactory
from tests.factories.membership import MemberFactory
from tests.factories.shops import ShopFactory

CLICK = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(app_ctx: None) -> Shop:
    return ShopFactory(domain="tea.myshopify.com")


def linked_friend(shop: Shop) -> LineUser:
    customer = CustomerFactory(shop=shop)
    return LineUserFactory(shop=shop, customer_id=customer.id)


def click(shop: Shop, friend: LineUser, *, at: datetime, source_id: int = 1) -> None:
    url = track_url(
        shop, "/products/tea", line_user=friend, source_kind="broadcast", source_id=source_id
    )
    follow(url.rsplit("/", 1)[1], remote_addr="10.0.0.1", user_agent="Mozilla", now=at)


def order(shop: Shop, friend: LineUser, *, at: datetime, total: int = 5000, **extra: object) -> int:
    customer = db.session.get(Customer, friend.customer_id)
    return OrderFactory(customer=customer, processed_at=at, total_price=total, **extra).id


def attributed(shop: Shop, source_id: int = 1, **kwargs: object) -> set[int]:
    query = attribution.attributed_orders(
        shop,
        source_kind="broadcast",
        source_id=source_id,
        **kwargs,  # type: ignore[arg-type]
    )
    return {row.order_id for row in db.session.execute(query)}


def test_orders_within_seven_days_after_a_click_are_attributed(store: Shop) -> None:
    friend = linked_friend(store)
    click(store, friend, at=CLICK)
    before = order(store, friend, at=CLICK - timedelta(minutes=1))
    same_moment = order(store, friend, at=CLICK)
    day_six = order(store, friend, at=CLICK + timedelta(days=6, hours=23, minutes=59))
    at_seven = order(store, friend, at=CLICK + timedelta(days=7))
    day_eight = order(store, friend, at=CLICK + timedelta(days=8))

    assert attributed(store) == {same_moment, day_six}
    assert before not in attributed(store)
    assert at_seven not in attributed(store)
    assert day_eight not in attributed(store, window=timedelta(days=7))
    assert attributed(store, window=timedelta(days=9)) == {
        same_moment,
        day_six,
        at_seven,
        day_eight,
    }


def test_a_later_click_opens_a_new_window(store: Shop) -> None:
    friend = linked_friend(store)
    click(store, friend, at=CLICK)
    click(store, friend, at=CLICK + timedelta(days=10))
    gap = order(store, friend, at=CLICK + timedelta(days=8))
    second = order(store, friend, at=CLICK + timedelta(days=12))
    assert attributed(store) == {second}
    assert gap not in attributed(store)


def test_only_the_sends_own_clicks_the_clickers_own_orders_and_no_bots(store: Shop) -> None:
    friend, other = linked_friend(store), linked_friend(store)
    click(store, friend, at=CLICK, source_id=2)  # another send's link
    click(store, other, at=CLICK)
    mine = order(store, other, at=CLICK + timedelta(hours=1))
    order(store, friend, at=CLICK + timedelta(hours=1))  # did not click this send
    cancelled = order(store, other, at=CLICK + timedelta(hours=2), cancelled_at=CLICK)
    assert attributed(store) == {mine}
    assert cancelled not in attributed(store)

    bot_friend = linked_friend(store)
    url = track_url(store, "/", line_user=bot_friend, source_kind="broadcast", source_id=1)
    follow(url.rsplit("/", 1)[1], remote_addr=None, user_agent="facebookexternalhit/1.1", now=CLICK)
    order(store, bot_friend, at=CLICK + timedelta(hours=1))
    assert attributed(store) == {mine}


def test_an_order_with_the_sends_coupon_is_attributed_without_a_click(store: Shop) -> None:
    friend = linked_friend(store)
    member = MemberFactory(customer=db.session.get(Customer, friend.customer_id))
    offer = OfferFactory(shop=store)
    used = order(store, friend, at=CLICK + timedelta(days=20), total=8000, total_refunded=1000)
    coupon = Coupon(
        shop_id=store.id,
        offer_id=offer.id,
        member_id=member.id,
        source=CouponSource.SCENARIO,
        issue_key="broadcast:1:x",
        code="TEA-1",
        status=CouponStatus.USED,
        issued_at=CLICK,
        order_id=used,
    )
    db.session.add(coupon)
    db.session.flush()
    issued = select(Coupon.id).where(Coupon.issue_key.like("broadcast:1:%"))

    assert attributed(store, coupons=issued) == {used}
    assert attributed(store) == set()
    totals = attribution.attributed_totals(
        store, source_kind="broadcast", source_id=1, coupons=issued
    )
    assert totals == attribution.Totals(orders=1, revenue=7000, customers=1)


def test_each_order_counts_once_however_many_clicks(store: Shop) -> None:
    friend = linked_friend(store)
    for minutes in (0, 5, 10):
        click(store, friend, at=CLICK + timedelta(minutes=minutes))
    order(store, friend, at=CLICK + timedelta(hours=3), total=4200)
    totals = attribution.attributed_totals(store, source_kind="broadcast", source_id=1)
    assert totals == attribution.Totals(orders=1, revenue=4200, customers=1)
    assert attribution.click_counts(store, source_kind="broadcast", source_id=1) == (3, 1)


def test_another_shops_orders_and_clicks_never_count(store: Shop) -> None:
    friend = linked_friend(store)
    click(store, friend, at=CLICK)
    elsewhere = ShopFactory()
    assert (
        attribution.attributed_totals(elsewhere, source_kind="broadcast", source_id=1).orders == 0
    )
    assert attribution.click_counts(elsewhere, source_kind="broadcast", source_id=1) == (0, 0)


def test_group_outcomes_count_orders_within_the_window_after_each_start(store: Shop) -> None:
    start = CLICK
    t1, t2, t3 = (linked_friend(store) for _ in range(3))
    h1, h2 = linked_friend(store), linked_friend(store)
    unlinked = LineUserFactory(shop=store)
    order(store, t1, at=start + timedelta(days=1), total=3000)
    order(store, t1, at=start + timedelta(days=2), total=2000)  # same subject: 5000
    order(store, t2, at=start + timedelta(days=8), total=9000)  # outside the window
    order(store, t3, at=start - timedelta(days=1), total=9000)  # before the start
    order(store, h1, at=start + timedelta(days=6), total=4000)

    def subject(grp: str, friend: LineUser) -> object:
        return select(
            literal(grp).label("grp"),
            literal(friend.id).label("subject_key"),
            literal(friend.customer_id).label("customer_id")
            if friend.customer_id
            else literal(None).label("customer_id"),
            literal(start, LinkClick.clicked_at.type).label("start_at"),
        )

    subjects = union_all(
        *(subject("treatment", f) for f in (t1, t2, t3, unlinked)),
        *(subject("holdout", f) for f in (h1, h2)),
    )
    outcomes = attribution.group_outcomes(store, select(subjects.subquery()))

    assert outcomes["treatment"] == attribution.GroupOutcome(
        subjects=4, converted=1, revenue=5000.0, revenue_squares=25_000_000.0
    )
    assert outcomes["holdout"] == attribution.GroupOutcome(
        subjects=2, converted=1, revenue=4000.0, revenue_squares=16_000_000.0
    )


def test_a_click_through_the_view_is_attributed(client: FlaskClient, store: Shop) -> None:
    friend = linked_friend(store)
    url = track_url(store, "/", line_user=friend, source_kind="broadcast", source_id=5)
    db.session.commit()
    client.get(url.removeprefix("https://kizuna.test"))
    clicked_at = db.session.scalars(select(LinkClick.clicked_at)).one()
    placed = order(store, friend, at=clicked_at + timedelta(hours=2))
    assert attributed(store, source_id=5) == {placed}
