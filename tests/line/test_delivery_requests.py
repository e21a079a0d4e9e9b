"""deliver_many's multicast requests: the request row holds the claim, retry key, attempts
and result of up to 500 recipients, whose rows are written when created and when settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.db import db
from server.line import delivery
from server.line.models import (
    Delivery,
    DeliveryRequest,
    DeliveryStatus,
    LineChannel,
    LineUser,
)
from server.shops.models import Shop
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.line.conftest import NOON_JST, Clock

MULTICAST = "/v2/bot/message/multicast"
SALE = [{"type": "text", "text": "週末セール 🎉"}]


@pytest.fixture(autouse=True)
def _noon(clock: Clock) -> None:
    clock.now = NOON_JST


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


def rows_of(shop: Shop) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.query(Delivery).filter_by(shop_id=shop.id).order_by(Delivery.id))


def requests_of(shop: Shop) -> list[DeliveryRequest]:
    db.session.expire_all()
    return list(
        db.session.query(DeliveryRequest).filter_by(shop_id=shop.id).order_by(DeliveryRequest.id)
    )


def broadcast(shop: Shop, friends: list[LineUser], **kw: Any) -> list[Delivery]:
    kw.setdefault("kind", "transactional")
    kw.setdefault("now", NOON_JST)
    rows = delivery.deliver_many(shop, friends, SALE, **kw)
    db.session.commit()  # immediate mode: send_content runs here
    return rows


def test_a_broadcast_becomes_requests_of_500_that_carry_their_recipients_keys(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(1200, shop=shop)

    broadcast(shop, friends)

    requests = requests_of(shop)
    assert [len(q.recipients) for q in requests] == [500, 500, 200]
    assert {q.status for q in requests} == {DeliveryStatus.SENT}
    rows = {r.id: r for r in rows_of(shop)}
    calls = {c.retry_key: c for c in line_api.multicasts()}
    assert len(calls) == 3
    for q in requests:
        assert calls[q.retry_key].json["to"] == [to for _, _, to in q.recipients]
        for delivery_id, line_user_id, to in q.recipients:
            row = rows[delivery_id]
            assert (row.request_id, row.retry_key, row.to) == (q.id, q.retry_key, to)
            assert row.line_user_id == line_user_id
            assert (row.status, row.api, row.attempts) == ("sent", "multicast", 1)
            assert row.line_request_id == q.line_request_id is not None
            assert (row.claim, row.claimed_at) == (None, None)  # the request was claimed
    assert len(line_api.delivered()) == 1200


def test_a_worker_that_dies_between_claim_and_send_leaves_a_request_resent_after_its_lease(
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("worker killed")  # claimed and committed; nothing left

    with monkeypatch.context() as patch:
        patch.setattr(delivery, "_execute", die)
        broadcast(shop, friends)

    [request] = requests_of(shop)
    assert (request.status, request.claimed_at, request.attempts) == ("sending", NOON_JST, 0)
    assert {r.status for r in rows_of(shop)} == {DeliveryStatus.SENDING}
    assert line_api.multicasts() == []
    key, recipients = request.retry_key, request.recipients
    assert delivery.send_due(now=NOON_JST + timedelta(minutes=5)) == 0  # still claimed

    later = NOON_JST + delivery.CLAIM_LEASE + timedelta(seconds=1)
    clock.now = later
    assert delivery.send_due(now=later) == 3

    [call] = line_api.multicasts()
    assert (call.status, call.retry_key) == (200, key)
    assert call.json["to"] == [to for _, _, to in recipients]
    assert {r.status for r in rows_of(shop)} == {DeliveryStatus.SENT}
    assert requests_of(shop)[0].recipients == recipients
    assert len(line_api.delivered()) == 3


def test_a_request_whose_answer_was_lost_in_a_crash_is_resent_identically_and_409_is_sent(
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    friends = LineUserFactory.create_batch(4, shop=shop)

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("worker killed")  # after the request left, before its result

    with monkeypatch.context() as patch:
        patch.setattr(delivery, "_apply_results", die)
        broadcast(shop, friends)
    friends[0].blocked_at = NOON_JST  # meanwhile: a retry still repeats the same request
    db.session.commit()

    later = NOON_JST + delivery.CLAIM_LEASE + timedelta(seconds=1)
    clock.now = later
    assert delivery.send_due(now=later) == 4

    first, second = line_api.multicasts()
    assert (first.status, second.status) == (200, 409)
    assert first.retry_key == second.retry_key
    assert first.json == second.json
    rows = rows_of(shop)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert {r.accepted_request_id for r in rows} == {requests_of(shop)[0].accepted_request_id}
    assert rows[0].accepted_request_id is not None
    assert len(line_api.delivered()) == 4


def test_a_rate_limited_request_is_retried_with_the_same_key_and_recipients(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(5, shop=shop)
    line_api.fail(MULTICAST, 429)

    broadcast(shop, friends)

    first, second = line_api.multicasts()
    assert (first.status, second.status) == (429, 200)
    assert first.retry_key == second.retry_key
    assert first.json == second.json
    rows = rows_of(shop)
    assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.SENT, 2)}
    [request] = requests_of(shop)
    assert (request.status, request.attempts, request.claim) == ("sent", 2, None)


def test_a_request_that_keeps_failing_backs_off_and_its_retry_is_identical(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)
    line_api.fail(MULTICAST, 503, times=delivery.INLINE_ATTEMPTS)

    broadcast(shop, friends)

    rows = rows_of(shop)
    assert {(r.status, r.deferred_reason, r.error) for r in rows} == {
        ("pending", "retry", "LINE 503: error 503")
    }
    [request] = requests_of(shop)
    assert (request.status, request.attempts) == ("pending", delivery.INLINE_ATTEMPTS)
    assert request.due_at == rows[0].due_at > NOON_JST
    assert delivery.send_due(now=NOON_JST + timedelta(seconds=5)) == 0  # rows wait with it
    friends[1].blocked_at = NOON_JST  # tried before: the retry must not change
    db.session.commit()

    clock.now = request.due_at
    assert delivery.send_due(now=request.due_at) == 3

    calls = line_api.multicasts()
    assert [c.status for c in calls] == [503] * delivery.INLINE_ATTEMPTS + [200]
    assert {c.retry_key for c in calls} == {request.retry_key}
    assert all(c.json == calls[0].json for c in calls)
    assert len(calls[-1].json["to"]) == 3
    assert {(r.status, r.attempts) for r in rows_of(shop)} == {
        (DeliveryStatus.SENT, delivery.INLINE_ATTEMPTS + 1)
    }


def test_one_rejected_request_fails_its_own_recipients_and_the_others_are_sent(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SEND_THREADS", 1)  # in order: the second one is refused
    friends = LineUserFactory.create_batch(1500, shop=shop)
    body = {"message": "The request body has 1 error(s)", "details": [{"message": "x"}]}

    def refuse_the_second(*args: Any, **kwargs: Any) -> Any:
        if len(line_api.multicasts()) == 1:
            line_api.fail(MULTICAST, 400, body)
        return original(*args, **kwargs)

    original = delivery.client.send
    monkeypatch.setattr(delivery.client, "send", refuse_the_second)
    broadcast(shop, friends)

    calls = line_api.multicasts()
    assert [c.status for c in calls] == [200, 400, 200]
    refused = calls[1].retry_key
    for r in rows_of(shop):
        if r.retry_key == refused:
            assert (r.status, r.attempts, r.sent_at) == (DeliveryStatus.FAILED, 1, None)
            assert r.error == "LINE 400: The request body has 1 error(s) — : x"
        else:
            assert (r.status, r.error) == (DeliveryStatus.SENT, None)
    assert [q.status for q in requests_of(shop)] == ["sent", "failed", "sent"]
    assert len(line_api.delivered()) == 1000
    assert delivery.send_due(now=NOON_JST + timedelta(days=1)) == 0  # never retried


def test_friends_who_blocked_before_the_send_are_left_out_of_the_request(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(4, shop=shop)
    later = NOON_JST + timedelta(hours=1)
    broadcast(shop, friends, not_before=later)
    friends[2].blocked_at = NOON_JST  # the unfollow event
    delivery.cancel_pending(shop, friends[2], reason="unfollowed")
    db.session.commit()

    assert delivery.send_due(now=later) == 4

    [call] = line_api.multicasts()
    kept = [f.line_user_id for i, f in enumerate(friends) if i != 2]
    assert sorted(call.json["to"]) == sorted(kept)
    statuses = [r.status for r in rows_of(shop)]
    assert statuses == ["sent", "sent", "cancelled", "sent"]
    [request] = requests_of(shop)
    assert len(request.recipients) == 3


def test_a_recipient_the_merchant_cancelled_before_a_scheduled_send_is_left_out(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)
    later = NOON_JST + timedelta(hours=2)
    rows = broadcast(shop, friends, not_before=later)
    assert {r.status for r in rows_of(shop)} == {DeliveryStatus.PENDING}
    cancelled = db.session.get(Delivery, rows[1].id)
    assert cancelled is not None
    cancelled.status = DeliveryStatus.CANCELLED  # what the admin's cancel does
    db.session.commit()

    clock.now = later
    delivery.send_due(now=later)

    [call] = line_api.multicasts()
    assert friends[1].line_user_id not in call.json["to"]
    assert len(call.json["to"]) == 2
    assert [r.status for r in rows_of(shop)] == ["sent", "cancelled", "sent"]


def test_a_promotion_in_quiet_hours_waits_as_one_request_and_its_rows_say_so(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)
    night = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # 22:30 JST
    morning = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 09:00 JST
    clock.now = night

    broadcast(shop, friends, kind="promotional", now=night)

    rows = rows_of(shop)
    assert {(r.status, r.deferred_reason, r.due_at) for r in rows} == {
        ("pending", "quiet_hours", morning)
    }
    [request] = requests_of(shop)
    assert (request.status, request.due_at, request.claimed_at) == ("pending", morning, None)
    assert line_api.multicasts() == []

    clock.now = morning
    assert delivery.send_due(now=morning) == 3
    [call] = line_api.multicasts()
    assert call.retry_key == request.retry_key
    assert {r.status for r in rows_of(shop)} == {DeliveryStatus.SENT}


def test_a_friend_over_the_cap_leaves_the_request_and_gets_their_own_send_later(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)
    capped = friends[0]
    for days in (0, 1):  # two promotions this week already
        clock.now = NOON_JST - timedelta(days=2 - days)
        delivery.deliver(
            shop, capped, SALE, kind="promotional", now=NOON_JST - timedelta(days=2 - days)
        )
        db.session.commit()
    clock.now = NOON_JST

    rows = broadcast(shop, friends, kind="promotional")

    multicasts = line_api.multicasts()
    assert [sorted(c.json["to"]) for c in multicasts] == [
        sorted(f.line_user_id for f in friends[1:])
    ]
    row = db.session.get(Delivery, rows[0].id)
    assert row is not None
    db.session.refresh(row)
    assert (row.status, row.deferred_reason, row.request_id) == (
        "pending",
        "frequency_cap",
        None,
    )
    assert row.retry_key != multicasts[0].retry_key
    allowed = NOON_JST - timedelta(days=2) + timedelta(days=7)
    assert row.due_at == allowed

    clock.now = allowed
    assert delivery.send_due(now=allowed) == 1
    assert [c.json["to"] for c in line_api.pushes()][-1] == capped.line_user_id
    assert len(line_api.delivered(capped.line_user_id)) == 3


def test_a_request_beyond_the_quota_is_held_and_released_whole(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    line_api.quota_limit, line_api.usage = 1000, 998
    friends = LineUserFactory.create_batch(3, shop=shop)

    broadcast(shop, friends)

    assert line_api.multicasts() == []
    rows = rows_of(shop)
    assert {(r.status, r.deferred_reason) for r in rows} == {("held", "quota")}
    assert rows[0].error.startswith("held: sending would exceed this month's LINE message quota")
    assert [q.status for q in requests_of(shop)] == ["held"]

    line_api.quota_limit = 2000
    channel.quota_checked_at = None
    assert delivery.release_held(shop, now=NOON_JST, reason="quota") == 3
    db.session.commit()  # queues the sweep, which immediate mode runs here

    [call] = line_api.multicasts()
    assert call.retry_key == requests_of(shop)[0].retry_key
    assert {r.status for r in rows_of(shop)} == {DeliveryStatus.SENT}


def test_in_outbox_mode_a_request_settles_its_rows_to_the_outbox(
    shop: Shop, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)  # no channel: the outbox

    broadcast(shop, friends)

    assert {(r.status, r.api) for r in rows_of(shop)} == {(DeliveryStatus.OUTBOX, "outbox")}
    assert [q.status for q in requests_of(shop)] == ["outbox"]
    assert line_api.calls == []
