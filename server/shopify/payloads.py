"""Shopify's REST-shaped webhook payloads → the plain records of server/commerce/sync.py.

Field names follow the documented samples (PROTOCOLS.md §3.4). Money arrives as decimal strings
in the shop currency and becomes integer minor units; ids are ints (they exceed 2**53, which
Python handles; they never pass through floats). Anything malformed raises PayloadError, which
fails the event with a clear message instead of storing half a record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.commerce.money import to_minor
from server.commerce.sync import (
    ContractData,
    CustomerData,
    LineData,
    OrderData,
    ProductData,
    VariantData,
)


class PayloadError(ValueError):
    """The payload lacks a field the handler needs, or has one of the wrong type."""


def gid_to_id(value: Any) -> int | None:
    """'gid://shopify/Order/123' or 123 or '123' → 123; None stays None."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        return int(text.rsplit("/", 1)[-1].split("?", 1)[0])
    except ValueError as error:
        raise PayloadError(f"not a Shopify id: {text[:40]!r}") from error


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise PayloadError(f"not an ISO-8601 time: {str(value)[:40]!r}") from error
    if parsed.tzinfo is None:
        raise PayloadError("a time without a zone")
    return parsed


def split_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    return [t.strip() for t in str(value or "").split(",") if t.strip()]


def required_id(payload: dict[str, Any], key: str = "id") -> int:
    if not isinstance(payload, dict):
        raise PayloadError("the payload is not a JSON object")
    value = gid_to_id(payload.get(key))
    if value is None:
        raise PayloadError(f"the payload has no {key}")
    return value


def customer(payload: dict[str, Any]) -> CustomerData:
    consent = payload.get("email_marketing_consent") or {}
    accepts = (
        consent.get("state") == "subscribed" if consent else bool(payload.get("accepts_marketing"))
    )
    return CustomerData(
        shopify_id=required_id(payload),
        email=payload.get("email"),
        first_name=payload.get("first_name"),
        last_name=payload.get("last_name"),
        phone=payload.get("phone"),
        tags=split_tags(payload.get("tags")),
        locale=payload.get("locale"),
        accepts_marketing=accepts,
        state=str(payload.get("state") or "enabled"),
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
    )


def product(payload: dict[str, Any], currency: str) -> ProductData:
    image = payload.get("image") or next(iter(payload.get("images") or []), None) or {}
    return ProductData(
        shopify_id=required_id(payload),
        title=str(payload.get("title") or ""),
        handle=str(payload.get("handle") or ""),
        product_type=str(payload.get("product_type") or ""),
        vendor=str(payload.get("vendor") or ""),
        tags=split_tags(payload.get("tags")),
        status=str(payload.get("status") or "active"),
        image_url=image.get("src"),
        description=str(payload.get("body_html") or ""),
        updated_at=parse_time(payload.get("updated_at")),
        variants=[
            VariantData(
                shopify_id=required_id(v),
                title=str(v.get("title") or ""),
                sku=v.get("sku") or None,
                position=int(v.get("position") or 1),
                price=to_minor(v.get("price") or "0", currency),
                compare_at_price=(
                    to_minor(v["compare_at_price"], currency) if v.get("compare_at_price") else None
                ),
                inventory_quantity=v.get("inventory_quantity"),
            )
            for v in payload.get("variants") or []
        ],
    )


def order(payload: dict[str, Any], default_currency: str) -> OrderData:
    shopify_id = required_id(payload)
    currency = str(payload.get("currency") or default_currency)
    buyer = payload.get("customer")
    processed = parse_time(payload.get("processed_at")) or parse_time(payload.get("created_at"))
    if processed is None:
        raise PayloadError("the order has neither processed_at nor created_at")
    return OrderData(
        shopify_id=shopify_id,
        processed_at=processed,
        name=str(payload.get("name") or ""),
        email=payload.get("email") or payload.get("contact_email"),
        currency=currency,
        subtotal_price=to_minor(payload.get("subtotal_price") or "0", currency),
        total_discounts=to_minor(payload.get("total_discounts") or "0", currency),
        total_price=to_minor(payload.get("total_price") or "0", currency),
        financial_status=payload.get("financial_status"),
        fulfillment_status=payload.get("fulfillment_status"),
        discount_codes=[
            str(c.get("code")) for c in payload.get("discount_codes") or [] if c.get("code")
        ],
        tags=split_tags(payload.get("tags")),
        source_name=payload.get("source_name"),
        cancelled_at=parse_time(payload.get("cancelled_at")),
        cancel_reason=payload.get("cancel_reason"),
        updated_at=parse_time(payload.get("updated_at")),
        customer=customer(buyer) if isinstance(buyer, dict) and buyer.get("id") else None,
        lines=[_line(item, currency) for item in payload.get("line_items") or []],
        refunds=(
            {str(required_id(r)): refund_amount(r, currency) for r in payload["refunds"]}
            if isinstance(payload.get("refunds"), list)
            else None
        ),
    )


def lines_lack_selling_plans(payload: dict[str, Any]) -> bool:
    """Payloads before API version 2026-10 do not say which lines were bought on a selling plan."""
    items = payload.get("line_items") or []
    return bool(items) and not any("selling_plan_id" in item for item in items)


def refund_amount(refund: dict[str, Any], currency: str) -> int:
    """What a refund gave back: its successful refund transactions."""
    return sum(
        to_minor(t.get("amount") or "0", currency)
        for t in refund.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") in ("success", None)
    )


def contract(payload: dict[str, Any]) -> ContractData:
    customer_id = payload.get("customer_id") or (payload.get("customer") or {}).get("id")
    return ContractData(
        shopify_id=required_id(payload, "admin_graphql_api_id" if "id" not in payload else "id"),
        status=str(payload.get("status") or "").lower() or "active",
        customer_shopify_id=gid_to_id(customer_id),
        created_at=parse_time(payload.get("created_at")),
        updated_at=parse_time(payload.get("updated_at")),
        next_billing_date=parse_time(payload.get("next_billing_date")),
    )


def _line(item: dict[str, Any], currency: str) -> LineData:
    return LineData(
        shopify_id=required_id(item),
        product_shopify_id=gid_to_id(item.get("product_id")),
        variant_shopify_id=gid_to_id(item.get("variant_id")),
        title=str(item.get("title") or item.get("name") or ""),
        variant_title=item.get("variant_title"),
        sku=item.get("sku") or None,
        quantity=int(item.get("quantity") or 0),
        price=to_minor(item.get("price") or "0", currency),
        total_discount=to_minor(item.get("total_discount") or "0", currency),
        selling_plan_id=gid_to_id(item.get("selling_plan_id")),
    )
