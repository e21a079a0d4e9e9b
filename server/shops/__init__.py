"""The tenant: a Shopify shop that installed Kizuna, its install state, tokens and settings.

Owns the `shops` table. Other features take a `Shop` as their first argument and scope every
query by it.
"""
