"""The LINE messages of a step, with the variables filled in.

A step's `message` is one of:

- text:  {"type": "text", "text": "...", "text_by_reason": {"price": "..."}, "quick_reply": "link"}
         `text_by_reason` replaces the text for a cancellation reason (cancellation.REASONS);
         `quick_reply: "link"` adds the "link your account" button (postback action=link).
- image: {"type": "image", "image_url": "https://...", "text": "optional caption"}
- flex:  {"type": "flex", "layout": "card" | "products", "title": "...",
          "body": "...", "image_url": "https://...", "button_label": "...",
          "button_url": "https://... or {coupon_url}"}
         `body_by_reason` replaces the body for a cancellation reason, as for text.
         "card" is one bubble (a coupon block is added when the step hands out a coupon);
         "products" is a carousel of what the trigger order contained.
- flex, layout "recommended": {"type": "flex", "layout": "recommended", "title": "...",
         "body": "..."}: the title and body as an intro text, then the recipient's
         recommendations as a carousel (recommended.py); it has its own buttons.

Variables are written `{name}` in any text: see VARIABLES. Unknown ones are refused when the
step is saved (`check_message`), so a typo never reaches a customer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.commerce.models import Customer, Order, Product
from server.coupons import services as coupons
from server.coupons.models import Coupon, CouponOffer, CouponSource, DiscountKind
from server.db import db, utcnow
from server.errors import Invalid
from server.i18n import translate
from server.line.channels import find_channel
from server.line.models import LineUser
from server.membership import services as membership
from server.recommendations.serving import Recommendation
from server.shops.models import Shop

from . import recommended
from .models import Enrollment, Step

VARIABLES: tuple[str, ...] = (
    "name",  # the customer's name (family name first), or the LINE display name
    "shop",  # the shop's name
    "shop_url",  # the storefront
    "products",  # what the trigger order contained ("酵素ドリンク、シェイカー")
    "product",  # the first of them
    "product_url",  # its page in the shop
    "tier",  # the membership tier
    "points",  # the points balance
    "link_points",  # the points a friend gets for linking their account
    "coupon_title",
    "coupon_code",
    "coupon_value",  # "20%OFF", "¥500 OFF", "送料無料"
    "coupon_expires",  # when the coupon ends, shop time zone
    "coupon_url",  # applies the code and opens the shop
    "restart_url",  # where to restart the subscription (the product page, else the shop)
    *recommended.VARIABLES,  # the recipient's recommendations
)
LAYOUTS = ("card", "products", recommended.LAYOUT)
MESSAGE_TYPES = ("text", "image", "flex")
MAX_PRODUCTS = 10  # bubbles in a carousel (LINE allows 12)
_VARIABLE = re.compile(r"\{(\w+)\}")
BRAND_GREEN = "#06C755"


class InvalidStepMessage(Invalid):
    code = "invalid_step_message"


@dataclass(frozen=True)
class Built:
    messages: list[dict[str, Any]]
    coupon_id: int | None


@dataclass
class CouponFacts:
    title: str
    code: str
    kind: str
    value: int
    valid_until: datetime | None


@dataclass
class Facts:
    """What the variables read, gathered once per message."""

    locale: str
    values: dict[str, str]
    reason: str | None
    products: list[Product]
    coupon: CouponFacts | None
    recommendations: list[Recommendation] = field(default_factory=list)


# Validation ----------------------------------------------------------------------------------


def unknown_variables(text: str) -> set[str]:
    return {name for name in _VARIABLE.findall(text or "") if name not in VARIABLES}


def check_message(message: Any, *, path: str = "message") -> dict[str, Any]:
    """A clean copy of a step's message, or InvalidStepMessage saying what is wrong."""
    from .cancellation import REASONS

    if not isinstance(message, dict):
        raise InvalidStepMessage(f"{path}: must be an object with a type", path=path)
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise InvalidStepMessage(f"{path}.type: one of {list(MESSAGE_TYPES)}", path=f"{path}.type")

    def text(name: str, *, required: bool, limit: int = 5000) -> str:
        value = message.get(name)
        if value is None or value == "":
            if required:
                raise InvalidStepMessage(f"{path}.{name}: required", path=f"{path}.{name}")
            return ""
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidStepMessage(
                f"{path}.{name}: a text of at most {limit} characters", path=f"{path}.{name}"
            )
        _check_variables(value, f"{path}.{name}")
        return value

    if kind == "text":
        clean: dict[str, Any] = {"type": "text", "text": text("text", required=True)}
        if variants := _by_reason(message, "text_by_reason", path, REASONS, 5000):
            clean["text_by_reason"] = variants
        quick = message.get("quick_reply")
        if quick not in (None, "", "link"):
            raise InvalidStepMessage(f"{path}.quick_reply: only 'link'", path=f"{path}.quick_reply")
        if quick:
            clean["quick_reply"] = quick
        return clean
    if kind == "image":
        url = text("image_url", required=True, limit=1000)
        if not url.startswith("https://"):
            raise InvalidStepMessage(
                f"{path}.image_url: LINE shows images from https:// addresses only",
                path=f"{path}.image_url",
            )
        clean = {"type": "image", "image_url": url}
        if caption := text("text", required=False):
            clean["text"] = caption
        return clean
    layout = message.get("layout", "card")
    if layout not in LAYOUTS:
        raise InvalidStepMessage(f"{path}.layout: one of {list(LAYOUTS)}", path=f"{path}.layout")
    clean = {
        "type": "flex",
        "layout": layout,
        "title": text("title", required=layout == "card", limit=200),
        "body": text("body", required=False, limit=2000),
    }
    if layout == recommended.LAYOUT:
        for name in ("image_url", "button_label", "button_url", "body_by_reason"):
            if message.get(name):
                raise InvalidStepMessage(
                    f"{path}.{name}: the recommendations carousel shows each product's own "
                    "image and button",
                    path=f"{path}.{name}",
                )
        return clean
    if variants := _by_reason(message, "body_by_reason", path, REASONS, 2000):
        clean["body_by_reason"] = variants
    if image := text("image_url", required=False, limit=1000):
        if not image.startswith("https://"):
            raise InvalidStepMessage(
                f"{path}.image_url: LINE shows images from https:// addresses only",
                path=f"{path}.image_url",
            )
        clean["image_url"] = image
    label = text("button_label", required=False, limit=40)
    url = text("button_url", required=False, limit=1000)
    if bool(label) != bool(url):
        raise InvalidStepMessage(
            f"{path}.button_url: a button needs both a label and an address",
            path=f"{path}.button_url",
        )
    if url and not (url.startswith("https://") or _VARIABLE.fullmatch(url.strip())):
        raise InvalidStepMessage(
            f"{path}.button_url: an https:// address or a link variable such as {{coupon_url}}",
            path=f"{path}.button_url",
        )
    if label:
        clean["button_label"], clean["button_url"] = label, url.strip()
    return clean


