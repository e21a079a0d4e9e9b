"""The shop's commerce data as Kizuna holds it: customers, products, variants, orders, lines.

Mirrored from Shopify (webhooks and the backfill write it, through `services`); every other
feature reads it. Money is integer minor units in the order's currency (JPY has none, so
¥1,200 is 1200); see `money.py`.
"""
