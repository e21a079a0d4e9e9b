from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from server.db import db, utcnow
from server.line import delivery
from server.line.messages import InvalidMessages
from server.line.models import Delivery, DeliveryStatus, LineChannel, LineUser
from server.shopify import install
from server.shopify.tokens import TokenGrant
from server.shops.models import Shop
from server.shops.services import mark_uninstalled
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.fakes.shopify_api import ShopifyStandIn
from tests.line.conftest import NOON_JST, Clock
from tests.shopify.conftest import shop_details  # noqa: F401 - a fixture

HELLO = [{"type": "text", "text": "ご注文ありがとうございます 🎉"}]


@pytest.fixture(autouse=True)
def _noon(clock: Clock) -> None:
    clock.now = NOON_JST  # the worker's clock agrees with the `now` these tests pass


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


@pytest.fixture
def friend(shop: Shop) -> LineUser:
    return LineUserFactory(shop=shop)


def reload(row: Delivery) -> Delivery:
    db.session.expire_all()
    found = db.session.get(Delivery, row.id)
    assert found is not None
    return found


def send(shop: Shop, user: LineUser, messages: list[dict[str, Any]] = HELLO, **kw: Any) -> Delivery:
    kw.setdefault("kind", "transactional")
    kw.setdefault("now", NOON_JST)
    clock = kw.pop("clock", None)
    if clock is not None:
        clock.now = kw["now"]
    row = delivery.deliver(shop, user, messages, **kw)
    db.session.commit()  # sending is queued for after the commit (immediate mode runs it)
    return reload(row)


