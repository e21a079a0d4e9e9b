from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from server.db import db, utcnow
from server.ingest.models import WebhookEvent
from server.line import events as line_events
from server.line import webhook
from server.line.models import LineChannel
from server.shops.models import Shop
from tests.factories.line import LineChannelFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.line.conftest import Clock
from tests.line.helpers import post_webhook, sign, webhook_body

USER = "U" + "a" * 32


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


def stored(topic: str | None = None) -> list[WebhookEvent]:
    query = select(WebhookEvent).where(WebhookEvent.source == "line").order_by(WebhookEvent.id)
    if topic:
        query = query.where(WebhookEvent.topic == topic)
    return list(db.session.scalars(query))


# Signatures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        # LINE docs, "Signature verification procedure" (the console's Verify request)
        (
            "8c570fa6dd201bb328f1c1eac23a96d8",
            b'{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}',
            "GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs=",
        ),
        # line-bot-sdk-python tests/v3/test_webhook.py
        ("channel_secret", b"bodybodybodybody", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k="),
        # line-bot-sdk-nodejs test/validate-signature.spec.ts
        ("test_secret", b'{"hello":"world"}', "t7Hn4ZDHqs6e+wdvI5TyQIvzie0DmMUmuXEBqyyE/tM="),
    ],
)
def test_the_official_signature_examples_verify(secret: str, body: bytes, signature: str) -> None:
    assert webhook.signature_valid(secret, body, signature)
    assert not webhook.signature_valid(secret, body + b" ", signature)
    assert not webhook.signature_valid(secret.upper(), body, signature)


def test_the_consoles_verify_request_gets_200(client: FlaskClient, shop: Shop) -> None:
    channel = LineChannelFactory(shop=shop, channel_secret="8c570fa6dd201bb328f1c1eac23a96d8")
    db.session.commit()
    body = b'{"destination":"U8e742f61d673b39c7fff3cecb7536ef0","events":[]}'

    response = post_webhook(
        client, channel, [], body=body, signature="GhRKmvmHys4Pi8DxkF4+EayaH0OqtJtaZxgTD9fMDLs="
    )

    assert response.status_code == 200
    assert stored() == []


def test_the_old_verify_request_without_destination_or_event_ids_is_accepted(
    client: FlaskClient, channel: LineChannel, line_api: LineStandIn
) -> None:
    events = [
        {
            "type": "message",
            "replyToken": "0" * 32,
            "source": {"type": "user", "userId": USER},
            "timestamp": 1,
            "message": {"id": "100001", "type": "text", "text": "Hello, world"},
        },
        {
            "type": "message",
            "replyToken": "f" * 32,
            "source": {"type": "user", "userId": USER},
            "timestamp": 1,
            "message": {"id": "100002", "type": "sticker", "packageId": "1", "stickerId": "1"},
        },
    ]
    body = json.dumps({"events": events}).encode()

    response = post_webhook(client, channel, [], body=body)

    assert response.status_code == 200
    assert [e.event_id.startswith("sha256:") for e in stored()] == [True, True]
    assert line_api.replies() == []  # never reply to the dummy tokens


@pytest.mark.parametrize(
    "forge",
    [
        "missing",
        "empty",
        "wrong_secret",
        "hex_decoded_secret",
        "reserialized_body",
        "base64url",
        "another_channels_secret",
    ],
)
def test_forged_or_missing_signatures_get_401_and_store_nothing(
    client: FlaskClient, channel: LineChannel, forge: str
) -> None:
    body = webhook_body([helpers.follow(USER)])
    secret = channel.channel_secret or ""
    signatures = {
        "missing": None,
        "empty": "",
        "wrong_secret": sign("0" * 32, body),
        "hex_decoded_secret": __import__("base64")
        .b64encode(__import__("hmac").new(bytes.fromhex(secret), body, "sha256").digest())
        .decode(),
        "reserialized_body": sign(secret, json.dumps(json.loads(body), indent=2).encode()),
        "base64url": sign(secret, body).replace("+", "-").replace("/", "_").rstrip("="),
        "another_channels_secret": sign(LineChannelFactory().channel_secret or "", body),
    }
    headers = {"Content-Type": "application/json"}
    if signatures[forge] is not None:
        headers["X-Line-Signature"] = signatures[forge]

    response = client.post(f"/line/webhook/{channel.channel_key}", data=body, headers=headers)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_line_signature"
    assert stored() == []


