"""The shop's collections and the products in each, read from the Admin GraphQL API.

Collection webhooks (collections/create, update, delete) carry the collection but not its
products, and a smart collection's members change with product tags or types without any
collection webhook. So a collection's product list is always read in full from its `products`
connection: when its webhook arrives (topics.py), and for every collection after install and
once a day (tasks.refresh_collections).
https://shopify.dev/docs/api/admin-graphql/latest/objects/Collection
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from server.commerce import sync
from server.commerce.models import Collection
from server.shops.models import Shop

from .client import graphql
from .payloads import gid_to_id, parse_time

log = logging.getLogger(__name__)

COLLECTIONS = """
query KizunaCollections($after: String) {
  collections(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}
"""

# 250 product ids a page: about 260 cost points of the 1,000 a query may ask for.
COLLECTION_PRODUCTS = """
query KizunaCollectionProducts($id: ID!, $after: String) {
  collection(id: $id) {
    id
    title
    handle
    updatedAt
    ruleSet { appliedDisjunctively }
    products(first: 250, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id }
    }
  }
}
"""


def sync_collection(shop: Shop, shopify_id: int, *, now: datetime) -> Collection | None:
    """Read one collection and all its products; None (and forgotten) if Shopify has no such
    collection any more."""
    gid = f"gid://shopify/Collection/{shopify_id}"
    product_ids: list[int] = []
    after: str | None = None
    node: dict[str, Any] | None = None
    while True:
        node = graphql(shop, COLLECTION_PRODUCTS, {"id": gid, "after": after}).get("collection")
        if node is None:
            sync.delete_collection(shop, shopify_id)
            return None
        page = node["products"]
        product_ids += [i for i in (gid_to_id(p["id"]) for p in page["nodes"]) if i is not None]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    record = sync.CollectionData(
        shopify_id=shopify_id,
        title=node["title"],
        handle=node.get("handle") or "",
        smart=node.get("ruleSet") is not None,
        updated_at=parse_time(node.get("updatedAt")),
        product_ids=product_ids,
    )
    return sync.replace_collection(shop, record, now=now)


def sync_all(shop: Shop, *, now: datetime) -> int:
    """Every collection of the shop, each with all its products; the ones Shopify no longer
    has are forgotten. Returns how many collections the shop has."""
    seen: list[int] = []
    after: str | None = None
    while True:
        page = graphql(shop, COLLECTIONS, {"after": after})["collections"]
        for node in page["nodes"]:
            shopify_id = gid_to_id(node["id"])
            if shopify_id is not None and sync_collection(shop, shopify_id, now=now) is not None:
                seen.append(shopify_id)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    forgotten = sync.delete_collections_except(shop, seen)
    log.info("shop %s: %d collections read, %d forgotten", shop.id, len(seen), forgotten)
    return len(seen)