def test_a_delivery_is_pushed_once_with_a_uuid_retry_key(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    row = send(shop, friend)

    assert row.status == DeliveryStatus.SENT
    assert row.api == "push"
    [push] = line_api.pushes()
    assert push.retry_key == row.retry_key
    assert uuid.UUID(row.retry_key).version == 4
    assert push.headers["authorization"] == f"Bearer {channel.channel_access_token}"
    assert line_api.delivered(friend.line_user_id) == [("push", HELLO)]
    assert row.sent_message_ids
    assert row.sent_message_ids[0]
    assert row.line_request_id


def test_without_a_channel_messages_go_to_the_outbox(
    shop: Shop, friend: LineUser, line_api: LineStandIn
) -> None:
    row = send(shop, friend)

    assert row.status == DeliveryStatus.OUTBOX
    assert line_api.calls == []


def test_a_timed_out_push_is_retried_with_the_same_key_and_delivered_once(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.time_out("/v2/bot/message/push")  # LINE takes it, but the answer comes too late

    row = send(shop, friend)

    first, second = line_api.pushes()
    assert first.retry_key == second.retry_key == row.retry_key
    assert first.json == second.json
    assert second.status == 409
    assert row.status == DeliveryStatus.SENT
    assert row.accepted_request_id  # x-line-accepted-request-id of the first request
    assert line_api.delivered(friend.line_user_id) == [("push", HELLO)]


def test_server_errors_and_rate_limits_are_retried_until_accepted(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.fail("/v2/bot/message/push", 500)
    line_api.fail("/v2/bot/message/push", 429)

    row = send(shop, friend)

    assert [c.status for c in line_api.pushes()] == [500, 429, 200]
    assert {c.retry_key for c in line_api.pushes()} == {row.retry_key}
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 3
    assert len(line_api.delivered(friend.line_user_id)) == 1


def test_after_the_inline_tries_a_delivery_backs_off_and_the_sweep_sends_it_later(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.fail("/v2/bot/message/push", 503, times=3)

    row = send(shop, friend)

    assert row.status == DeliveryStatus.PENDING
    assert row.deferred_reason == "retry"
    assert row.error == "LINE 503: error 503"
    assert row.due_at > NOON_JST + timedelta(seconds=29)
    assert delivery.send_due(now=NOON_JST + timedelta(seconds=10)) == 0  # not due yet

    assert delivery.send_due(now=row.due_at) == 1
    row = reload(row)
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 4
    assert len({c.retry_key for c in line_api.pushes()}) == 1
    assert line_api.delivered(friend.line_user_id) == [("push", HELLO)]


def test_a_delivery_gives_up_after_the_last_attempt(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.fail("/v2/bot/message/push", 500, times=delivery.MAX_ATTEMPTS)
    row = send(shop, friend)
    while row.status == DeliveryStatus.PENDING:
        delivery.send_due(now=row.due_at)
        row = reload(row)

    assert row.status == DeliveryStatus.FAILED
    assert row.attempts == delivery.MAX_ATTEMPTS
    assert row.error.startswith(f"gave up after {delivery.MAX_ATTEMPTS} attempts")
    assert line_api.delivered() == []


def test_a_rejected_request_fails_with_lines_error_and_is_not_retried(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.fail(
        "/v2/bot/message/push",
        400,
        {"message": "Failed to send messages", "details": [{"message": "x", "property": "to"}]},
    )

    row = send(shop, friend)

    assert row.status == DeliveryStatus.FAILED
    assert row.error == "LINE 400: Failed to send messages — to: x"
    assert len(line_api.pushes()) == 1
    assert delivery.send_due(now=NOON_JST + timedelta(days=1)) == 0


def test_one_batch_with_accepted_rejected_and_retried_requests_writes_each_rows_own_outcome(
    shop: Shop,
    channel: LineChannel,
    line_api: LineStandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One sender thread: the requests leave in planned order, so the stand-in's answers land
    # on known rows (a 400 on the first push, three 500s on the second, then all accepted).
    monkeypatch.setattr(delivery, "SEND_THREADS", 1)
    later = NOON_JST + timedelta(hours=1)
    rejected, retried, one, two = LineUserFactory.create_batch(4, shop=shop)
    crowd = LineUserFactory.create_batch(3, shop=shop)
    texts = {"one": HELLO, "two": [*HELLO, {"type": "text", "text": "2通目"}]}
    rows = {
        "rejected": delivery.deliver(
            shop, rejected, HELLO, kind="transactional", not_before=later, now=NOON_JST
        ),
        "retried": delivery.deliver(
            shop, retried, HELLO, kind="transactional", not_before=later, now=NOON_JST
        ),
        "one": delivery.deliver(
            shop, one, texts["one"], kind="transactional", not_before=later, now=NOON_JST
        ),
        "two": delivery.deliver(
            shop, two, texts["two"], kind="transactional", not_before=later, now=NOON_JST
        ),
    }
    many = delivery.deliver_many(
        shop, crowd, HELLO, kind="transactional", not_before=later, now=NOON_JST
    )
    db.session.commit()
    line_api.fail("/v2/bot/message/push", 400, {"message": "The property, 'to', is invalid"})
    line_api.fail("/v2/bot/message/push", 500, times=delivery.INLINE_ATTEMPTS)
    clock.now = later

    assert delivery.send_due(now=later) == 7  # all seven in one claim

    got = {name: reload(row) for name, row in rows.items()}
    assert got["rejected"].status == DeliveryStatus.FAILED
    assert got["rejected"].error == "LINE 400: The property, 'to', is invalid"
    assert (got["rejected"].attempts, got["rejected"].sent_at) == (1, None)
    assert got["retried"].status == DeliveryStatus.PENDING
    assert got["retried"].deferred_reason == "retry"
    assert got["retried"].attempts == delivery.INLINE_ATTEMPTS
    assert got["retried"].error.startswith("LINE 500")
    assert got["retried"].due_at > later
    assert (got["retried"].api, got["retried"].claim) == ("push", None)
    for name in ("one", "two"):  # each row holds the ids LINE gave its own messages
        assert got[name].status == DeliveryStatus.SENT
        assert len(got[name].sent_message_ids) == len(texts[name])
        assert got[name].line_request_id
        assert got[name].claim is None
    assert max(map(int, got["one"].sent_message_ids)) < min(map(int, got["two"].sent_message_ids))
    crowd_rows = [reload(r) for r in many]
    assert {r.status for r in crowd_rows} == {DeliveryStatus.SENT}
    assert {r.api for r in crowd_rows} == {"multicast"}
    [multicast] = line_api.multicasts()
    assert {r.retry_key for r in crowd_rows} == {multicast.retry_key}
    assert len({r.line_request_id for r in crowd_rows}) == 1

    retry_at = got["retried"].due_at
    clock.now = retry_at
    assert delivery.send_due(now=retry_at) == 1
    assert reload(rows["retried"]).status == DeliveryStatus.SENT
    pushes = [c for c in line_api.pushes() if c.json["to"] == retried.line_user_id]
    assert {c.retry_key for c in pushes} == {got["retried"].retry_key}
    assert [c.status for c in pushes] == [500] * delivery.INLINE_ATTEMPTS + [200]
    assert line_api.delivered(retried.line_user_id) == [("push", HELLO)]
    assert reload(rows["rejected"]).status == DeliveryStatus.FAILED  # never retried


def test_identical_content_goes_out_as_multicast_in_chunks_of_500(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(1001, shop=shop)

    rows = delivery.deliver_many(shop, friends, HELLO, kind="transactional", now=NOON_JST)
    db.session.commit()

    sizes = sorted(len(c.json["to"]) for c in line_api.multicasts())
    assert sizes == [1, 500, 500] or (sizes == [500, 500] and len(line_api.pushes()) == 1)
    assert len({c.retry_key for c in line_api.multicasts()}) == len(line_api.multicasts())
    statuses = {reload(r).status for r in rows}
    assert statuses == {DeliveryStatus.SENT}
    delivered = line_api.delivered()
    assert len(delivered) == 1001
    assert {m[0]["text"] for _, m in delivered} == {HELLO[0]["text"]}


def test_a_timed_out_multicast_is_repeated_identically(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    friends = LineUserFactory.create_batch(3, shop=shop)
    line_api.time_out("/v2/bot/message/multicast")

    rows = delivery.deliver_many(shop, friends, HELLO, kind="transactional", now=NOON_JST)
    db.session.commit()

    first, second = line_api.multicasts()
    assert first.json == second.json
    assert first.retry_key == second.retry_key
    assert second.status == 409
    assert {reload(r).retry_key for r in rows} == {first.retry_key}
    assert sorted(to for to in [f.line_user_id for f in friends]) == sorted(first.json["to"])
    assert len(line_api.delivered()) == 3


def test_a_fresh_reply_token_is_used_first_and_costs_no_quota(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    row = send(shop, friend, reply_token="r" * 32, reply_token_received_at=NOON_JST)

    assert row.api == "reply"
    [reply] = line_api.replies()
    assert reply.json == {"replyToken": "r" * 32, "messages": HELLO}
    assert "x-line-retry-key" not in reply.headers  # LINE answers 400 to a retry key on reply
    assert line_api.pushes() == []
    assert line_api.requests("/v2/bot/message/quota") == []


def test_an_expired_reply_token_falls_back_to_push(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.expire_reply_token("e" * 32)

    row = send(shop, friend, reply_token="e" * 32)

    assert [c.status for c in line_api.replies()] == [400]
    assert row.api == "push"
    assert row.status == DeliveryStatus.SENT
    assert line_api.delivered(friend.line_user_id) == [("push", HELLO)]


def test_a_stale_reply_token_is_not_even_tried(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    row = send(
        shop, friend, reply_token="s" * 32, reply_token_received_at=NOON_JST - timedelta(minutes=2)
    )

    assert line_api.replies() == []
    assert row.api == "push"
    assert row.status == DeliveryStatus.SENT


def test_a_reply_whose_answer_was_lost_is_not_pushed_again(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.time_out("/v2/bot/message/reply")  # LINE used the token; we never heard back

    row = send(shop, friend, reply_token="t" * 32)

    assert [c.status for c in line_api.replies()] == [200, 400]
    assert line_api.pushes() == []
    assert row.status == DeliveryStatus.SENT
    assert line_api.delivered_texts() == [HELLO[0]["text"]]


@pytest.mark.parametrize(
    ("local_time", "deferred_until_utc"),
    [
        ("22:30", datetime(2026, 11, 24, 0, 0, tzinfo=UTC)),  # → 09:00 next morning JST
        ("07:15", datetime(2026, 11, 23, 0, 0, tzinfo=UTC)),  # → 09:00 the same morning
    ],
)
def test_promotions_wait_for_the_end_of_quiet_hours_and_transactional_messages_do_not(
    shop: Shop,
    channel: LineChannel,
    friend: LineUser,
    line_api: LineStandIn,
    local_time: str,
    deferred_until_utc: datetime,
    clock: Clock,
) -> None:
    hour, minute = map(int, local_time.split(":"))
    jst = datetime(2026, 11, 23, hour, minute, tzinfo=ZoneInfo("Asia/Tokyo"))
    now = jst.astimezone(UTC)

    promo = send(shop, friend, kind="promotional", now=now, clock=clock)
    receipt = send(shop, friend, kind="transactional", now=now, clock=clock)

    assert promo.status == DeliveryStatus.PENDING
    assert promo.deferred_reason == "quiet_hours"
    assert promo.due_at == deferred_until_utc
    assert receipt.status == DeliveryStatus.SENT
    assert len(line_api.pushes()) == 1

    delivery.send_due(now=deferred_until_utc)
    assert reload(promo).status == DeliveryStatus.SENT
    assert len(line_api.delivered(friend.line_user_id)) == 2


def test_quiet_hours_follow_the_shop_settings(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    channel.quiet_hours_start, channel.quiet_hours_end = "11:00", "13:00"
    shop.timezone = "Asia/Tokyo"
    db.session.flush()

    promo = send(shop, friend, kind="promotional")  # 12:00 JST

    assert promo.due_at == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def test_the_frequency_cap_defers_the_third_promotion_of_the_week(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn, clock: Clock
) -> None:
    other = LineUserFactory(shop=shop)
    monday = NOON_JST
    send(shop, friend, kind="promotional", now=monday, clock=clock)
    send(shop, friend, kind="promotional", now=monday + timedelta(days=2), clock=clock)

    thursday = monday + timedelta(days=3)
    third = send(shop, friend, kind="promotional", now=thursday, clock=clock)
    others = send(shop, other, kind="promotional", now=thursday, clock=clock)
    receipt = send(shop, friend, kind="transactional", now=thursday, clock=clock)

    assert third.status == DeliveryStatus.PENDING
    assert third.deferred_reason == "frequency_cap"
    assert third.due_at == monday + timedelta(days=7)
    assert others.status == DeliveryStatus.SENT
    assert receipt.status == DeliveryStatus.SENT

    delivery.send_due(now=monday + timedelta(days=7))
    assert reload(third).status == DeliveryStatus.SENT


def test_sends_beyond_the_monthly_quota_are_held_with_a_clear_message(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    line_api.quota_limit, line_api.usage = 1000, 998
    friends = LineUserFactory.create_batch(3, shop=shop)

    rows = [send(shop, f, [{"type": "text", "text": f"こんにちは {f.id}"}]) for f in friends]

    assert [r.status for r in rows] == ["sent", "sent", "held"]
    assert rows[2].error == (
        "held: sending would exceed this month's LINE message quota (1,000 of 1,000 used)"
    )
    assert len(line_api.pushes()) == 2

    line_api.quota_limit = 2000  # the merchant bought more messages
    channel.quota_checked_at = None
    assert delivery.release_held(shop, now=NOON_JST) == 1
    db.session.commit()
    delivery.send_due(now=NOON_JST)
    assert reload(rows[2]).status == DeliveryStatus.SENT


def test_lines_monthly_limit_answer_holds_instead_of_retrying(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    line_api.fail("/v2/bot/message/push", 429, {"message": "You have reached your monthly limit."})

    row = send(shop, friend)

    assert row.status == DeliveryStatus.HELD
    assert "monthly message limit" in row.error
    assert len(line_api.pushes()) == 1


def test_messages_to_a_blocked_friend_are_cancelled_not_sent(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    friend.blocked_at = NOON_JST
    db.session.flush()

    row = send(shop, friend)

    assert row.status == DeliveryStatus.CANCELLED
    assert line_api.calls == []


def test_a_scheduled_delivery_waits_for_its_time(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    later = NOON_JST + timedelta(hours=3)
    row = send(shop, friend, not_before=later)

    assert row.status == DeliveryStatus.PENDING
    assert row.due_at == later
    assert delivery.send_due(now=later - timedelta(minutes=1)) == 0
    assert delivery.send_due(now=later) == 1
    assert reload(row).status == DeliveryStatus.SENT


def test_a_claim_left_by_a_dead_worker_is_taken_over_with_the_same_key(
    shop: Shop, channel: LineChannel, friend: LineUser, line_api: LineStandIn
) -> None:
    row = delivery.deliver(shop, friend, HELLO, kind="transactional", now=NOON_JST)
    db.session.flush()
    claim = delivery._claim(Delivery.id == row.id, now=NOON_JST, limit=10)  # then the worker dies
    assert claim is not None
    assert delivery.send_due(now=NOON_JST + timedelta(minutes=5)) == 0  # still someone's

    assert delivery.send_due(now=NOON_JST + delivery.CLAIM_LEASE + timedelta(seconds=1)) == 1
    assert reload(row).status == DeliveryStatus.SENT
    assert [c.retry_key for c in line_api.pushes()] == [row.retry_key]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([], "messages must be a non-empty list"),
        ([{"type": "text", "text": "a"}] * 6, "at most 5 messages per request; got 6"),
        ([{"type": "text", "text": "あ" * 5001}], "text is 5,001 characters (UTF-16)"),
        ([{"type": "text", "text": "😀" * 2501}], "text is 5,002 characters"),
        ([{"type": "flex", "contents": {"type": "bubble"}}], "flex messages need an altText"),
        (
            [{"type": "flex", "altText": "x" * 1501, "contents": {"type": "bubble"}}],
            "altText is longer than 1,500",
        ),
        (
            [
                {
                    "type": "flex",
                    "altText": "a",
                    "contents": {
                        "type": "bubble",
                        "body": {
                            "type": "box",
                            "layout": "vertical",
                            "contents": [{"type": "text", "text": "x" * 31000}],
                        },
                    },
                }
            ],
            "LINE allows 30 KB",
        ),
        ([{"type": "carousel"}], "unknown type 'carousel'"),
        (
            [
                {
                    "type": "text",
                    "text": "a",
                    "quickReply": {
                        "items": [
                            {
                                "type": "action",
                                "action": {"type": "message", "label": "l", "text": "t"},
                            }
                        ]
                        * 14
                    },
                }
            ],
            "14 items; LINE allows 13",
        ),
        (
            [
                {
                    "type": "template",
                    "altText": "a",
                    "template": {
                        "type": "buttons",
                        "text": "t",
                        "actions": [{"type": "postback", "label": "l", "data": "d" * 301}],
                    },
                }
            ],
            "postback data is longer than 300",
        ),
    ],
)
def test_messages_beyond_lines_limits_are_refused_with_a_clear_error(
    shop: Shop, friend: LineUser, messages: list[dict[str, Any]], error: str
) -> None:
    with pytest.raises(InvalidMessages) as raised:
        delivery.deliver(shop, friend, messages, kind="transactional", now=NOON_JST)
    assert error in raised.value.message
    assert db.session.query(Delivery).count() == 0


def test_another_shops_friend_cannot_be_messaged(shop: Shop, app: Flask) -> None:
    stranger = LineUserFactory()
    with pytest.raises(delivery.NotFound):
        delivery.deliver(shop, stranger, HELLO, kind="transactional", now=NOON_JST)


def test_nothing_goes_out_for_an_uninstalled_shop_until_it_reinstalls(
    shop: Shop,
    channel: LineChannel,
    friend: LineUser,
    line_api: LineStandIn,
    shop_details: ShopifyStandIn,  # noqa: F811 - what the reinstall asks Shopify
) -> None:
    shop_details.serve_collections({})
    mark_uninstalled(shop, now=NOON_JST)  # app/uninstalled, or a refresh Shopify refused

    row = send(shop, friend, kind="transactional")
    delivery.send_due(now=NOON_JST + timedelta(hours=1))

    assert (row.status, row.deferred_reason) == (DeliveryStatus.HELD, "uninstalled")
    assert row.error == "held: the shop has uninstalled Kizuna"
    assert line_api.pushes() == []

    grant = TokenGrant.from_response(shop_details.connect(shop), now=utcnow())
    install.finish_install(shop.domain, grant, now=NOON_JST + timedelta(hours=2))
    db.session.commit()
    delivery.send_due(now=NOON_JST + timedelta(hours=2))

    assert reload(row).status == DeliveryStatus.SENT
    assert line_api.delivered(friend.line_user_id) == [("push", HELLO)]