@pytest.mark.parametrize(
    "signature",
    ["署名", "é" * 44, "=" * 44, "x" * 10_000],  # non-ASCII, padding only, far too long
)
def test_signatures_that_are_not_base64_get_401_not_500(
    client: FlaskClient, channel: LineChannel, signature: str
) -> None:
    response = post_webhook(client, channel, [helpers.follow(USER)], signature=signature)

    assert response.status_code == 401
    assert response.json["error"] == "invalid_line_signature"
    assert stored() == []


def test_a_malformed_body_with_a_wrong_signature_is_401_it_is_never_parsed(
    client: FlaskClient, channel: LineChannel
) -> None:
    response = post_webhook(client, channel, [], body=b"not json", signature=sign("0" * 32, b"x"))

    assert response.status_code == 401
    assert stored() == []


def test_header_names_are_case_insensitive(client: FlaskClient, channel: LineChannel) -> None:
    body = webhook_body([])
    response = client.post(
        f"/line/webhook/{channel.channel_key}",
        data=body,
        headers={"x-line-signature": sign(channel.channel_secret or "", body)},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "text",
    ["こんにちは、注文の件です", "絵文字も😀🎉👨‍👩‍👧", '改行\nと"引用"と\\バックスラッシュ'],
)
@pytest.mark.parametrize("escaped", [False, True])
def test_japanese_and_emoji_bodies_verify_over_the_exact_bytes(
    client: FlaskClient, channel: LineChannel, line_api: LineStandIn, text: str, escaped: bool
) -> None:
    event = helpers.text_message(USER, text)
    body = json.dumps(
        {"destination": helpers.BOT_USER_ID, "events": [event]}, ensure_ascii=escaped
    ).encode("utf-8")

    response = post_webhook(client, channel, [], body=body)

    assert response.status_code == 200
    [row] = stored("message")
    assert row.payload["message"]["text"] == text


def test_during_a_secret_rotation_the_previous_secret_still_verifies_for_an_hour(
    client: FlaskClient, channel: LineChannel
) -> None:
    old = channel.channel_secret
    channel.previous_channel_secret = old
    channel.previous_secret_expires_at = utcnow() + timedelta(minutes=30)
    channel.channel_secret = "1" * 32
    db.session.commit()
    body = webhook_body([])

    assert (
        post_webhook(client, channel, [], body=body, signature=sign(old or "", body)).status_code
        == 200
    )

    channel.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert (
        post_webhook(client, channel, [], body=body, signature=sign(old or "", body)).status_code
        == 401
    )


# Routing and bodies ------------------------------------------------------------------------------


def test_an_unknown_channel_key_is_404(client: FlaskClient, channel: LineChannel) -> None:
    body = webhook_body([])
    response = client.post(
        "/line/webhook/not-a-key",
        data=body,
        headers={"X-Line-Signature": sign(channel.channel_secret or "", body)},
    )
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b"\xff\xfe{}", "not UTF-8 JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"destination": "U0"}', "no events list"),
        (b'{"events": {}}', "no events list"),
        (b'{"events": [42]}', "event 0 has no type"),
        (b'{"events": [{"type": 7}]}', "event 0 has no type"),
        (b'{"events": [{"type": "follow", "webhookEventId": 5}]}', "invalid webhookEventId"),
        (b'{"events": [{"type": "follow", "timestamp": "x"}]}', "invalid timestamp"),
    ],
)
def test_a_malformed_body_is_400_and_changes_nothing(
    client: FlaskClient, channel: LineChannel, body: bytes, message: str
) -> None:
    response = post_webhook(client, channel, [], body=body)

    assert response.status_code == 400
    assert message in response.json["message"]
    assert stored() == []


