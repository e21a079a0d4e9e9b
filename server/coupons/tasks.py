"""Background work for coupons: creating the Shopify discount code of a new coupon."""

from __future__ import annotations

import logging

from server.commerce.models import Customer
from server.db import db
from server.jobs import task
from server.membership.models import Member
from server.shopify.errors import ShopifyError, ShopifyThrottled, ShopifyUnavailable
from server.shops.models import Shop

from . import discounts
from .models import Coupon, CouponStatus

log = logging.getLogger(__name__)


@task(retries=5, retry_delay=30)
def create_discount_code(coupon_id: int) -> None:
    """Give a pending coupon its Shopify discount. Safe to run twice: a coupon that is no
    longer pending is left alone. Unreachable Shopify raises (huey retries); a refusal marks
    the coupon failed, with the reason, for the merchant to see."""
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None or coupon.status != CouponStatus.PENDING:
        return
    shop = db.session.get(Shop, coupon.shop_id)
    member = db.session.get(Member, coupon.member_id)
    customer = db.session.get(Customer, member.customer_id) if member else None
    if shop is None or customer is None:
        return
    try:
        coupon.shopify_discount_id = discounts.create_code(shop, coupon, coupon.offer, customer)
    except (ShopifyUnavailable, ShopifyThrottled):
        raise  # huey retries later
    except ShopifyError as error:
        log.warning("coupon %s: Shopify refused the discount code: %s", coupon.id, error.code)
        coupon.status = CouponStatus.FAILED
        coupon.failure = error.message[:255]
        return
    coupon.status = CouponStatus.ACTIVE
