from __future__ import annotations

import io

import pytest
from PIL import Image

from server.db import db, utcnow
from server.line import richmenus
from server.line.models import LineChannel, RichMenuState
from server.linking import services as linking
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn


@pytest.fixture
def channel(shop: Shop) -> LineChannel:
    return LineChannelFactory(shop=shop)


def png(width: int = richmenus.WIDTH, height: int = richmenus.HEIGHT, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("state", richmenus.STATES)
def test_the_bundled_default_images_fit_lines_rules(state: str) -> None:
    data = richmenus.default_image(state)
    assert richmenus.check_image(data) == "image/png"


def test_default_images_are_drawn_with_a_japanese_font() -> None:
    data = richmenus.render_default_image(
        RichMenuState.LINKED, "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
    )
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (2500, 843)
        assert len(image.getcolors(1_000_000) or []) > 2  # text drawn, not a blank panel


def test_sync_creates_three_menus_with_images_and_sets_the_default(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    ids = richmenus.sync(shop, now=utcnow())

    assert set(ids) == {"unlinked", "linked", "subscriber"}
    assert line_api.default_menu == ids["unlinked"]
    for state, menu_id in ids.items():
        menu = line_api.rich_menus[menu_id]
        assert menu["image"] == richmenus.default_image(state)
        assert menu["content_type"] == "image/png"
        assert menu["menu"]["size"] == {"width": 2500, "height": 843}
        assert len(menu["menu"]["areas"]) == len(richmenus.LAYOUTS[state])
        assert sum(a["bounds"]["width"] for a in menu["menu"]["areas"]) == 2500
    unlinked = line_api.rich_menus[ids["unlinked"]]["menu"]
    assert unlinked["areas"][0]["action"] == {
        "type": "postback",
        "label": "アカウント連携",
        "data": "action=link",
        "displayText": "アカウント連携",
    }
    linked = line_api.rich_menus[ids["linked"]]["menu"]
    assert linked["areas"][0]["action"]["uri"] == f"https://liff.line.me/{channel.liff_id}"
    assert linked["areas"][2]["action"] == {
        "type": "postback",
        "label": "おすすめ",
        "data": "action=recommend",
        "displayText": "おすすめ",
    }

    assert richmenus.sync(shop, now=utcnow()) == ids  # nothing new the second time
    assert len(line_api.requests("/v2/bot/richmenu", "POST")) == 3


def test_the_menu_follows_the_friends_state(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    shop.settings = {**(shop.settings or {}), "subscriber_tags": ["定期便"]}
    friend = LineUserFactory(shop=shop)
    customer = CustomerFactory(shop=shop)
    now = utcnow()

    linking.link(shop, friend, customer, method=linking.LinkMethod.LOGIN, now=now)
    db.session.commit()  # the switch runs after the commit

    ids = {m.state: m.line_rich_menu_id for m in richmenus.menus(shop).values()}
    assert line_api.user_menus[friend.line_user_id] == ids["linked"]

    customer.tags = ["定期便"]
    from server.commerce.subscriptions import mark_tags

    mark_tags(shop, customer, now=now)
    richmenus.refresh_user(shop, friend, now=now)
    assert line_api.user_menus[friend.line_user_id] == ids["subscriber"]

    linking.unlink(shop, friend, by="merchant", now=now)
    db.session.commit()
    assert friend.line_user_id not in line_api.user_menus  # back to the default menu
    db.session.refresh(friend)
    assert friend.rich_menu_id is None


def test_a_replaced_image_rebuilds_the_menu_and_moves_its_friends(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    ids = richmenus.sync(shop, now=utcnow())
    friends = LineUserFactory.create_batch(3, shop=shop, rich_menu_id=ids["linked"])

    menu = richmenus.replace_image(shop, "linked", png(), now=utcnow())

    assert menu.line_rich_menu_id != ids["linked"]
    assert ids["linked"] not in line_api.rich_menus  # the old one is deleted
    assert line_api.rich_menus[menu.line_rich_menu_id or ""]["image"] == png()
    assert {line_api.user_menus[f.line_user_id] for f in friends} == {menu.line_rich_menu_id}
    [bulk] = line_api.requests("/v2/bot/richmenu/bulk/link")
    assert sorted(bulk.json["userIds"]) == sorted(f.line_user_id for f in friends)


def test_replacing_the_unlinked_image_moves_the_default(
    shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    richmenus.sync(shop, now=utcnow())
    menu = richmenus.replace_image(shop, "unlinked", png(color="blue"), now=utcnow())
    assert line_api.default_menu == menu.line_rich_menu_id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (png(1200, 405), "it must be 2500×843"),
        (b"GIF89a not a png", "not a PNG or JPEG"),
        (b"\x89PNG" + b"0" * 1_000_001, "up to 1 MB"),
    ],
)
def test_images_line_would_refuse_are_rejected_with_a_clear_error(
    shop: Shop, channel: LineChannel, line_api: LineStandIn, data: bytes, message: str
) -> None:
    with pytest.raises(richmenus.RichMenuImageInvalid) as raised:
        richmenus.replace_image(shop, "linked", data, now=utcnow())
    assert message in raised.value.message
    assert line_api.calls == []


def test_without_a_channel_the_image_waits_for_the_first_sync(shop: Shop) -> None:
    menu = richmenus.replace_image(shop, "linked", png(), now=utcnow())
    assert menu.line_rich_menu_id is None
    assert richmenus.image_for(shop, "linked") == (png(), "image/png")
    assert richmenus.image_for(shop, "subscriber")[0] == richmenus.default_image("subscriber")
