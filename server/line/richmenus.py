"""Rich menus per friend state (not linked / linked / subscriber), switched automatically.

The "not linked" menu is the channel default; linked friends and subscribers get theirs as a
per-user menu, which LINE shows at once (PROTOCOLS.md §6). The app ships Japanese default
images (richmenu_images/, made by `render_default_image`); the merchant can replace each one.
LINE cannot change a menu's image, so a new image means a new LINE menu, re-linking the
friends who had the old one, then deleting it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from server.commerce.models import Customer
from server.db import db
from server.errors import Invalid
from server.shops.models import Shop

from . import client
from .access import access_target
from .channels import find_channel
from .models import LineChannel, LineUser, RichMenu, RichMenuState

log = logging.getLogger(__name__)

IMAGE_DIR = Path(__file__).parent / "richmenu_images"
WIDTH, HEIGHT = 2500, 843
MAX_IMAGE_BYTES = 1_000_000
STATES = (RichMenuState.UNLINKED, RichMenuState.LINKED, RichMenuState.SUBSCRIBER)
BULK_LINK_MAX = 500

# Equal areas side by side: (label, target). Targets: "link" (postback: start linking),
# "recommend" (postback: the friend's recommendations as a carousel), "shop" (the storefront),
# "liff:<path>" (the LIFF app, the storefront without one).
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    RichMenuState.UNLINKED: [("アカウント連携", "link"), ("ショップ", "shop"), ("会員証", "liff:")],
    RichMenuState.LINKED: [
        ("会員証", "liff:"),
        ("クーポン", "liff:coupons"),
        ("おすすめ", "recommend"),
        ("ショップ", "shop"),
    ],
    RichMenuState.SUBSCRIBER: [
        ("会員証", "liff:"),
        ("定期便会員限定", "liff:subscriber"),
        ("クーポン", "liff:coupons"),
        ("おすすめ", "recommend"),
    ],
}
HINTS = {
    "link": "ストアと連携",
    "recommend": "あなたに合う商品",
    "shop": "商品を見る",
    "liff:": "ポイント確認",
    "liff:coupons": "使えるクーポン",
    "liff:subscriber": "限定コンテンツ",
}
CHAT_BAR: dict[str, str] = {
    RichMenuState.UNLINKED: "メニュー",
    RichMenuState.LINKED: "メニュー",
    RichMenuState.SUBSCRIBER: "会員メニュー",
}
COLORS = {
    RichMenuState.UNLINKED: ("#06C755", "#FFFFFF"),
    RichMenuState.LINKED: ("#1F2A44", "#FFFFFF"),
    RichMenuState.SUBSCRIBER: ("#B8860B", "#FFFFFF"),
}


class RichMenuImageInvalid(Invalid):
    code = "rich_menu_image_invalid"


# Which menu a friend should see ------------------------------------------------------------------


def user_state(shop: Shop, line_user: LineUser, *, now: datetime) -> RichMenuState:
    if line_user.customer_id is None:
        return RichMenuState.UNLINKED
    from server.commerce.subscriptions import subscription_status

    customer = db.session.get(Customer, line_user.customer_id)
    if customer is not None and subscription_status(shop, customer, now=now).active:
        return RichMenuState.SUBSCRIBER
    return RichMenuState.LINKED


def menu_object(shop: Shop, channel: LineChannel, state: str) -> dict[str, Any]:
    layout = LAYOUTS[state]
    width = WIDTH // len(layout)
    areas = []
    for index, (label, target) in enumerate(layout):
        last = index == len(layout) - 1
        bounds = {
            "x": index * width,
            "y": 0,
            "width": WIDTH - index * width if last else width,
            "height": HEIGHT,
        }
        areas.append({"bounds": bounds, "action": _action(shop, channel, label, target)})
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": state != RichMenuState.UNLINKED,
        "name": f"kizuna-{state}",
        "chatBarText": CHAT_BAR[state],
        "areas": areas,
    }


def _action(shop: Shop, channel: LineChannel, label: str, target: str) -> dict[str, Any]:
    if target in ("link", "recommend"):
        return {
            "type": "postback",
            "label": label,
            "data": f"action={target}",
            "displayText": label,
        }
    if target.startswith("liff:") and channel.liff_id:
        path = target.removeprefix("liff:")
        uri = f"https://liff.line.me/{channel.liff_id}" + (f"/{path}" if path else "")
        return {"type": "uri", "label": label, "uri": uri}
    return {"type": "uri", "label": label, "uri": f"https://{shop.domain}/"}


# Images ------------------------------------------------------------------------------------------


def default_image(state: str) -> bytes:
    return (IMAGE_DIR / f"{state}.png").read_bytes()


def render_default_image(state: str, font_path: str) -> bytes:
    """Draw the default menu image for a state (Pillow; needs a Japanese font)."""
    from PIL import Image, ImageDraw, ImageFont

    background, foreground = COLORS[RichMenuState(state)]
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    draw = ImageDraw.Draw(image)
    small = ImageFont.truetype(font_path, 60)
    width = WIDTH // len(LAYOUTS[state])
    for index, (label, target) in enumerate(LAYOUTS[state]):
        left = index * width
        if index:
            draw.line([(left, 100), (left, HEIGHT - 100)], fill=foreground, width=6)
        size = 130
        font = ImageFont.truetype(font_path, size)
        while draw.textlength(label, font=font) > width - 100:
            size -= 6
            font = ImageFont.truetype(font_path, size)
        box = draw.textbbox((0, 0), label, font=font)
        draw.text(
            (left + (width - (box[2] - box[0])) / 2, HEIGHT / 2 - 40 - (box[3] - box[1])),
            label,
            font=font,
            fill=foreground,
        )
        hint = HINTS.get(target, "")
        box = draw.textbbox((0, 0), hint, font=small)
        draw.text(
            (left + (width - (box[2] - box[0])) / 2, HEIGHT / 2 + 60),
            hint,
            font=small,
            fill=foreground,
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def check_image(data: bytes) -> str:
    """Validate a merchant's image for LINE; returns its content type."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise RichMenuImageInvalid(f"the image is {len(data):,} bytes; LINE accepts up to 1 MB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, size = image.format, image.size
    except (UnidentifiedImageError, OSError):
        raise RichMenuImageInvalid("the file is not a PNG or JPEG image") from None
    if kind not in ("PNG", "JPEG"):
        raise RichMenuImageInvalid("LINE accepts PNG or JPEG rich menu images")
    if size != (WIDTH, HEIGHT):
        raise RichMenuImageInvalid(
            f"the image is {size[0]}×{size[1]} pixels; it must be {WIDTH}×{HEIGHT}"
        )
    return "image/png" if kind == "PNG" else "image/jpeg"


