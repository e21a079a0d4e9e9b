"""The one Admin GraphQL client.

    data = graphql(shop, QUERY, {"id": gid})

POSTs to `{SHOPIFY_API_BASE_URL}/admin/api/{SHOPIFY_API_VERSION}/graphql.json` through server.http
with the shop's offline access token (refreshed first when it is about to expire), and returns
the response's `data`. Everything else becomes a ShopifyError subclass (server/shopify/errors.py):

- cost-based throttling: Shopify's leaky bucket is read from `extensions.cost.throttleStatus`; a
  request that would find the bucket nearly empty waits for it to refill, and a THROTTLED answer
  is retried after the time the bucket needs for the requested cost
  (https://shopify.dev/docs/api/usage/limits#graphql-admin-api-rate-limits);
- 5xx, 429, timeouts and connection errors are retried with exponential backoff;
- 401 refreshes the token once; a second 401 means the token was revoked: the shop is
  disconnected (ShopNotConnected);
- top-level GraphQL `errors` raise ShopifyGraphQLError, mutation `userErrors` ShopifyUserError.

Every query and mutation the app sends is validated against the Admin schema in a test
(tests/shopify/test_graphql_schema.py), which finds them in the modules listed in OPERATION_MODULES.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app

from server import http
from server.db import utcnow
from server.shops.models import Shop

from . import tokens
from .errors import (
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyHTTPError,
    ShopifyThrottled,
    ShopifyUnavailable,
    ShopifyUserError,
    ShopNotConnected,
)

log = logging.getLogger(__name__)

# Modules whose upper-case string constants hold GraphQL documents (checked against the schema).
# Features that add queries or mutations add their module here.
OPERATION_MODULES: tuple[str, ...] = (
    "server.coupons.discounts",
    "server.shopify.backfill",
    "server.shopify.collections",
    "server.shopify.install",
    "server.shopify.topics",
)

MAX_ATTEMPTS = 5  # for 5xx, 429 and network errors
MAX_THROTTLED = 6  # THROTTLED answers retried after waiting for the bucket
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
# Keep this many points in the bucket before sending; a typical query costs 1–50 points.
LOW_WATER = 100.0

# Tests replace this to observe waits without spending them.
sleep = time.sleep

_OPERATION = re.compile(r"^\s*(query|mutation)\s+(\w+)")


@dataclass
class _Bucket:
    maximum: float
    available: float
    restore_rate: float
    at: float  # time.monotonic() of the reading

    def estimate(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * (now - self.at))


_buckets: dict[str, _Bucket] = {}
_buckets_lock = threading.Lock()


def graphql(shop: Shop, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one Admin GraphQL operation for `shop` and return its `data`. See the module doc."""
    name = operation_name(query)
    url = (
        http.base_url("SHOPIFY_API_BASE_URL", shop=shop.domain)
        + f"/admin/api/{current_app.config['SHOPIFY_API_VERSION']}/graphql.json"
    )
    body = {"query": query, "variables": variables or {}}
    attempts = throttled = 0
    refreshed_after_401 = False
    token = tokens.access_token_for(shop, now=utcnow())
    while True:
        _wait_for_bucket(shop.domain)
        try:
            response = http.request(
                "POST",
                url,
                json=body,
                headers={
                    "X-Shopify-Access-Token": token,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
        except (http.Timeout, http.ConnectionError) as error:
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                raise ShopifyUnavailable(
                    f"{name} for {shop.domain}: Shopify unreachable after {attempts} attempts "
                    f"({type(error).__name__})"
                ) from error
            sleep(_backoff(attempts))
            continue

        status = response.status_code
        if status == 401:
            if refreshed_after_401:
                tokens.disconnect(shop)
                raise ShopNotConnected(
                    f"{name} for {shop.domain}: Shopify rejected the access token (401); "
                    "the app was uninstalled or the token revoked"
                )
            refreshed_after_401 = True
            token = tokens.access_token_for(shop, now=utcnow(), stale=token)
            continue
        if status == 429 or status >= 500:
            attempts += 1
            if attempts >= MAX_ATTEMPTS:
                error_class = ShopifyThrottled if status == 429 else ShopifyUnavailable
                raise error_class(
                    f"{name} for {shop.domain}: HTTP {status} after {attempts} attempts"
                )
            sleep(_retry_after(response) or _backoff(attempts))
            continue
        if status != 200:
            raise ShopifyHTTPError(
                f"{name} for {shop.domain}: HTTP {status} {_HTTP_MEANING.get(status, '')}".strip(),
                http_status=status,
            )
        try:
            payload = response.json()
        except ValueError as error:
            raise ShopifyError(f"{name} for {shop.domain}: the answer is not JSON") from error

        cost = (payload.get("extensions") or {}).get("cost") or {}
        _record_bucket(shop.domain, cost)
        errors = payload.get("errors")
        if errors:
            if _is_throttled(errors):
                throttled += 1
                if throttled > MAX_THROTTLED:
                    raise ShopifyThrottled(f"{name} for {shop.domain}: still throttled")
                sleep(_throttle_wait(cost))
                continue
            raise ShopifyGraphQLError(
                f"{name} for {shop.domain}: {_messages(errors)}",
                errors=errors if isinstance(errors, list) else [{"message": str(errors)}],
            )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ShopifyError(f"{name} for {shop.domain}: the answer has no data")
        _raise_user_errors(name, shop, data)
        log.debug("%s for %s: ok (cost %s)", name, shop.domain, cost.get("actualQueryCost"))
        return data


def operation_name(query: str) -> str:
    match = _OPERATION.match(query)
    return match.group(2) if match else "anonymous operation"


_HTTP_MEANING = {
    400: "(malformed request)",
    402: "(the shop is frozen: payment required)",
    403: "(forbidden: a required access scope is missing)",
    404: "(no such shop or API version)",
    423: "(the shop is locked)",
}


def _raise_user_errors(name: str, shop: Shop, data: dict[str, Any]) -> None:
    for field, value in data.items():
        if isinstance(value, dict):
            problems = value.get("userErrors")
            if problems:
                raise ShopifyUserError(
                    f"{name} for {shop.domain}: {field} refused: "
                    + "; ".join(
                        f"{'.'.join(map(str, p.get('field') or [])) or '-'}: {p.get('message')}"
                        for p in problems
                    ),
                    field=field,
                    user_errors=problems,
                )


def _is_throttled(errors: Any) -> bool:
    return isinstance(errors, list) and any(
        (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
        if isinstance(e, dict)
    )


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
    return str(errors)


def _record_bucket(domain: str, cost: dict[str, Any]) -> None:
    status = cost.get("throttleStatus") or {}
    try:
        bucket = _Bucket(
            maximum=float(status["maximumAvailable"]),
            available=float(status["currentlyAvailable"]),
            restore_rate=max(float(status["restoreRate"]), 1.0),
            at=time.monotonic(),
        )
    except (KeyError, TypeError, ValueError):
        return
    with _buckets_lock:
        _buckets[domain] = bucket


def _wait_for_bucket(domain: str) -> None:
    with _buckets_lock:
        bucket = _buckets.get(domain)
    if bucket is None:
        return
    low_water = min(LOW_WATER, bucket.maximum / 2)
    available = bucket.estimate(time.monotonic())
    if available < low_water:
        sleep((low_water - available) / bucket.restore_rate)


def _throttle_wait(cost: dict[str, Any]) -> float:
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(missing / max(float(status["restoreRate"]), 1.0), 0.5)
    except (KeyError, TypeError, ValueError):
        return 1.0


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def _retry_after(response: http.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 60.0) if value else None
    except ValueError:
        return None
