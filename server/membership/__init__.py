"""Membership: tiers, the points ledger, member numbers, and the subscriber-only posts.

Tables: membership_settings (one per shop: tier window, earn rate, link bonus, expiry),
tiers, members (one per store customer who joined, with a member number and cached tier and
balance), points_entries (the append-only ledger), subscriber_posts, priority_support_requests.

Other features may call `services` (ensure_member, recompute_tier, award_bonus, settle_order,
spend_points, expire_points), `posts` (visible_posts) and `support` (request_priority_support).
Tier changes are announced to the functions named in `services.TIER_LISTENERS`.
"""