def _by_reason(
    message: Mapping[str, Any], name: str, path: str, reasons: tuple[str, ...], limit: int
) -> dict[str, str]:
    by_reason = message.get(name) or {}
    if not isinstance(by_reason, dict):
        raise InvalidStepMessage(f"{path}.{name}: an object", path=f"{path}.{name}")
    variants = {}
    for reason, variant in by_reason.items():
        where = f"{path}.{name}.{reason}"
        if reason not in reasons:
            raise InvalidStepMessage(f"{where}: unknown reason; one of {list(reasons)}", path=where)
        if not variant:
            continue
        if not isinstance(variant, str) or len(variant) > limit:
            raise InvalidStepMessage(f"{where}: a text of at most {limit} characters", path=where)
        _check_variables(variant, where)
        variants[reason] = variant
    return variants


def _check_variables(value: str, where: str) -> None:
    unknown = unknown_variables(value)
    if unknown:
        raise InvalidStepMessage(
            f"{where}: unknown variable {{{sorted(unknown)[0]}}}; known: "
            + ", ".join(f"{{{v}}}" for v in VARIABLES),
            path=where,
        )


# Building -------------------------------------------------------------------------------------


def fill(text: str, values: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def locale_of(line_user: LineUser | None, customer: Customer | None) -> str:
    language = (line_user.language if line_user else None) or (
        customer.locale if customer else None
    )
    return "en" if (language or "").lower().startswith("en") else "ja"


def build(
    shop: Shop,
    step: Step,
    enrollment: Enrollment,
    *,
    customer: Customer | None,
    line_user: LineUser,
    now: datetime,
) -> Built:
    """The LINE messages of `step` for this enrollment. Issues the step's coupon first (once per
    enrollment and step: a retried send finds the same coupon)."""
    coupon: Coupon | None = None
    if step.coupon_offer_id is not None:
        offer = db.session.get(CouponOffer, step.coupon_offer_id)
        if offer is None or offer.shop_id != shop.id:
            raise InvalidStepMessage("the step's coupon offer no longer exists")
        if customer is None:
            raise InvalidStepMessage("a coupon needs a store customer (the friend is not linked)")
        member = membership.ensure_member(shop, customer, now=now)
        coupon = coupons.issue_coupon(
            shop,
            member,
            offer,
            source=CouponSource.SCENARIO,
            issue_key=f"scenario:{enrollment.id}:{step.id}",
            now=now,
        )
    elif isinstance((enrollment.context or {}).get("coupon_id"), int):
        # The coupon that brought the person in (coupon about to expire): show that one.
        held = db.session.get(Coupon, enrollment.context["coupon_id"])
        coupon = held if held is not None and held.shop_id == shop.id else None
    facts = gather(
        shop,
        enrollment.context or {},
        customer=customer,
        line_user=line_user,
        coupon=coupon,
        recommend=recommended.needed(step.message),
        now=now,
    )
    return Built(render(shop, step.message, facts), coupon.id if coupon else None)


def gather(
    shop: Shop,
    context: Mapping[str, Any],
    *,
    customer: Customer | None,
    line_user: LineUser | None,
    coupon: Coupon | None,
    recommend: bool = False,
    now: datetime,
) -> Facts:
    """What the variables of one recipient's message read. `recommend`: also their
    recommendations (read only for messages that show them)."""
    locale = locale_of(line_user, customer)
    products = _products(shop, context)
    values: dict[str, str] = {
        "shop": shop.name or shop.domain,
        "shop_url": f"https://{shop.domain}/",
        "name": _name(customer, line_user, locale),
        "products": _titles(products, locale),
        "product": products[0].title if products else _nothing(locale),
        "product_url": product_url(shop, products[0]) if products else f"https://{shop.domain}/",
        "restart_url": _restart_url(shop, products),
    }
    channel = find_channel(shop)
    values["link_points"] = f"{channel.link_incentive_points if channel else 0:,}"
    member = membership.find_member(shop, customer.id) if customer is not None else None
    values["tier"] = member.tier.name if member is not None and member.tier else ""
    values["points"] = f"{member.points_balance if member else 0:,}"
    facts_coupon = None
    if coupon is not None:
        facts_coupon = CouponFacts(
            coupon.offer.title,
            coupon.code,
            coupon.offer.kind,
            coupon.offer.value,
            coupon.valid_until,
        )
    _coupon_values(shop, values, facts_coupon, locale, landing=values["restart_url"])
    recs = recommended.for_recipient(shop, customer, locale=locale, now=now) if recommend else []
    values.update(recommended.values(shop, recs, locale))
    return Facts(
        locale=locale,
        values=values,
        reason=context.get("reason") if isinstance(context.get("reason"), str) else None,
        products=products,
        coupon=facts_coupon,
        recommendations=recs,
    )


def sample_facts(
    shop: Shop,
    *,
    locale: str,
    coupon_offer: CouponOffer | None,
    reason: str | None,
    recommend: bool = False,
    now: datetime | None = None,
) -> Facts:
    """Stand-in values for the editor's preview: the shop's own products, a sample coupon, and
    (`recommend`: for messages that show them) its best sellers as the recommendations."""
    products = list(
        db.session.scalars(
            Product.for_shop(shop)
            .where(Product.deleted_at.is_(None), Product.status == "active")
            .order_by(Product.id)
            .limit(2)
        )
    )
    values = {
        "shop": shop.name or shop.domain,
        "shop_url": f"https://{shop.domain}/",
        "name": "山田 花子" if locale == "ja" else "Hanako Yamada",
        "products": _titles(products, locale),
        "product": products[0].title if products else _nothing(locale),
        "product_url": product_url(shop, products[0]) if products else f"https://{shop.domain}/",
        "restart_url": _restart_url(shop, products),
        "tier": "GOLD",
        "points": "1,250",
        "link_points": f"{(c.link_incentive_points if (c := find_channel(shop)) else 0) or 100:,}",
    }
    sample = None
    if coupon_offer is not None:
        sample = CouponFacts(
            coupon_offer.title, "KZSAMPLE1", coupon_offer.kind, coupon_offer.value, None
        )
    _coupon_values(shop, values, sample, locale, landing=values["restart_url"])
    if sample is not None and coupon_offer is not None and coupon_offer.valid_hours:
        values["coupon_expires"] = translate(
            "campaigns.line.valid_hours", locale=locale, hours=coupon_offer.valid_hours
        )
    recs = (
        recommended.for_recipient(shop, None, locale=locale, now=now or utcnow())
        if recommend
        else []
    )
    values.update(recommended.values(shop, recs, locale))
    return Facts(locale, values, reason, products, sample, recs)


def render(shop: Shop, message: Mapping[str, Any], facts: Facts) -> list[dict[str, Any]]:
    """LINE message objects (1-2) for a step's message and the facts about its recipient."""
    values = facts.values
    kind = message.get("type")
    if kind == "text":
        variants = message.get("text_by_reason") or {}
        template = variants.get(facts.reason) if facts.reason else None
        out: dict[str, Any] = {"type": "text", "text": fill(template or message["text"], values)}
        if message.get("quick_reply") == "link":
            label = translate("campaigns.line.link_button", locale=facts.locale)
            out["quickReply"] = {
                "items": [
                    {
                        "type": "action",
                        "action": {
                            "type": "postback",
                            "label": label[:20],
                            "data": "action=link",
                            "displayText": label,
                        },
                    }
                ]
            }
        result = [out]
        if facts.coupon is not None:
            result.append({"type": "text", "text": _coupon_text(facts)})
        return result
    if kind == "image":
        url = fill(message["image_url"], values)
        result = []
        if message.get("text"):
            result.append({"type": "text", "text": fill(message["text"], values)})
        result.append({"type": "image", "originalContentUrl": url, "previewImageUrl": url})
        return result
    layout = message.get("layout", "card")
    if layout == recommended.LAYOUT:
        intro = _intro(message, values)
        return recommended.render(shop, intro, facts.recommendations, locale=facts.locale)
    if layout == "products":
        return _carousel(
            shop, message, facts, [_product_bubble(shop, p, facts) for p in facts.products]
        )
    return [_card(message, facts)]


def _card(message: Mapping[str, Any], facts: Facts) -> dict[str, Any]:
    values = facts.values
    title = fill(message.get("title") or "", values).strip()
    body = (message.get("body_by_reason") or {}).get(facts.reason or "") or message.get("body")
    body_text = fill(body or "", values).strip()
    contents: list[dict[str, Any]] = []
    if title:
        contents.append(
            {"type": "text", "text": title[:400], "weight": "bold", "size": "lg", "wrap": True}
        )
    if body_text:
        contents.append(
            {
                "type": "text",
                "text": body_text[:2000],
                "size": "sm",
                "color": "#555555",
                "wrap": True,
            }
        )
    if facts.coupon is not None:
        contents.append(_coupon_box(facts))
    bubble: dict[str, Any] = {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "md",
            "contents": contents or [{"type": "text", "text": values["shop"], "weight": "bold"}],
        },
    }
    if message.get("image_url"):
        bubble["hero"] = {
            "type": "image",
            "url": fill(message["image_url"], values),
            "size": "full",
            "aspectRatio": "20:13",
            "aspectMode": "cover",
        }
    label = message.get("button_label")
    url = fill(message.get("button_url") or "", values) if label else ""
    if not url and facts.coupon is not None:
        label, url = (
            translate("campaigns.line.use_coupon", locale=facts.locale),
            values["coupon_url"],
        )
    if label and url.startswith("https://"):
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": BRAND_GREEN,
                    "action": {"type": "uri", "label": fill(label, values)[:40], "uri": url[:1000]},
                }
            ],
        }
    alt = title or body_text or values["shop"]
    return {"type": "flex", "altText": alt[:400], "contents": bubble}


