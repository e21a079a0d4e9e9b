"""The Admin GraphQL client against the local Shopify stand-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from server.db import db, utcnow
from server.shopify.client import graphql
from server.shopify.errors import (
    ShopifyGraphQLError,
    ShopifyHTTPError,
    ShopifyThrottled,
    ShopifyUnavailable,
    ShopifyUserError,
    ShopNotConnected,
)
from server.shops.models import Shop
from tests.factories.shops import ShopFactory
from tests.fakes.shopify_api import ShopifyStandIn, default_cost, throttled_answer

SHOP_QUERY = "query ShopName { shop { name currencyCode } }"
TAG_MUTATION = """
mutation AddTags($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}
"""


def test_a_query_returns_data_from_the_versioned_endpoint(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.on_graphql("ShopName", {"shop": {"name": "絆ストア", "currencyCode": "JPY"}})

    data = graphql(shop, SHOP_QUERY)

    assert data == {"shop": {"name": "絆ストア", "currencyCode": "JPY"}}
    (call,) = shopify_api.calls("ShopName")
    assert call.api_version == "2025-04"
    assert call.shop == shop.domain
    assert call.access_token == shop.access_token
    assert call.root_fields == ["shop"]


def test_variables_are_sent_and_recorded(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    shopify_api.on_graphql(
        "tagsAdd", {"tagsAdd": {"node": {"id": "gid://shopify/Customer/1"}, "userErrors": []}}
    )

    graphql(shop, TAG_MUTATION, {"id": "gid://shopify/Customer/1", "tags": ["LINE"]})

    assert shopify_api.calls("AddTags")[0].variables == {
        "id": "gid://shopify/Customer/1",
        "tags": ["LINE"],
    }


def test_user_errors_raise_with_the_field_and_message(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.on_graphql(
        "AddTags",
        {"tagsAdd": {"node": None, "userErrors": [{"field": ["id"], "message": "not found"}]}},
    )

    with pytest.raises(ShopifyUserError) as raised:
        graphql(shop, TAG_MUTATION, {"id": "gid://shopify/Customer/9", "tags": ["x"]})

    assert raised.value.field == "tagsAdd"
    assert "id: not found" in raised.value.message
    assert raised.value.status == 422


def test_graphql_errors_raise_with_shopifys_message(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.on_graphql("ShopName", {"errors": [{"message": "Access denied for shop field."}]})

    with pytest.raises(ShopifyGraphQLError, match="Access denied for shop field"):
        graphql(shop, SHOP_QUERY)


def test_a_query_the_schema_rejects_is_an_error(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    with pytest.raises(ShopifyGraphQLError, match="nonsenseField"):
        graphql(shop, "query Bad { shop { nonsenseField } }")


def test_throttled_answers_wait_for_the_bucket_then_retry(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    answers = iter([throttled_answer(requested=500, available=100.0), None])

    def answer(variables: dict[str, Any], call: Any) -> dict[str, Any]:
        return next(answers) or {"shop": {"name": "x", "currencyCode": "JPY"}}

    shopify_api.on_graphql("ShopName", answer)

    assert graphql(shop, SHOP_QUERY)["shop"]["name"] == "x"
    assert len(shopify_api.calls("ShopName")) == 2
    # (500 requested − 100 available) / 100 points per second restored = 4 s
    assert 4.0 in shopify_api.sleeps


def test_a_nearly_empty_bucket_slows_the_next_request_down(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.on_graphql(
        "ShopName",
        {
            "data": {"shop": {"name": "x", "currencyCode": "JPY"}},
            "extensions": {"cost": default_cost(requested=10, available=20.0)},
        },
    )

    graphql(shop, SHOP_QUERY)
    assert shopify_api.sleeps == []
    graphql(shop, SHOP_QUERY)

    assert len(shopify_api.sleeps) == 1
    assert 0.5 < shopify_api.sleeps[0] <= 0.8  # (100 − ~20) / 100 points per second


def test_still_throttled_after_the_retries_raises(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    shopify_api.on_graphql("ShopName", lambda _v, _c: throttled_answer())

    with pytest.raises(ShopifyThrottled):
        graphql(shop, SHOP_QUERY)


def test_server_errors_are_retried_with_backoff(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    shopify_api.on_graphql("ShopName", {"shop": {"name": "x", "currencyCode": "JPY"}})
    shopify_api.fail_graphql(503, 502)

    assert graphql(shop, SHOP_QUERY)["shop"]["name"] == "x"
    assert shopify_api.sleeps == [0.5, 1.0]


def test_429_honours_retry_after(shopify_api: ShopifyStandIn, shop: Shop) -> None:
    shopify_api.on_graphql("ShopName", {"shop": {"name": "x", "currencyCode": "JPY"}})
    shopify_api.fail_graphql(429, headers={"Retry-After": "2.0"})

    graphql(shop, SHOP_QUERY)

    assert shopify_api.sleeps == [2.0]


def test_persistent_server_errors_raise_unavailable(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.fail_graphql(500, 500, 500, 500, 500)

    with pytest.raises(ShopifyUnavailable, match="HTTP 500 after 5 attempts"):
        graphql(shop, SHOP_QUERY)


def test_a_forbidden_answer_says_a_scope_is_missing(
    shopify_api: ShopifyStandIn, shop: Shop
) -> None:
    shopify_api.fail_graphql(403)

    with pytest.raises(ShopifyHTTPError, match="access scope is missing") as raised:
        graphql(shop, SHOP_QUERY)
    assert raised.value.http_status == 403


def test_an_expiring_token_is_refreshed_before_the_call(
    shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    shop = ShopFactory()
    shopify_api.connect(shop)
    shopify_api.strict_tokens = True
    old_access = shop.access_token
    shop.access_token_expires_at = utcnow() + timedelta(minutes=2)  # inside the 5-minute margin
    db.session.flush()
    shopify_api.on_graphql("ShopName", {"shop": {"name": "x", "currencyCode": "JPY"}})

    graphql(shop, SHOP_QUERY)

    (refresh,) = [r for r in shopify_api.token_requests if r.grant_type == "refresh_token"]
    assert refresh.params["client_id"] == "test-api-key"
    assert shop.access_token != old_access
    assert shopify_api.calls("ShopName")[0].access_token == shop.access_token
    assert shop.access_token_expires_at is not None
    assert shop.access_token_expires_at > utcnow() + timedelta(minutes=55)


def test_a_401_refreshes_once_then_succeeds(shopify_api: ShopifyStandIn, app_ctx: None) -> None:
    shop = ShopFactory()
    shopify_api.connect(shop)
    shopify_api.strict_tokens = True
    shopify_api.access_tokens.pop(str(shop.access_token))  # Shopify forgot it early
    shopify_api.on_graphql("ShopName", {"shop": {"name": "x", "currencyCode": "JPY"}})

    assert graphql(shop, SHOP_QUERY)["shop"]["name"] == "x"
    assert len(shopify_api.calls("ShopName")) == 2


def test_a_revoked_installation_disconnects_the_shop(
    shopify_api: ShopifyStandIn, app_ctx: None
) -> None:
    shop = ShopFactory()
    shopify_api.connect(shop)
    shopify_api.revoke(shop.domain)

    with pytest.raises(ShopNotConnected):
        graphql(shop, SHOP_QUERY)

    assert shop.access_token is None
    assert not shop.installed


def test_an_uninstalled_shop_is_not_connected(shopify_api: ShopifyStandIn, app_ctx: None) -> None:
    shop = ShopFactory(uninstalled_at=utcnow())

    with pytest.raises(ShopNotConnected):
        graphql(shop, SHOP_QUERY)
    assert shopify_api.calls() == []