# Records and syncing -----------------------------------------------------------------------------


def menus(shop: Shop) -> dict[str, RichMenu]:
    rows = db.session.scalars(select(RichMenu).where(RichMenu.shop_id == shop.id)).all()
    return {row.state: row for row in rows}


def ensure_menu(shop: Shop, state: str) -> RichMenu:
    menu = menus(shop).get(state)
    if menu is None:
        menu = RichMenu(shop_id=shop.id, state=state)
        db.session.add(menu)
        db.session.flush()
    return menu


def _target(shop: Shop, channel: LineChannel, now: datetime) -> client.Target:
    return access_target(channel, now=now)


def _create(shop: Shop, channel: LineChannel, menu: RichMenu, t: client.Target) -> str:
    image = menu.image or default_image(menu.state)
    content_type = menu.image_content_type or "image/png"
    menu_id = client.create_rich_menu(t, menu_object(shop, channel, menu.state))
    try:
        client.upload_rich_menu_image(t, menu_id, image, content_type)
    except (client.LineApiError, client.LineUnreachable):
        client.delete_rich_menu(t, menu_id)  # a menu without an image cannot be used
        raise
    return menu_id


def sync(shop: Shop, *, now: datetime) -> dict[str, str]:
    """Make sure LINE has this shop's three menus and the default; returns state → menu id."""
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured:
        raise Invalid("connect the shop's LINE Messaging API channel first")
    t = _target(shop, channel, now)
    ids: dict[str, str] = {}
    for state in STATES:
        menu = ensure_menu(shop, state)
        if menu.line_rich_menu_id is None:
            try:
                menu.line_rich_menu_id = _create(shop, channel, menu, t)
                menu.error = None
            except client.LineApiError as error:
                menu.error = f"LINE {error.status}: {error.message}"
                raise Invalid(f"LINE refused the {state} rich menu: {error.message}") from None
            menu.synced_at = now
        ids[state] = menu.line_rich_menu_id
    client.set_default_rich_menu(t, ids[RichMenuState.UNLINKED])
    db.session.flush()
    return ids


