"""Broadcasts through the real services, tasks and delivery pipeline, against the LINE stand-in:
recipient counts, scheduling in the shop's zone, cancel, holdout, multicast batching, retries
and crashes without duplicates, personalised sends, results."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from server.campaigns import (
    broadcast_audience,
    broadcast_results,
    broadcast_sending,
    broadcasts,
    holdout,
    lift,
)
from server.campaigns.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastStatus,
    LinkClick,
    TrackedLink,
)
from server.commerce.models import Customer
from server.db import db
from server.line.models import LineChannel, LineUser
from server.segments import services as segments
from server.shops.models import Shop
from tests.campaigns.conftest import NOON_JST, Clock
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn

SALE = {"type": "text", "text": "春のセール開催中です 🌸"}


@pytest.fixture
def store(app_ctx: None) -> Shop:
    from tests.factories.shops import ShopFactory

    return ShopFactory(domain="hanamaru.myshopify.com", timezone="Asia/Tokyo")


@pytest.fixture
def channel(store: Shop) -> LineChannel:
    return LineChannelFactory(shop=store)


def customer_with_orders(shop: Shop, orders: int, *, cancelled: int = 0, **fields: Any) -> Customer:
    customer = CustomerFactory(shop=shop, **fields)
    for i in range(orders):
        OrderFactory(
            customer=customer,
            processed_at=NOON_JST - timedelta(days=30 + i),
            cancelled_at=NOON_JST if i < cancelled else None,
        )
    return customer


def friend_of(shop: Shop, customer: Customer | None = None, **fields: Any) -> LineUser:
    return LineUserFactory(shop=shop, customer_id=customer.id if customer else None, **fields)


def make(shop: Shop, *, now: datetime = NOON_JST, **data: Any) -> Broadcast:
    broadcast = broadcasts.create_broadcast(
        shop, {"name": "春のセール", "message": SALE, **data}, now=now
    )
    db.session.commit()
    return broadcast


def many_friends(shop: Shop, n: int) -> list[int]:
    rows = [
        {
            "shop_id": shop.id,
            "line_user_id": f"U{shop.id:08x}{i:024x}",
            "display_name": f"友だち{i}",
            "language": "ja",
            "followed_at": NOON_JST - timedelta(days=10),
            "created_at": NOON_JST,
            "updated_at": NOON_JST,
        }
        for i in range(n)
    ]
    db.session.execute(insert(LineUser), rows)
    db.session.commit()
    return list(db.session.scalars(select(LineUser.id).where(LineUser.shop_id == shop.id)))


def reload(broadcast: Broadcast) -> Broadcast:
    db.session.expire_all()
    found = db.session.get(Broadcast, broadcast.id)
    assert found is not None
    return found


def recipients(broadcast: Broadcast) -> list[BroadcastRecipient]:
    return list(
        db.session.scalars(
            select(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)
            .order_by(BroadcastRecipient.line_user_id)
        )
    )


# Who receives it ------------------------------------------------------------------------------


@pytest.fixture
def fixture_shop(store: Shop) -> dict[str, Any]:
    """Six customers and two unlinked friends, each case of the counts written down."""
    c1 = customer_with_orders(store, 3)  # member, linked, follows        → reachable
    c2 = customer_with_orders(store, 2)  # member, linked, blocked        → not reachable
    c3 = customer_with_orders(store, 1)  # one order: not a member
    c4 = customer_with_orders(store, 2)  # member, no LINE friend         → not reachable
    c5 = customer_with_orders(store, 4, tags=["VIP"])  # member, linked, follows → reachable
    c6 = customer_with_orders(store, 2, cancelled=1)  # one live order: not a member
    friend_of(store, c1)
    friend_of(store, c2, blocked_at=NOON_JST - timedelta(days=1))
    friend_of(store, c3)
    friend_of(store, c5)
    friend_of(store)  # unlinked, follows
    friend_of(store, followed_at=None)  # unlinked, not a follower
    repeat = segments.create_segment(
        store,
        name="リピーター",
        definition={
            "match": "all",
            "conditions": [{"field": "order_count", "op": "gte", "value": 2}],
        },
    )
    # Another shop with the same shape never counts.
    from tests.factories.shops import ShopFactory

    other = ShopFactory()
    friend_of(other, customer_with_orders(other, 5))
    db.session.commit()
    return {"segment": repeat, "customers": [c1, c2, c3, c4, c5, c6]}


def test_recipient_counts_equal_the_hand_count(store: Shop, fixture_shop: dict[str, Any]) -> None:
    segment = fixture_shop["segment"]
    repeaters = broadcast_audience.estimate(
        store, segment_id=segment.id, holdout_percent=0, now=NOON_JST
    )
    assert (repeaters["members"], repeaters["reachable"], repeaters["recipients"]) == (4, 2, 2)
    everyone = broadcast_audience.estimate(store, segment_id=None, holdout_percent=0, now=NOON_JST)
    # 6 customers + 2 unlinked friends; reachable: c1, c3, c5 and the following unlinked friend
    assert (everyone["members"], everyone["reachable"], everyone["recipients"]) == (8, 4, 4)
    assert everyone["cost"] == 4
    assert everyone["delivery_mode"] == "outbox"  # no channel configured yet
    assert everyone["quota_remaining"] is None

    broadcast = make(store, segment_id=segment.id)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()
    sent = reload(broadcast)
    assert sent.status == BroadcastStatus.SENT
    c1, _, _, _, c5, _ = fixture_shop["customers"]
    assert {r.customer_id for r in recipients(sent)} == {c1.id, c5.id}
    assert sent.recipients_count == 2


def test_the_estimate_counts_the_cost_against_the_remaining_quota(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    many_friends(store, 30)
    line_api.quota_limit, line_api.usage = 1000, 980
    figures = broadcast_audience.estimate(store, segment_id=None, holdout_percent=10, now=NOON_JST)
    assert figures["delivery_mode"] == "api"
    assert figures["reachable"] == 30
    assert figures["holdout"] == 3
    assert figures["recipients"] == 27
    assert (figures["quota_limit"], figures["quota_remaining"]) == (1000, 20)
    assert figures["over_quota"] is True

    broadcast = make(store, holdout_percent=10)
    exact = broadcast_audience.estimate(store, broadcast, now=NOON_JST)
    ids = db.session.scalars(select(LineUser.id).where(LineUser.shop_id == store.id)).all()
    held = sum(holdout.in_holdout(broadcast.holdout_salt, i, 10) for i in ids)
    assert exact["holdout"] == held
    assert exact["recipients"] == 30 - held
    with pytest.raises(broadcasts.OverQuota):
        broadcasts.schedule(store, broadcast, now=NOON_JST)
    assert reload(broadcast).status == BroadcastStatus.DRAFT

    # Confirmed anyway: what does not fit is held by the pipeline, not lost.
    broadcasts.schedule(store, reload(broadcast), confirm_over_quota=True, now=NOON_JST)
    db.session.commit()
    done = reload(broadcast)
    assert done.status == BroadcastStatus.SENT
    counts = broadcast_results.delivery_counts(store, done)
    assert counts["delivered"] + counts["held"] == done.recipients_count
    assert counts["held"] > 0
    assert len(line_api.delivered()) == counts["delivered"] <= 20


# Scheduling -------------------------------------------------------------------------------------


def test_a_time_in_the_shops_zone_is_sent_exactly_then(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friend = friend_of(store)
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, send_at="2026-04-08T10:30", now=NOON_JST)
    db.session.commit()
    broadcast = reload(broadcast)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert broadcast.scheduled_at == datetime(2026, 4, 8, 1, 30, tzinfo=UTC)  # 10:30 JST

    clock.now = datetime(2026, 4, 8, 1, 29, 59, tzinfo=UTC)
    assert broadcast_sending.send_due(now=clock.now) == 0
    assert line_api.delivered() == []

    clock.now = datetime(2026, 4, 8, 1, 30, tzinfo=UTC)
    from server.campaigns.tasks import send_due_broadcasts

    send_due_broadcasts.call_local()
    assert reload(broadcast).status == BroadcastStatus.SENT
    assert line_api.delivered(friend.line_user_id) == [("push", [SALE])]
    assert reload(broadcast).started_at == clock.now


def test_a_shop_in_another_zone_gets_its_own_wall_clock(store: Shop) -> None:
    store.timezone = "America/New_York"
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, send_at="2026-07-01T09:00", now=NOON_JST)
    assert broadcast.scheduled_at == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # EDT, UTC-4
    with pytest.raises(broadcasts.InvalidBroadcast) as gap:
        broadcasts.schedule(store, broadcast, send_at="2027-03-14T02:30", now=NOON_JST)
    assert "send_at" in gap.value.details["fields"]


@pytest.mark.parametrize(
    "send_at", ["2026-04-06T11:00", "2026-04-06", "tomorrow", 5, "2028-04-06T10:00"]
)
def test_a_bad_send_time_is_refused(store: Shop, send_at: Any) -> None:
    broadcast = make(store)
    with pytest.raises(broadcasts.InvalidBroadcast) as refused:
        broadcasts.schedule(store, broadcast, send_at=send_at, now=NOON_JST)
    assert set(refused.value.details["fields"]) == {"send_at"}
    assert reload(broadcast).status == BroadcastStatus.DRAFT


def test_quiet_hours_defer_a_broadcast_scheduled_at_night(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friend = friend_of(store)
    broadcast = make(store)
    night = datetime(2026, 4, 6, 13, 0, tzinfo=UTC)  # 22:00 JST
    assert broadcast_audience.quiet_hours_note(store, night) == datetime(
        2026, 4, 7, 0, 0, tzinfo=UTC
    )
    broadcasts.schedule(store, broadcast, send_at="2026-04-06T22:00", now=NOON_JST)
    db.session.commit()
    clock.now = night
    broadcast_sending.send_due(now=night)
    assert reload(broadcast).status == BroadcastStatus.SENT  # handed over
    assert line_api.delivered() == []  # ...and the pipeline waits for 09:00
    from server.line.tasks import send_due_deliveries

    clock.now = datetime(2026, 4, 7, 0, 0, tzinfo=UTC)
    send_due_deliveries.call_local()
    assert line_api.delivered(friend.line_user_id) == [("push", [SALE])]


def test_a_cancelled_broadcast_never_goes_out(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friend_of(store)
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, send_at="2026-04-06T15:00", now=NOON_JST)
    broadcasts.cancel(store, broadcast, now=NOON_JST)
    db.session.commit()
    later = datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
    assert broadcast_sending.send_due(now=later) == 0
    assert broadcast_sending.send(broadcast.id, now=later) is False
    assert reload(broadcast).status == BroadcastStatus.CANCELLED
    assert recipients(broadcast) == []
    assert line_api.pushes() == line_api.multicasts() == []


def test_it_is_too_late_to_cancel_once_sending_started(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friend_of(store)
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()
    with pytest.raises(broadcasts.BroadcastNotEditable):
        broadcasts.cancel(store, reload(broadcast), now=NOON_JST)
    with pytest.raises(broadcasts.BroadcastNotEditable):
        broadcasts.update_broadcast(store, reload(broadcast), {"name": "x"}, now=NOON_JST)


# Holdout ----------------------------------------------------------------------------------------


def test_the_holdout_is_stable_and_receives_nothing(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    ids = many_friends(store, 200)
    broadcast = make(store, holdout_percent=25)
    expected = {i for i in ids if holdout.in_holdout(broadcast.holdout_salt, i, 25)}
    assert 25 < len(expected) < 75
    before = broadcast_audience.estimate(store, broadcast, now=NOON_JST)
    assert before["holdout"] == len(expected)

    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()
    rows = recipients(reload(broadcast))
    assert {r.line_user_id for r in rows if r.holdout} == expected
    assert all(r.delivery_id is None for r in rows if r.holdout)
    held_line_ids = set(
        db.session.scalars(select(LineUser.line_user_id).where(LineUser.id.in_(expected)))
    )
    delivered_to = {to for call in line_api.multicasts() for to in call.json["to"]}
    assert delivered_to.isdisjoint(held_line_ids)
    assert len(delivered_to) == 200 - len(expected)
    # The same salt assigns the same friends however often it is asked.
    again = {i for i in ids if holdout.in_holdout(reload(broadcast).holdout_salt, i, 25)}
    assert again == expected


# Sending end to end -------------------------------------------------------------------------------


def test_identical_content_goes_out_as_multicast_in_batches_of_500(
    store: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broadcast_sending, "BATCH", 1000)  # two of our transactions: 1000 + 203
    many_friends(store, 1203)
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()

    assert reload(broadcast).status == BroadcastStatus.SENT
    sizes = sorted(len(call.json["to"]) for call in line_api.multicasts())
    assert sizes == [203, 500, 500]
    assert line_api.pushes() == []
    per_user = Counter(to for call in line_api.multicasts() for to in call.json["to"])
    assert len(per_user) == 1203
    assert set(per_user.values()) == {1}
    assert all(call.json["messages"] == [SALE] for call in line_api.multicasts())
    assert len(line_api.delivered()) == 1203
    counts = broadcast_results.delivery_counts(store, reload(broadcast))
    assert counts["delivered"] == 1203
    assert counts["failed"] == counts["pending"] == 0


def test_lines_errors_and_lost_answers_are_retried_without_duplicates(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    many_friends(store, 700)
    line_api.fail("/v2/bot/message/multicast", 500, {"message": "Internal error"}, times=1)
    line_api.time_out("/v2/bot/message/multicast", times=1)  # accepted, answer lost
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()

    calls = line_api.multicasts()
    by_key: dict[str, list[int]] = {}
    for call in calls:
        assert call.retry_key
        by_key.setdefault(call.retry_key, []).append(len(call.json["to"]))
    assert len(by_key) == 2  # two requests (500 + 200), each retried under its own key
    assert len(calls) > 2
    assert sorted(sizes[0] for sizes in by_key.values()) == [200, 500]
    assert all(len(set(sizes)) == 1 for sizes in by_key.values())  # retries are identical
    delivered = Counter(to for _, to, _ in line_api._delivered)
    assert len(delivered) == 700
    assert set(delivered.values()) == {1}

    # Running the task again, and the periodic senders, sends nothing more.
    from server.campaigns.tasks import send_broadcast, send_due_broadcasts
    from server.line.tasks import send_due_deliveries

    before = len(line_api.calls)
    send_broadcast.call_local(broadcast.id)
    send_due_broadcasts.call_local()
    send_due_deliveries.call_local()
    assert len(line_api.calls) == before
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast.id)
        )
        == 700
    )


def test_a_worker_that_dies_mid_way_is_resumed_without_sending_twice(
    store: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broadcast_sending, "BATCH", 500)
    many_friends(store, 1250)
    broadcast = make(store)
    broadcasts.schedule(store, broadcast, send_at="2026-04-06T13:00", now=NOON_JST)
    db.session.commit()

    real = broadcast_sending._deliver
    calls = {"n": 0}

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        real(*args, **kwargs)

    monkeypatch.setattr(broadcast_sending, "_deliver", crash_on_second_batch)
    due = datetime(2026, 4, 6, 4, 0, tzinfo=UTC)
    clock.now = due
    with pytest.raises(RuntimeError):
        broadcast_sending.send(broadcast.id, now=due)
    db.session.rollback()  # what the task wrapper does
    assert reload(broadcast).status == BroadcastStatus.SENDING
    assert len(line_api.delivered()) == 500  # the first batch was committed and sent

    # Within the lease nobody takes over; after it, the periodic sender resumes.
    monkeypatch.setattr(broadcast_sending, "_deliver", real)
    assert broadcast_sending.send_due(now=due + timedelta(minutes=5)) == 0
    clock.now = due + timedelta(minutes=11)
    assert broadcast_sending.send_due(now=clock.now) == 1
    assert reload(broadcast).status == BroadcastStatus.SENT
    delivered = Counter(to for _, to, _ in line_api._delivered)
    assert len(delivered) == 1250
    assert set(delivered.values()) == {1}


def test_personalised_messages_are_pushed_one_by_one_with_their_own_links(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock, client: FlaskClient
) -> None:
    store.settings = {"storefront_domains": ["hanamaru.jp"]}
    alice = friend_of(store, CustomerFactory(shop=store, last_name="山田", first_name="花子"))
    bob = friend_of(store, display_name="ボブ")
    message = {"type": "text", "text": "{name}さん、新作です https://hanamaru.jp/products/tea"}
    broadcast = make(store, message=message)
    assert broadcast_sending.is_personalised(store, broadcast, now=NOON_JST)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()

    assert line_api.multicasts() == []
    [(_, [to_alice])] = line_api.delivered(alice.line_user_id)
    [(_, [to_bob])] = line_api.delivered(bob.line_user_id)
    assert to_alice["text"].startswith("山田 花子さん、新作です https://kizuna.test/r/")
    assert to_bob["text"].startswith("ボブさん、新作です https://kizuna.test/r/")
    assert "hanamaru.jp" not in to_alice["text"]
    token = to_alice["text"].rsplit("/r/", 1)[1]
    link = db.session.scalars(select(TrackedLink).where(TrackedLink.token == token)).one()
    assert link.line_user_id == alice.id
    assert link.url == "https://hanamaru.jp/products/tea"

    response = client.get(f"/r/{token}")
    assert response.headers["Location"] == "https://hanamaru.jp/products/tea"
    assert db.session.scalars(select(LinkClick.line_user_id)).all() == [alice.id]


def test_shared_tracking_keeps_the_content_identical(
    store: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    many_friends(store, 3)
    message = {
        "type": "flex",
        "layout": "card",
        "title": "春のセール",
        "body": "全品10%OFF",
        "button_label": "見る",
        "button_url": "https://hanamaru.myshopify.com/collections/sale",
    }
    broadcast = make(store, message=message, link_tracking="shared")
    assert not broadcast_sending.is_personalised(store, broadcast, now=NOON_JST)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()
    [call] = line_api.multicasts()
    uri = call.json["messages"][0]["contents"]["footer"]["contents"][0]["action"]["uri"]
    assert uri.startswith("https://kizuna.test/r/")
    assert db.session.scalar(select(func.count()).select_from(TrackedLink)) == 1


def test_a_coupon_is_issued_to_each_linked_recipient_once(
    store: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    shopify_api: Any,
) -> None:
    from server.coupons.models import Coupon
    from tests.factories.coupons import OfferFactory

    offer = OfferFactory(shop=store, title="LINE限定10%OFF", value=10)
    linked = friend_of(store, CustomerFactory(shop=store))
    unlinked = friend_of(store)
    shopify_api.on_graphql(
        "discountCodeBasicCreate",
        {
            "discountCodeBasicCreate": {
                "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"},
                "userErrors": [],
            }
        },
    )
    message = {"type": "text", "text": "{name}さんへ {coupon_value} クーポン {coupon_code}"}
    broadcast = make(store, message=message, coupon_offer_id=offer.id, link_tracking="off")
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()

    [coupon] = db.session.scalars(select(Coupon)).all()
    assert coupon.issue_key.startswith(f"broadcast:{broadcast.id}:")
    texts = line_api.delivered_texts(linked.line_user_id)
    assert any(coupon.code in t for t in texts)
    assert line_api.delivered(unlinked.line_user_id)  # the message still goes, without a code
    rows = {r.line_user_id: r for r in recipients(broadcast)}
    assert rows[linked.id].coupon_id == coupon.id
    assert rows[unlinked.id].coupon_id is None


# Results ------------------------------------------------------------------------------------------


def test_results_count_deliveries_clicks_orders_and_lift(
    store: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.campaigns import views

    monkeypatch.setattr(views, "utcnow", lambda: clock.now)  # clicks happen on the test's clock
    store.settings = {"storefront_domains": ["hanamaru.jp"]}
    people = [friend_of(store, CustomerFactory(shop=store)) for _ in range(40)]
    message = {"type": "text", "text": "セール中 https://hanamaru.jp/sale"}
    broadcast = make(store, message=message, holdout_percent=50)
    broadcasts.schedule(store, broadcast, now=NOON_JST)
    db.session.commit()
    rows = recipients(reload(broadcast))
    treated = [r for r in rows if not r.holdout]
    held = [r for r in rows if r.holdout]
    assert len(treated) >= 6
    assert len(held) >= 4

    by_id = {p.id: p for p in people}
    clock.now = NOON_JST + timedelta(hours=1)
    # Three treated friends click (one twice); two of them order within 7 days, one after.
    clickers = treated[:3]
    for r in [*clickers, clickers[0]]:
        [(_, [sent])] = line_api.delivered(by_id[r.line_user_id].line_user_id)
        client.get("/r/" + sent["text"].rsplit("/r/", 1)[1])
    click_time = db.session.scalar(select(func.min(LinkClick.clicked_at)))
    assert click_time is not None

    def order(r: BroadcastRecipient, at: datetime, total: int) -> None:
        customer = db.session.get(Customer, r.customer_id)
        OrderFactory(customer=customer, processed_at=at, total_price=total)

    start = reload(broadcast).started_at
    assert start is not None
    order(clickers[0], click_time + timedelta(days=1), 6000)
    order(clickers[1], click_time + timedelta(days=2), 4000)
    order(clickers[2], click_time + timedelta(days=9), 9000)  # after the window
    order(treated[3], start + timedelta(days=3), 3000)  # ordered without clicking
    order(held[0], start + timedelta(days=2), 5000)
    db.session.commit()

    result = broadcast_results.results(store, reload(broadcast), now=start + timedelta(days=10))

    assert result["recipients"] == len(treated)
    assert result["holdout"] == len(held)
    assert result["delivered"] == len(treated)
    assert result["failed"] == 0
    assert (result["clicks"], result["unique_clicks"]) == (4, 3)
    assert (result["orders"], result["revenue"], result["buyers"]) == (2, 10_000, 2)
    assert result["window_complete"] is True
    assert sum(day["orders"] for day in result["daily"]) == 2
    assert sum(day["clicks"] for day in result["daily"]) == 4

    report = result["lift"]
    # Within 7 days of sending: clickers[0], clickers[1] and treated[3] (clickers[2] on day 9).
    assert report["treatment"]["converted"] == 3
    assert report["holdout"]["converted"] == 1
    expected = lift.proportion_difference(3, len(treated), 1, len(held))
    assert expected is not None
    assert report["conversion_difference"]["estimate"] == pytest.approx(expected.estimate)
    assert report["conversion_difference"]["low"] == pytest.approx(expected.low)
    treated_values = [6000, 4000, 3000] + [0] * (len(treated) - 3)
    held_values = [5000] + [0] * (len(held) - 1)
    by_hand = lift.mean_difference(
        lift.Sample.from_values(treated_values), lift.Sample.from_values(held_values)
    )
    assert by_hand is not None
    assert report["revenue_per_subject_difference"]["estimate"] == pytest.approx(by_hand.estimate)
    assert report["revenue_per_subject_difference"]["high"] == pytest.approx(by_hand.high)
    assert report["treatment"]["revenue"] == 13_000