def _coupon_box(facts: Facts) -> dict[str, Any]:
    coupon = facts.coupon
    if coupon is None:  # pragma: no cover - only called with a coupon
        raise InvalidStepMessage("no coupon to show")
    values = facts.values
    lines: list[dict[str, Any]] = [
        {
            "type": "text",
            "text": values["coupon_value"],
            "weight": "bold",
            "size": "xl",
            "color": "#B54708",
            "align": "center",
        },
        {"type": "text", "text": coupon.title[:200], "size": "sm", "align": "center", "wrap": True},
        {
            "type": "text",
            "text": translate("campaigns.line.code", locale=facts.locale, code=coupon.code),
            "size": "sm",
            "align": "center",
        },
    ]
    if values.get("coupon_expires"):
        lines.append(
            {
                "type": "text",
                "text": translate(
                    "campaigns.line.until", locale=facts.locale, when=values["coupon_expires"]
                ),
                "size": "xs",
                "color": "#888888",
                "align": "center",
                "wrap": True,
            }
        )
    return {
        "type": "box",
        "layout": "vertical",
        "spacing": "xs",
        "backgroundColor": "#FFF4E5",
        "cornerRadius": "md",
        "paddingAll": "md",
        "contents": lines,
    }


def _coupon_text(facts: Facts) -> str:
    values = facts.values
    parts = [
        f"🎁 {facts.coupon.title if facts.coupon else ''}",
        values["coupon_value"],
        translate("campaigns.line.code", locale=facts.locale, code=values["coupon_code"]),
    ]
    if values.get("coupon_expires"):
        parts.append(
            translate("campaigns.line.until", locale=facts.locale, when=values["coupon_expires"])
        )
    parts.append(values["coupon_url"])
    return "\n".join(p for p in parts if p)


