"""Shopify: OAuth, token exchange, session tokens, webhooks, App Proxy, Admin GraphQL, backfill."""
