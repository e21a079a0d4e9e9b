"""Coupons: offers the merchant defines, the coupons members get from them, and redemptions.

Tables: coupon_offers (percentage / fixed amount / free shipping, minimum purchase, claim
window, coupon lifetime, audience, points price, link incentive) and coupons (one per member
and issue: a unique single-use Shopify discount code, its validity, and the order that used it).

Others call `services.issue_coupon` (scenarios: with their own issue key), `claim_coupon`,
`exchange_points`, and `redemption_summary` for revenue reporting.
"""
