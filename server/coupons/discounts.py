"""Shopify discount codes for coupons: one single-use code per coupon, for one customer.

https://shopify.dev/docs/api/admin-graphql/2025-04/mutations/discountCodeBasicCreate and
discountCodeFreeShippingCreate. The code is drawn before the first call and kept on the coupon,
so a retry after a timeout asks for the same code; when Shopify answers that the code exists,
the earlier attempt got through and the existing discount is looked up instead.
"""

from __future__ import annotations

from typing import Any

from server.commerce.models import Customer
from server.commerce.money import to_decimal
from server.shopify.client import graphql
from server.shopify.errors import ShopifyUserError
from server.shops.models import Shop

from .models import Coupon, CouponOffer, DiscountKind

BASIC_CREATE = """
mutation CouponBasicCreate($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

FREE_SHIPPING_CREATE = """
mutation CouponFreeShippingCreate($input: DiscountCodeFreeShippingInput!) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

BY_CODE = """
query CouponByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}
"""


def discount_input(
    shop: Shop, coupon: Coupon, offer: CouponOffer, customer: Customer
) -> dict[str, Any]:
    """Pure: the mutation input for one coupon (single use, this customer, its validity)."""
    data: dict[str, Any] = {
        "title": f"{offer.title} ({coupon.code})",
        "code": coupon.code,
        "startsAt": coupon.issued_at.isoformat(),
        "endsAt": coupon.valid_until.isoformat() if coupon.valid_until else None,
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "customerSelection": {
            "customers": {"add": [f"gid://shopify/Customer/{customer.shopify_id}"]}
        },
    }
    if offer.minimum_subtotal:
        data["minimumRequirement"] = {
            "subtotal": {
                "greaterThanOrEqualToSubtotal": str(
                    to_decimal(offer.minimum_subtotal, shop.currency)
                )
            }
        }
    if offer.kind == DiscountKind.FREE_SHIPPING:
        data["destination"] = {"all": True}
        return data
    if offer.kind == DiscountKind.PERCENTAGE:
        value: dict[str, Any] = {"percentage": offer.value / 100}
    else:
        value = {
            "discountAmount": {
                "amount": str(to_decimal(offer.value, shop.currency)),
                "appliesOnEachItem": False,
            }
        }
    data["customerGets"] = {"value": value, "items": {"all": True}}
    return data


def create_code(shop: Shop, coupon: Coupon, offer: CouponOffer, customer: Customer) -> str:
    """Create the coupon's discount in Shopify; returns the discount's gid.

    Raises ShopifyError subclasses (ShopifyUserError when Shopify refuses the input).
    """
    free_shipping = offer.kind == DiscountKind.FREE_SHIPPING
    mutation, field = (
        (FREE_SHIPPING_CREATE, "discountCodeFreeShippingCreate")
        if free_shipping
        else (BASIC_CREATE, "discountCodeBasicCreate")
    )
    try:
        data = graphql(shop, mutation, {"input": discount_input(shop, coupon, offer, customer)})
    except ShopifyUserError as error:
        if not _code_taken(error):
            raise
        found = graphql(shop, BY_CODE, {"code": coupon.code}).get("codeDiscountNodeByCode")
        if not found:
            raise
        return str(found["id"])
    return str(data[field]["codeDiscountNode"]["id"])


def _code_taken(error: ShopifyUserError) -> bool:
    return any(
        (problem.get("code") == "TAKEN")
        or (
            "code" in (problem.get("field") or [])
            and "taken" in str(problem.get("message", "")).lower()
        )
        for problem in error.user_errors
    )
