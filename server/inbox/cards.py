"""LINE message objects the inbox builds: a product card (Flex bubble) and quick replies."""

from __future__ import annotations

from typing import Any

from server.commerce.models import Product
from server.i18n import translate
from server.shops.models import Shop


def product_url(shop: Shop, product: Product) -> str:
    return f"https://{shop.domain}/products/{product.handle}"


def product_bubble(shop: Shop, product: Product) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Flex message for a product, and the small summary the inbox shows for it."""
    variant = next((v for v in product.variants if v.available), None) or (
        product.variants[0] if product.variants else None
    )
    price = variant.price if variant else None
    price_text = (
        f"¥{price:,}"
        if price is not None and shop.currency == "JPY"
        else (f"{price / 100:,.2f} {shop.currency}" if price is not None else "")
    )
    url = product_url(shop, product)
    body: list[dict[str, Any]] = [
        {"type": "text", "text": product.title[:400], "weight": "bold", "wrap": True},
    ]
    if price_text:
        body.append({"type": "text", "text": price_text, "color": "#555555", "size": "sm"})
    bubble: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "action": {
                        "type": "uri",
                        "label": translate("inbox.card.view", locale="ja")[:40],
                        "uri": url,
                    },
                }
            ],
        },
    }
    if product.image_url and product.image_url.startswith("https://"):
        bubble["hero"] = {
            "type": "image",
            "url": product.image_url,
            "size": "full",
            "aspectRatio": "1:1",
            "aspectMode": "cover",
        }
    alt = f"{product.title} {price_text}".strip()[:400]
    message = {"type": "flex", "altText": alt, "contents": bubble}
    return message, {"title": product.title, "price": price, "url": url}


def quick_replies(items: list[dict[str, str]]) -> dict[str, Any] | None:
    """LINE's quickReply object for [{label, text}|{label, url}] (≤13 items, labels ≤20)."""
    actions = []
    for item in items[:13]:
        label = item["label"][:20]
        if item.get("url"):
            action = {"type": "uri", "label": label, "uri": item["url"]}
        else:
            action = {"type": "message", "label": label, "text": item.get("text") or label}
        actions.append({"type": "action", "action": action})
    return {"items": actions} if actions else None
