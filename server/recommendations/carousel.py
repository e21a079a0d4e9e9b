"""Recommendations as a LINE Flex carousel: one bubble per product (image, name, price, reason,
a button to the product page), checked against LINE's limits before anyone sends it.

`link` turns each product URL into the URL the button opens, so callers pass tracked links
(campaigns.links.track_url) without this module knowing about tracking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from server.errors import Invalid
from server.i18n import translate
from server.line import messages as line_messages
from server.shops.models import Shop

from .serving import Recommendation, format_price

MAX_BUBBLES = 10
TITLE_CHARS = 40  # two lines of a kilo bubble; LINE cuts the rest with maxLines anyway
REASON_CHARS = 60
ALT_TEXT_CHARS = 400
MAX_URI = 1000  # LINE: URI actions accept up to 1000 characters
MAX_IMAGE_URI = 2000  # LINE: image URLs up to 2000 characters, HTTPS only
ACCENT = "#06C755"


class NothingToRecommend(Invalid):
    code = "nothing_to_recommend"


def carousel_message(
    shop: Shop,
    recs: Sequence[Recommendation],
    *,
    lang: str,
    link: Callable[[str], str] = lambda url: url,
) -> dict[str, Any]:
    """A Flex message with up to ten bubbles; validated with server.line.messages.

    Raises NothingToRecommend for an empty list (LINE refuses an empty carousel) and
    InvalidMessages if the result would break a LINE limit (it is built to stay within them).
    """
    shown = list(recs[:MAX_BUBBLES])
    if not shown:
        raise NothingToRecommend("there is nothing to recommend")
    bubbles = [_bubble(rec, lang=lang, uri=link(rec.product_url)) for rec in shown]
    heading = translate("recommendations.carousel.alt", locale=lang, shop=shop.name or shop.domain)
    names = "、" if lang == "ja" else ", "
    alt = f"{heading}: {names.join(rec.title for rec in shown)}"
    if len(alt) > ALT_TEXT_CHARS:
        alt = alt[: ALT_TEXT_CHARS - 1] + "…"
    message = {
        "type": "flex",
        "altText": alt,
        "contents": {"type": "carousel", "contents": bubbles},
    }
    line_messages.validate([message])
    return message


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bubble(rec: Recommendation, *, lang: str, uri: str) -> dict[str, Any]:
    if not uri.startswith(("https://", "http://")) or len(uri) > MAX_URI:
        raise Invalid(f"the link for product {rec.product_id} is not a usable URL")
    action = {
        "type": "uri",
        "label": translate("recommendations.carousel.button", locale=lang)[:20],
        "uri": uri,
    }
    bubble: dict[str, Any] = {"type": "bubble", "size": "kilo"}
    image = rec.image_url
    if image and image.startswith("https://") and len(image) <= MAX_IMAGE_URI:
        bubble["hero"] = {
            "type": "image",
            "url": image,
            "size": "full",
            "aspectRatio": "1:1",
            "aspectMode": "cover",
            "action": action,
        }
    bubble["body"] = {
        "type": "box",
        "layout": "vertical",
        "spacing": "sm",
        "contents": [
            {
                "type": "text",
                "text": translate(f"recommendations.kind.{rec.kind}", locale=lang),
                "size": "xxs",
                "color": ACCENT,
                "weight": "bold",
            },
            {
                "type": "text",
                "text": _clip(rec.title, TITLE_CHARS),
                "weight": "bold",
                "size": "sm",
                "wrap": True,
                "maxLines": 2,
            },
            {
                "type": "text",
                "text": format_price(rec.price, rec.currency, lang),
                "size": "md",
                "weight": "bold",
            },
            {
                "type": "text",
                "text": _clip(rec.reason, REASON_CHARS),
                "size": "xs",
                "color": "#6B7280",
                "wrap": True,
                "maxLines": 3,
            },
        ],
    }
    bubble["footer"] = {
        "type": "box",
        "layout": "vertical",
        "contents": [
            {
                "type": "button",
                "style": "primary",
                "height": "sm",
                "color": ACCENT,
                "action": action,
            }
        ],
    }
    return bubble