def _product_bubble(shop: Shop, product: Product, facts: Facts) -> dict[str, Any]:
    variant = next((v for v in product.variants if v.available), None) or (
        product.variants[0] if product.variants else None
    )
    body: list[dict[str, Any]] = [
        {"type": "text", "text": product.title[:200], "weight": "bold", "wrap": True}
    ]
    if variant is not None:
        body.append(
            {
                "type": "text",
                "text": _money(variant.price, shop.currency),
                "size": "sm",
                "color": "#555555",
            }
        )
    bubble: dict[str, Any] = {
        "type": "bubble",
        "size": "kilo",
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": BRAND_GREEN,
                    "height": "sm",
                    "action": {
                        "type": "uri",
                        "label": translate("campaigns.line.view", locale=facts.locale)[:40],
                        "uri": product_url(shop, product),
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
    return bubble


def _intro(message: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """A carousel's title and body, as the text before it."""
    parts = (fill(message.get("title") or "", values), fill(message.get("body") or "", values))
    return " ".join(part for part in parts if part).strip()


def _carousel(
    shop: Shop, message: Mapping[str, Any], facts: Facts, bubbles: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    values = facts.values
    intro = _intro(message, values)
    out: list[dict[str, Any]] = []
    if intro:
        out.append({"type": "text", "text": intro[:5000]})
    if bubbles:
        out.append(
            {
                "type": "flex",
                "altText": (intro or values["products"])[:400],
                "contents": {"type": "carousel", "contents": bubbles[:MAX_PRODUCTS]},
            }
        )
    if not out:
        out.append({"type": "text", "text": values["shop"]})
    return out


# Facts ---------------------------------------------------------------------------------------


def product_url(shop: Shop, product: Product) -> str:
    return (
        f"https://{shop.domain}/products/{product.handle}"
        if product.handle
        else f"https://{shop.domain}/"
    )


def _products(shop: Shop, context: Mapping[str, Any]) -> list[Product]:
    ids = [int(i) for i in context.get("product_ids") or [] if isinstance(i, int)]
    if not ids and isinstance(context.get("order_id"), int):
        order = db.session.get(Order, context["order_id"])
        if order is not None and order.shop_id == shop.id:
            ids = [line.product_id for line in order.lines if line.product_id]
    if not ids:
        return []
    found = {
        p.id: p
        for p in db.session.scalars(
            select(Product).where(Product.shop_id == shop.id, Product.id.in_(ids))
        )
    }
    ordered = []
    for i in dict.fromkeys(ids):
        if i in found and found[i].deleted_at is None:
            ordered.append(found[i])
    return ordered[:MAX_PRODUCTS]


def _titles(products: list[Product], locale: str) -> str:
    if not products:
        return _nothing(locale)
    names = [p.title for p in products[:3]]
    separator = ", " if locale == "en" else "、"
    text = separator.join(names)
    if len(products) > 3:
        text += translate("campaigns.line.and_more", locale=locale)
    return text


def _nothing(locale: str) -> str:
    return translate("campaigns.line.our_products", locale=locale)


def _name(customer: Customer | None, line_user: LineUser | None, locale: str) -> str:
    if (
        customer is not None
        and customer.redacted_at is None
        and (customer.last_name or customer.first_name)
    ):
        return " ".join(p for p in (customer.last_name, customer.first_name) if p)
    if line_user is not None and line_user.display_name:
        return line_user.display_name
    return translate("campaigns.line.customer", locale=locale)


def _restart_url(shop: Shop, products: list[Product]) -> str:
    for product in products:
        if product.subscribable and product.handle:
            return product_url(shop, product)
    return product_url(shop, products[0]) if products else f"https://{shop.domain}/"


def _money(minor: int, currency: str) -> str:
    if currency == "JPY":
        return f"¥{minor:,}"
    return f"{minor / 100:,.2f} {currency}"


def _coupon_values(
    shop: Shop, values: dict[str, str], coupon: CouponFacts | None, locale: str, *, landing: str
) -> None:
    """The coupon variables. `coupon_url` applies the code (Shopify's /discount/<code> link) and
    lands on `landing` (the product to restart or buy), so the discount is in the cart."""
    if coupon is None:
        values.update(
            coupon_title="",
            coupon_code="",
            coupon_value="",
            coupon_expires="",
            coupon_url=f"https://{shop.domain}/",
        )
        return
    if coupon.kind == DiscountKind.PERCENTAGE:
        value = translate("campaigns.line.percent_off", locale=locale, value=coupon.value)
    elif coupon.kind == DiscountKind.FIXED_AMOUNT:
        value = translate(
            "campaigns.line.amount_off", locale=locale, amount=_money(coupon.value, shop.currency)
        )
    else:
        value = translate("campaigns.line.free_shipping", locale=locale)
    values.update(
        coupon_title=coupon.title,
        coupon_code=coupon.code,
        coupon_value=value,
        coupon_expires=_when(shop, coupon.valid_until, locale) if coupon.valid_until else "",
        coupon_url=f"https://{shop.domain}/discount/{coupon.code}" + _redirect(shop, landing),
    )


def _redirect(shop: Shop, landing: str) -> str:
    prefix = f"https://{shop.domain}"
    path = landing[len(prefix) :] if landing.startswith(prefix) else ""
    return f"?{urlencode({'redirect': path})}" if path and path != "/" else ""


def _when(shop: Shop, moment: datetime, locale: str) -> str:
    local = moment.astimezone(ZoneInfo(shop.timezone or "Asia/Tokyo"))
    if locale == "en":
        return f"{local:%b %d, %H:%M}"
    return f"{local.month}月{local.day}日 {local:%H:%M}"
