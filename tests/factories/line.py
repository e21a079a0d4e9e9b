from __future__ import annotations

import secrets

import factory

from server.db import utcnow
from server.line.models import LineChannel, LineUser
from tests.factories import ModelFactory
from tests.factories.shops import ShopFactory


class LineUserFactory(ModelFactory):
    class Meta:
        model = LineUser
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    line_user_id = factory.Sequence(lambda n: f"U{n:032x}")
    display_name = "はなこ"
    language = "ja"
    followed_at = factory.LazyFunction(utcnow)


class LineChannelFactory(ModelFactory):
    """A configured channel: Messaging API (secret + long-lived token) and LINE Login."""

    class Meta:
        model = LineChannel
        exclude = ("shop",)

    shop = factory.SubFactory(ShopFactory)
    shop_id = factory.SelfAttribute("shop.id")
    channel_key = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    channel_id = factory.Sequence(lambda n: str(2_000_000_000 + n))
    channel_secret = factory.LazyFunction(lambda: secrets.token_hex(16))
    channel_access_token = factory.LazyFunction(lambda: "token-" + secrets.token_urlsafe(24))
    bot_user_id = "U" + "b" * 32
    bot_basic_id = "@kizuna"
    bot_display_name = "Kizuna テスト店"
    login_channel_id = factory.Sequence(lambda n: str(1_600_000_000 + n))
    login_channel_secret = factory.LazyFunction(lambda: secrets.token_hex(16))
    liff_id = factory.Sequence(lambda n: f"{1_600_000_000 + n}-AbCdEfGh")
