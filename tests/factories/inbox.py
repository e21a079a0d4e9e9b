from __future__ import annotations

import factory

from server.db import utcnow
from server.inbox.models import Conversation, FaqEntry, Message, SavedReply
from tests.factories import ModelFactory
from tests.factories.line import LineUserFactory


class ConversationFactory(ModelFactory):
    class Meta:
        model = Conversation
        exclude = ("line_user",)

    line_user = factory.SubFactory(LineUserFactory)
    line_user_id = factory.SelfAttribute("line_user.id")
    shop_id = factory.SelfAttribute("line_user.shop_id")
    status = "open"
    priority = 0
    unread_count = 0
    last_message_at = factory.LazyFunction(utcnow)
    last_message_text = "こんにちは"
    last_message_sender = "customer"


class MessageFactory(ModelFactory):
    class Meta:
        model = Message
        exclude = ("conversation",)

    conversation = factory.SubFactory(ConversationFactory)
    conversation_id = factory.SelfAttribute("conversation.id")
    shop_id = factory.SelfAttribute("conversation.shop_id")
    direction = "in"
    type = "text"
    text = "こんにちは"
    sender = "customer"
    payload = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(utcnow)


class FaqEntryFactory(ModelFactory):
    class Meta:
        model = FaqEntry
        exclude = ("shop",)

    shop = factory.SubFactory("tests.factories.shops.ShopFactory")
    shop_id = factory.SelfAttribute("shop.id")
    questions = factory.LazyFunction(lambda: ["送料はいくらですか", "送料無料の条件は？"])
    answer = "送料は全国一律660円です。5,000円以上で送料無料です。"
    quick_replies = factory.LazyFunction(list)
    enabled = True


class SavedReplyFactory(ModelFactory):
    class Meta:
        model = SavedReply
        exclude = ("shop",)

    shop = factory.SubFactory("tests.factories.shops.ShopFactory")
    shop_id = factory.SelfAttribute("shop.id")
    title = "お詫び"
    body = "ご不便をおかけして申し訳ありません。"
