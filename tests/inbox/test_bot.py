"""The FAQ bot on stored incoming messages: answers, data answers, hand-offs, hours, and the
reply token. Deliveries are inspected as the pipeline recorded them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from server.db import db
from server.inbox import bot, services
from server.inbox.models import Conversation, Message
from server.line.models import Delivery
from server.membership import support
from server.membership.models import Member
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.inbox import ConversationFactory, FaqEntryFactory, MessageFactory
from tests.factories.line import LineUserFactory
from tests.factories.shops import ShopFactory

MONDAY_NOON = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo: staff are in
FRIDAY_NIGHT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo


def incoming(
    shop: Shop, text: str | None, *, now: datetime, type_: str = "text", **line_user: Any
) -> tuple[Conversation, Message]:
    conversation = ConversationFactory(
        line_user=LineUserFactory(shop=shop, **line_user), status="open", last_message_at=now
    )
    message = MessageFactory(
        conversation=conversation,
        type=type_,
        text=text,
        reply_token="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
        reply_token_received_at=now,
        created_at=now,
    )
    return conversation, message


def sent(message: Message | None) -> list[dict[str, Any]]:
    assert message is not None
    assert message.delivery_id is not None
    delivery = db.session.get(Delivery, message.delivery_id)
    assert delivery is not None
    return delivery.messages


def test_a_faq_question_is_answered_with_the_reply_token(app_ctx: None) -> None:
    shop = ShopFactory()
    entry = FaqEntryFactory(
        shop=shop, quick_replies=[{"label": "送料の詳細", "url": "https://example.jp/shipping"}]
    )
    conversation, question = incoming(shop, "送料ってｲｸﾗ？", now=MONDAY_NOON)

    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)

    assert outcome.action == "answered"
    assert outcome.match is not None
    assert outcome.match.key == entry.id
    reply = outcome.reply
    assert reply is not None
    assert reply.sender == "bot"
    (line_message,) = sent(reply)
    assert line_message["text"] == entry.answer
    labels = [item["action"]["label"] for item in line_message["quickReply"]["items"]]
    assert labels == ["送料の詳細", "人と話したい"]  # a person is always one tap away
    delivery = db.session.get(Delivery, reply.delivery_id)
    assert delivery is not None
    assert delivery.reply_token == question.reply_token
    assert question.reply_token_used_at == MONDAY_NOON
    assert conversation.status == "resolved"  # nothing left for staff
    assert reply.payload["bot"]["faq_entry_id"] == entry.id
    db.session.refresh(entry)
    assert entry.hits == 1


def test_a_question_below_the_threshold_goes_to_staff(app_ctx: None) -> None:
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "御社の工場見学はできますか", now=MONDAY_NOON)

    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)

    assert (outcome.action, outcome.reason) == ("handed_off", "below_threshold")
    assert conversation.status == "open"
    assert conversation.handed_off_at == MONDAY_NOON
    assert sent(outcome.reply)[0]["text"] == "担当者が確認してお返事します。少々お待ちください。"


def test_outside_hours_the_bot_says_when_staff_answer(app_ctx: None) -> None:
    shop = ShopFactory()
    conversation, question = incoming(shop, "人と話したい", now=FRIDAY_NIGHT)

    outcome = bot.answer(shop, conversation, question, now=FRIDAY_NIGHT)

    assert outcome.reason == "asked_for_person"
    assert "11月30日(月) 10:00" in sent(outcome.reply)[0]["text"]


def test_asking_for_a_person_wins_over_a_matching_faq(app_ctx: None) -> None:
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "送料について担当者と話したいです", now=MONDAY_NOON)
    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)
    assert (outcome.action, outcome.reason) == ("handed_off", "asked_for_person")
    assert sent(outcome.reply)[0]["text"].startswith("担当者におつなぎします")


def test_once_staff_took_over_the_bot_stays_quiet(app_ctx: None) -> None:
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "送料はいくらですか", now=MONDAY_NOON)
    conversation.handed_off_at = MONDAY_NOON - timedelta(minutes=5)
    conversation.status = "waiting"

    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)

    assert outcome.action == "quiet"
    assert conversation.status == "open"  # the customer wrote: it needs staff again
    assert db.session.query(Delivery).count() == 0


def test_stickers_get_no_answer_and_images_go_to_staff(app_ctx: None) -> None:
    shop = ShopFactory()
    conversation, sticker = incoming(shop, None, type_="sticker", now=MONDAY_NOON)
    assert bot.answer(shop, conversation, sticker, now=MONDAY_NOON).action == "quiet"
    conversation, image = incoming(shop, None, type_="image", now=MONDAY_NOON)
    assert bot.answer(shop, conversation, image, now=MONDAY_NOON).reason == "media"


def test_english_speakers_get_english_bot_text(app_ctx: None) -> None:
    shop = ShopFactory()
    conversation, question = incoming(shop, "talk to a person", now=MONDAY_NOON, language="en")
    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)
    assert sent(outcome.reply)[0]["text"].startswith("Connecting you to our team")


def test_a_linked_customer_gets_their_latest_order_with_its_tracking_link(app_ctx: None) -> None:
    shop = ShopFactory()
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, name="#1001", processed_at=MONDAY_NOON - timedelta(days=30))
    OrderFactory(
        customer=customer,
        name="#1002",
        processed_at=MONDAY_NOON - timedelta(days=2),
        fulfillment_status="fulfilled",
        extra={"fulfillments": [{"tracking_urls": ["https://track.example.jp/123"]}]},
    )
    conversation, question = incoming(
        shop, "注文した荷物の配送状況を教えて", now=MONDAY_NOON, customer=customer
    )

    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)

    assert outcome.reason == "intent:order_status"
    text = sent(outcome.reply)[0]["text"]
    assert "#1002" in text
    assert "発送済み" in text
    assert "https://track.example.jp/123" in text


def test_points_are_answered_from_the_ledger_balance(app_ctx: None) -> None:
    shop = ShopFactory()
    customer = CustomerFactory(shop=shop)
    db.session.add(
        Member(
            shop_id=shop.id,
            customer_id=customer.id,
            member_number="1000000001",
            points_balance=1250,
        )
    )
    conversation, question = incoming(
        shop, "今何ポイントありますか", now=MONDAY_NOON, customer=customer
    )
    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)
    assert "1,250" in sent(outcome.reply)[0]["text"]


def test_an_unlinked_friend_asking_for_orders_is_invited_to_link(app_ctx: None) -> None:
    shop = ShopFactory()
    conversation, question = incoming(shop, "私の注文の状況を知りたい", now=MONDAY_NOON)
    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)
    assert outcome.action == "answered"
    (line_message,) = sent(outcome.reply)
    assert "連携" in line_message["text"]
    # The button sends the link keyword, which starts LINE's account-link flow.
    assert line_message["quickReply"]["items"][0]["action"]["text"] == "連携"


def test_a_subscriber_without_a_known_date_goes_to_staff(app_ctx: None) -> None:
    shop = ShopFactory(settings={"subscriber_tags": ["定期購入"]})
    customer = CustomerFactory(shop=shop, tags=["定期購入"])
    conversation, question = incoming(
        shop, "次回の定期便はいつ届きますか", now=MONDAY_NOON, customer=customer
    )
    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)
    assert (outcome.action, outcome.reason) == ("handed_off", "intent:subscription")
    assert conversation.priority == 1  # subscribers come first in the inbox


def test_a_stale_reply_token_is_not_used(app_ctx: None) -> None:
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "送料はいくらですか", now=MONDAY_NOON)
    later = MONDAY_NOON + timedelta(minutes=2)
    outcome = bot.answer(shop, conversation, question, now=later)
    assert outcome.reply is not None
    delivery = db.session.get(Delivery, outcome.reply.delivery_id)
    assert delivery is not None
    assert delivery.reply_token is None  # pushed instead
    assert question.reply_token_used_at is None


def test_a_priority_support_request_puts_the_chat_on_top_for_a_person(app_ctx: None) -> None:
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "送料はいくらですか", now=MONDAY_NOON)
    # The LIFF subscriber area's button: membership records the request, the inbox flags it.
    request = support.request_priority_support(shop, conversation.line_user, None, now=MONDAY_NOON)
    services.request_priority_support(shop, conversation.line_user, now=MONDAY_NOON)

    outcome = bot.answer(shop, conversation, question, now=MONDAY_NOON)

    assert outcome.action == "quiet"  # a person answers a priority request, not the bot
    assert (conversation.priority, conversation.status) == (2, "open")
    services.set_status(shop, conversation, "resolved", now=MONDAY_NOON)
    assert conversation.priority == 0
    assert request.handled_at == MONDAY_NOON  # the member's request is closed with the chat


def test_without_a_reply_token_the_bot_stays_silent(app_ctx: None) -> None:
    # Standby mode: a module channel owns the chat, and LINE sends no reply token.
    shop = ShopFactory()
    FaqEntryFactory(shop=shop)
    conversation, question = incoming(shop, "送料はいくらですか", now=MONDAY_NOON)
    question.reply_token = None
    assert bot.answer(shop, conversation, question, now=MONDAY_NOON).action == "quiet"
    assert db.session.query(Delivery).count() == 0
