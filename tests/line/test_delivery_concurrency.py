"""The concurrent sender: nothing sent twice or lost when LINE answers 429/5xx/409 or times
out in a mix, a worker that dies mid-batch, and the per-channel rate limit."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from server.db import db
from server.line import client, delivery
from server.line.models import Delivery, DeliveryStatus, LineChannel, LineUser
from server.shops.models import Shop
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.line.conftest import NOON_JST, Clock

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"


@pytest.fixture(autouse=True)
def _noon(clock: Clock) -> None:
    clock.now = NOON_JST


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


def personal(user: LineUser) -> list[dict[str, Any]]:
    return [{"type": "text", "text": f"{user.line_user_id[-4:]}さん、ご注文ありがとうございます"}]


def rows_of(shop: Shop) -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.query(Delivery).filter_by(shop_id=shop.id).order_by(Delivery.id))


def settle(shop: Shop, clock: Clock) -> list[Delivery]:
    """Run the sweep as time passes until nothing is pending (retries come due)."""
    now = NOON_JST
    for _ in range(delivery.MAX_ATTEMPTS + 2):
        rows = rows_of(shop)
        pending = [r for r in rows if r.status == DeliveryStatus.PENDING]
        if not pending:
            return rows
        now = max(now, *(r.due_at for r in pending))
        clock.now = now
        delivery.send_due(now=now)
    return rows_of(shop)


def test_a_mix_of_429_5xx_and_time_outs_sends_every_personal_push_exactly_once(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(40, shop=shop)
    line_api.fail(PUSH, 429, times=6)
    line_api.fail(PUSH, 500, times=4)
    line_api.fail(PUSH, 503, times=4)
    line_api.time_out(PUSH, times=3)  # accepted, answer lost: the retry gets 409

    for friend in friends:
        delivery.deliver(shop, friend, personal(friend), kind="transactional", now=NOON_JST)
    db.session.commit()  # one task for all 40, sent concurrently
    rows = settle(shop, clock)

    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    for friend, row in zip(friends, rows, strict=True):
        assert line_api.delivered(friend.line_user_id) == [("push", personal(friend))]
        tries = [c for c in line_api.pushes() if c.json["to"] == friend.line_user_id]
        assert {c.retry_key for c in tries} == {row.retry_key}  # every try, the same key
        assert {c.json["messages"][0]["text"] for c in tries} == {personal(friend)[0]["text"]}
    statuses = [c.status for c in line_api.pushes()]
    assert statuses.count(409) == 3  # the time-outs' retries: LINE had them already
    assert len(statuses) == 40 + 6 + 4 + 4 + 3


def test_a_mix_of_failures_sends_a_multicast_to_every_recipient_exactly_once(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, clock: Clock
) -> None:
    friends = LineUserFactory.create_batch(2300, shop=shop)
    line_api.fail(MULTICAST, 429, times=2)
    line_api.fail(MULTICAST, 502, times=1)
    line_api.time_out(MULTICAST, times=1)
    message = [{"type": "text", "text": "週末セール 🎉"}]

    delivery.deliver_many(shop, friends, message, kind="transactional", now=NOON_JST)
    db.session.commit()
    rows = settle(shop, clock)

    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    delivered = [to for api, to, _ in line_api._delivered]
    assert sorted(delivered) == sorted(f.line_user_id for f in friends)
    accepted = [c for c in line_api.multicasts() if c.status == 200]
    assert all(len(c.json["to"]) <= 500 for c in line_api.multicasts())
    by_key: dict[str, list[Any]] = {}
    for call in line_api.multicasts():
        by_key.setdefault(call.retry_key or "", []).append(call.json)
    assert all(body == bodies[0] for bodies in by_key.values() for body in bodies)
    assert len(accepted) == len(by_key) == 5  # 2,300 = 4 × 500 + 300, each accepted once


def test_a_worker_that_dies_mid_batch_leaves_claims_that_are_resent_with_the_same_keys(
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    friends = LineUserFactory.create_batch(6, shop=shop)
    crowd = LineUserFactory.create_batch(700, shop=shop)

    def die(*_args: Any, **_kwargs: Any) -> None:
        # The worker is gone after the requests left and before any result was written;
        # what it committed (claims, APIs, retry keys) is all the database keeps.
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(delivery, "_apply_results", die)
        for friend in friends:
            delivery.deliver(shop, friend, personal(friend), kind="transactional", now=NOON_JST)
        delivery.deliver_many(
            shop, crowd, [{"type": "text", "text": "再入荷"}], kind="transactional", now=NOON_JST
        )
        db.session.commit()  # the send tasks run here (immediate mode) and die; logged

    stuck = rows_of(shop)
    assert {r.status for r in stuck} == {DeliveryStatus.SENDING}
    keys = {r.id: r.retry_key for r in stuck}
    first_calls = len(line_api.pushes()) + len(line_api.multicasts())
    assert first_calls == 6 + 2  # everything left before the crash (700 = 500 + 200)
    assert delivery.send_due(now=NOON_JST + timedelta(minutes=5)) == 0  # lease not over

    later = NOON_JST + delivery.CLAIM_LEASE + timedelta(seconds=1)
    clock.now = later
    assert delivery.send_due(now=later) == 706

    rows = rows_of(shop)
    assert {r.status for r in rows} == {DeliveryStatus.SENT}
    assert {r.id: r.retry_key for r in rows} == keys
    sends = [c for c in line_api.calls if c.path in (PUSH, MULTICAST)]  # in arrival order
    assert {c.status for c in sends[first_calls:]} == {409}  # LINE had them: none twice
    assert len(line_api.delivered()) == 706
    assert all(r.accepted_request_id for r in rows)


class LimiterClock:
    """The rate limiter's time, frozen at 0 and shared by the sender threads: a token taken
    without waiting leaves at 0, one that waits `s` seconds leaves at `s`. Sleeping is
    recorded, not done, so the count is exact however loaded the machine is."""

    def __init__(self) -> None:
        self.reads = 0  # one per token taken (TokenBucket.acquire reads the clock once)
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            self.reads += 1
        return 0.0

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)


def test_sends_keep_to_the_channels_rate_limit(
    app: Flask,
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter = LimiterClock()
    monkeypatch.setattr(client, "_buckets", {})  # a bucket of its own, on the fake clock
    monkeypatch.setattr(client, "bucket_clock", limiter.clock)
    monkeypatch.setattr(client, "bucket_sleep", limiter.sleep)
    monkeypatch.setitem(app.config, "LINE_RATE_LIMITS", {"push": 40})  # 36/s, bursts of 2
    friends = LineUserFactory.create_batch(30, shop=shop)

    for friend in friends:
        delivery.deliver(shop, friend, personal(friend), kind="transactional", now=NOON_JST)
    db.session.commit()  # one task, 48 sender threads

    assert len(line_api.pushes()) == 30
    assert limiter.reads == 1 + 30  # the bucket's start, then one token per request
    rate, burst = 40 * client.RATE_SHARE, max(1.0, 40 * client.BURST_SHARE)
    assert (rate, burst) == (36.0, 2.0)
    # When each request left by the limiter's clock: the burst at once, the rest after their
    # waits. Unthrottled, all 30 would leave at 0.
    leaves = sorted([0.0] * (30 - len(limiter.waits)) + limiter.waits)
    assert leaves[-1] == pytest.approx((30 - burst) / rate)
    for i, start in enumerate(leaves):  # any window holds at most burst + rate × its length
        for j in range(i, len(leaves)):
            assert j - i + 1 <= burst + rate * (leaves[j] - start) + 1e-9
    assert len(line_api.delivered()) == 30


def test_the_token_bucket_spaces_requests_after_a_burst() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    bucket = client.TokenBucket(10.0, 2.0, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.acquire() == pytest.approx(0.1)
    assert bucket.acquire() == pytest.approx(0.2)  # queued behind the previous one
    now[0] += 10  # idle: the bucket refills up to its capacity, not beyond
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.1)
    assert waits == pytest.approx([0.1, 0.2, 0.1])


def test_each_channel_has_its_own_buckets(app: Flask) -> None:
    with app.app_context():
        a, b = client.target("token-a"), client.target("token-b")
    assert client.bucket(a, "push") is client.bucket(a, "push")
    assert client.bucket(a, "push") is not client.bucket(b, "push")
    assert client.bucket(a, "multicast").rate == pytest.approx(200 * client.RATE_SHARE)
    assert client.bucket(a, "push").rate == pytest.approx(2000 * client.RATE_SHARE)