def refresh_user(shop: Shop, line_user: LineUser, *, now: datetime) -> str | None:
    """Show the friend the menu of their state. Returns the per-user menu id (None = default).
    Does nothing for a shop without a configured channel or a friend who blocked it."""
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured or line_user.blocked_at is not None:
        return line_user.rich_menu_id
    state = user_state(shop, line_user, now=now)
    t = _target(shop, channel, now)
    if state == RichMenuState.UNLINKED:
        if line_user.rich_menu_id is not None:
            client.unlink_rich_menu(t, line_user.line_user_id)  # back to the default menu
            line_user.rich_menu_id = None
        return None
    menu = ensure_menu(shop, state)
    if menu.line_rich_menu_id is None:
        sync(shop, now=now)
    if line_user.rich_menu_id != menu.line_rich_menu_id:
        client.link_rich_menu(t, line_user.line_user_id, menu.line_rich_menu_id or "")
        line_user.rich_menu_id = menu.line_rich_menu_id
    return line_user.rich_menu_id


def replace_image(shop: Shop, state: str, data: bytes | None, *, now: datetime) -> RichMenu:
    """Set the merchant's image for a state (None = back to the default image). With a
    configured channel the LINE menu is rebuilt and its friends re-linked right away."""
    if state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}")
    content_type = check_image(data) if data is not None else None
    menu = ensure_menu(shop, state)
    menu.image, menu.image_content_type = data, content_type
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured:
        menu.line_rich_menu_id = None  # built on the first sync
        return menu
    t = _target(shop, channel, now)
    old = menu.line_rich_menu_id
    try:
        new = _create(shop, channel, menu, t)
    except client.LineApiError as error:
        raise Invalid(f"LINE refused the rich menu: {error.message}") from None
    menu.line_rich_menu_id, menu.synced_at, menu.error = new, now, None
    if state == RichMenuState.UNLINKED:
        client.set_default_rich_menu(t, new)
    elif old is not None:
        users = db.session.scalars(
            select(LineUser).where(LineUser.shop_id == shop.id, LineUser.rich_menu_id == old)
        ).all()
        _bulk_link(t, users, new)
    if old is not None:
        try:
            client.delete_rich_menu(t, old)
        except client.LineApiError as error:
            log.warning("old rich menu of shop %s not deleted: %s", shop.id, error.message)
    db.session.flush()
    return menu


def _bulk_link(t: client.Target, users: Sequence[LineUser], menu_id: str) -> None:
    for start in range(0, len(users), BULK_LINK_MAX):
        chunk = users[start : start + BULK_LINK_MAX]
        client.link_rich_menu_bulk(t, [u.line_user_id for u in chunk], menu_id)
        for user in chunk:
            user.rich_menu_id = menu_id


def view(shop: Shop) -> list[dict[str, Any]]:
    found = menus(shop)
    rows = []
    for state in STATES:
        menu = found.get(state)
        synced = menu.synced_at if menu is not None else None
        rows.append(
            {
                "state": state,
                "custom_image": bool(menu is not None and menu.image),
                "line_rich_menu_id": menu.line_rich_menu_id if menu is not None else None,
                "synced_at": synced.isoformat() if synced else None,
                "error": menu.error if menu is not None else None,
                "areas": [label for label, _ in LAYOUTS[state]],
            }
        )
    return rows


def image_for(shop: Shop, state: str) -> tuple[bytes, str]:
    menu = menus(shop).get(state)
    if menu is not None and menu.image:
        return menu.image, menu.image_content_type or "image/png"
    return default_image(state), "image/png"
