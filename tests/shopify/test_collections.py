"""Collections and their products, from the Admin API: after install, once a day, and when a
collection webhook (which carries no products) arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from server.commerce.models import Collection, CollectionProduct
from server.db import db
from server.ingest.models import WebhookEvent
from server.shopify import client, collections, tasks
from server.shops.models import Shop
from tests.factories.shops import ShopFactory
from tests.fakes.shopify_api import ShopifyStandIn
from tests.shopify.conftest import SendWebhook

NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)

# The REST Collection resource that collections/* webhooks carry: no products.
COLLECTION_SAMPLE: dict[str, Any] = {
    "id": 482865238,
    "handle": "enzyme-drinks",
    "title": "酵素ドリンク",
    "updated_at": "2026-11-30T10:00:00+09:00",
    "body_html": "<p>毎日の酵素</p>",
    "published_at": "2026-11-01T10:00:00+09:00",
    "sort_order": "manual",
    "template_suffix": None,
    "published_scope": "web",
    "admin_graphql_api_id": "gid://shopify/Collection/482865238",
}


def stored(shop: Shop) -> dict[int, tuple[str, bool, list[int]]]:
    """shopify id → (title, smart, product ids) as Kizuna has them."""
    db.session.expire_all()
    result: dict[int, tuple[str, bool, list[int]]] = {}
    for c in db.session.scalars(Collection.for_shop(shop)):
        members = db.session.scalars(
            select(CollectionProduct.product_shopify_id)
            .where(CollectionProduct.collection_id == c.id)
            .order_by(CollectionProduct.product_shopify_id)
        ).all()
        result[c.shopify_id] = (c.title, c.smart, list(members))
    return result


def test_every_collection_is_read_with_all_its_products_across_pages(
    shop: Shop, shopify_api: ShopifyStandIn
) -> None:
    big = list(range(1000, 1300))  # 300 products: two pages of 250
    shopify_api.serve_collections(
        {
            11: {"title": "定期便", "products": big},
            12: {"title": "人気", "smart": True, "products": [1000, 2000]},
            13: {"title": "空", "products": []},
        }
    )

    assert collections.sync_all(shop, now=NOW) == 3

    assert stored(shop) == {
        11: ("定期便", False, big),
        12: ("人気", True, [1000, 2000]),
        13: ("空", False, []),
    }
    pages = [c.variables.get("after") for c in shopify_api.calls("collection")]
    assert pages.count(None) == 3
    assert "cursor:250" in pages  # the second page of the big one was asked for


def test_a_second_read_follows_shopify_and_forgets_what_it_no_longer_has(
    shop: Shop, shopify_api: ShopifyStandIn
) -> None:
    have = {
        11: {"title": "定期便", "products": [1, 2, 3]},
        12: {"title": "人気", "products": [4]},
    }
    shopify_api.serve_collections(have)
    collections.sync_all(shop, now=NOW)

    have[11] = {"title": "定期便（新）", "products": [2, 3, 5]}
    del have[12]
    collections.sync_all(shop, now=NOW)

    assert stored(shop) == {11: ("定期便（新）", False, [2, 3, 5])}
    assert (
        db.session.scalar(
            select(CollectionProduct).where(CollectionProduct.product_shopify_id == 4)
        )
        is None
    )


def test_one_shops_read_leaves_another_shops_collections_alone(
    shop: Shop, shopify_api: ShopifyStandIn
) -> None:
    other = ShopFactory()
    shopify_api.serve_collections({11: {"title": "定期便", "products": [1]}})
    collections.sync_all(other, now=NOW)
    shopify_api.serve_collections({})

    collections.sync_all(shop, now=NOW)

    assert stored(shop) == {}
    assert stored(other) == {11: ("定期便", False, [1])}


def test_a_collection_webhook_reads_the_collections_products_now(
    shop: Shop, shopify_api: ShopifyStandIn, send_webhook: SendWebhook
) -> None:
    have = {482865238: {"title": "酵素ドリンク", "products": [632910392, 632910393]}}
    shopify_api.serve_collections(have)

    assert (
        send_webhook("collections/create", COLLECTION_SAMPLE, shop=shop.domain).status_code == 200
    )
    assert stored(shop) == {482865238: ("酵素ドリンク", False, [632910392, 632910393])}

    have[482865238] = {"title": "酵素ドリンク", "products": [632910393]}  # a product taken out
    send_webhook("collections/update", COLLECTION_SAMPLE, shop=shop.domain)
    assert stored(shop) == {482865238: ("酵素ドリンク", False, [632910393])}

    send_webhook("collections/delete", {"id": 482865238}, shop=shop.domain)
    assert stored(shop) == {}
    assert db.session.scalars(select(CollectionProduct)).all() == []


def test_an_update_for_a_collection_shopify_no_longer_has_forgets_it(
    shop: Shop, shopify_api: ShopifyStandIn, send_webhook: SendWebhook
) -> None:
    shopify_api.serve_collections({482865238: {"title": "酵素ドリンク", "products": [1]}})
    send_webhook("collections/update", COLLECTION_SAMPLE, shop=shop.domain)
    shopify_api.serve_collections({})  # deleted since; its delete webhook is still on the way

    send_webhook("collections/update", COLLECTION_SAMPLE, shop=shop.domain)

    assert stored(shop) == {}


def test_when_shopify_is_down_the_webhook_is_kept_and_runs_again_later(
    shop: Shop, shopify_api: ShopifyStandIn, send_webhook: SendWebhook
) -> None:
    shopify_api.serve_collections({482865238: {"title": "酵素ドリンク", "products": [1, 2]}})
    shopify_api.fail_graphql(*[503] * client.MAX_ATTEMPTS)

    assert (
        send_webhook("collections/update", COLLECTION_SAMPLE, shop=shop.domain).status_code == 200
    )

    assert stored(shop) == {}
    event = db.session.scalar(
        select(WebhookEvent).where(WebhookEvent.topic == "collections/update")
    )
    assert event is not None
    assert event.processed_at is None
    assert event.last_error is not None
    assert "ShopifyUnavailable" in event.last_error

    tasks.process_shopify_event.call_local(event.id)  # what the sweep does once Shopify is back
    assert stored(shop) == {482865238: ("酵素ドリンク", False, [1, 2])}


def test_installing_reads_the_collections(shop: Shop, shop_details: ShopifyStandIn) -> None:
    shop_details.serve_collections({11: {"title": "定期便", "products": [1, 2]}})
    db.session.commit()

    tasks.after_install.call_local(shop.id)

    assert stored(shop) == {11: ("定期便", False, [1, 2])}


def test_the_daily_refresh_reads_every_installed_shops_collections(
    shopify_api: ShopifyStandIn,
) -> None:
    installed = ShopFactory()
    gone = ShopFactory(uninstalled_at=NOW)
    shopify_api.serve_collections({11: {"title": "定期便", "products": [1]}})
    db.session.commit()

    tasks.refresh_collections.call_local()

    assert stored(installed) == {11: ("定期便", False, [1])}
    assert stored(gone) == {}