def test_a_redelivered_event_is_stored_and_processed_once(
    client: FlaskClient, channel: LineChannel, line_api: LineStandIn
) -> None:
    event = helpers.text_message(USER, "在庫はありますか？")
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}

    assert post_webhook(client, channel, [event]).status_code == 200
    assert post_webhook(client, channel, [redelivered]).status_code == 200

    [row] = stored("message")
    assert row.processed_at is not None
    from server.inbox.models import Message

    assert db.session.query(Message).filter(Message.direction == "in").count() == 1


def test_a_database_outage_answers_503_so_line_redelivers(
    client: FlaskClient, channel: LineChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**_: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(webhook, "record_event", down)

    response = post_webhook(client, channel, [helpers.follow(USER)])

    assert response.status_code == 503


# Every event type in the docs --------------------------------------------------------------------

DOCUMENTED = {
    "join": {"source": {"type": "group", "groupId": "C" + "1" * 32}},
    "leave": {"source": {"type": "group", "groupId": "C" + "1" * 32}},
    "memberJoined": {"joined": {"members": [{"type": "user", "userId": USER}]}},
    "memberLeft": {"left": {"members": [{"type": "user", "userId": USER}]}},
    "beacon": {"beacon": {"hwid": "d41d8cd98f", "type": "enter"}},
    "things": {"things": {"deviceId": "t2", "type": "link"}},
    "videoPlayComplete": {"videoPlayComplete": {"trackingId": "track-1"}},
    "unsend": {"unsend": {"messageId": "325708"}},
    "module": {"module": {"type": "attached", "botId": "U" + "c" * 32, "scopes": ["message"]}},
    "activated": {"chatControl": {"expireAt": 1462629479859}},
    "deactivated": {},
    "botSuspended": {},
    "botResumed": {},
    "membership": {"membership": {"type": "joined", "membershipId": 3189}},
    "delivery": {"delivery": {"data": "Uxxxx"}},
    "somethingLINEAddsLater": {"surprise": {"nested": [1, 2, 3]}},
}


@pytest.mark.parametrize("kind", sorted(DOCUMENTED))
def test_event_types_without_a_handler_are_stored_and_acknowledged(
    client: FlaskClient, channel: LineChannel, kind: str
) -> None:
    event = helpers.event(kind, USER, **DOCUMENTED[kind])

    response = post_webhook(client, channel, [event])

    assert response.status_code == 200
    [row] = stored(kind)
    assert row.event_id == event["webhookEventId"]
    assert row.processed_at is not None
    assert row.last_error is None


def test_several_events_from_several_users_in_one_request(
    client: FlaskClient, channel: LineChannel, line_api: LineStandIn
) -> None:
    other = "U" + "d" * 32
    response = post_webhook(
        client,
        channel,
        [helpers.text_message(USER, "こんにちは"), helpers.follow(other), helpers.unfollow(USER)],
    )
    assert response.status_code == 200
    assert [e.topic for e in stored()] == ["message", "follow", "unfollow"]


def test_a_failing_handler_keeps_the_event_for_the_sweep(
    client: FlaskClient,
    channel: LineChannel,
    monkeypatch: pytest.MonkeyPatch,
    line_api: LineStandIn,
    clock: Clock,
) -> None:
    calls: list[str] = []

    def broken(ctx: line_events.Context) -> None:
        calls.append(ctx.event["type"])
        raise RuntimeError("handler bug")

    monkeypatch.setitem(line_events.HANDLERS, "follow", broken)

    response = post_webhook(client, channel, [helpers.follow(USER)])

    assert response.status_code == 200  # stored first; the failure is the worker's business
    assert calls == ["follow"]

    [row] = stored("follow")
    db.session.refresh(row)
    assert row.processed_at is None
    assert "handler bug" in (row.last_error or "")

    monkeypatch.setitem(line_events.HANDLERS, "follow", line_events.on_follow)
    from server.line.tasks import sweep_line_events

    clock.now = row.received_at + timedelta(minutes=10)
    db.session.commit()
    sweep_line_events.call_local()
    db.session.refresh(row)
    assert row.processed_at is not None
