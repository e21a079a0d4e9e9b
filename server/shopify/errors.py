"""What can go wrong talking to Shopify. Each error says what happened in words a developer can
act on; as DomainErrors they also render as JSON if a view lets one through.

    ShopifyError                 any failure of a Shopify call (502)
    ├── ShopNotConnected         no usable token: not installed, uninstalled, refresh refused (409)
    ├── ShopifyHTTPError         an unexpected HTTP status (4xx other than 401/429)
    ├── ShopifyUnavailable       5xx, timeouts, connection errors, after the retries (503)
    ├── ShopifyThrottled         still THROTTLED / 429 after the retries (503)
    ├── ShopifyGraphQLError      the response carries top-level GraphQL `errors`
    ├── ShopifyUserError         a mutation answered with `userErrors` (422)
    └── TokenRequestFailed       token exchange / code exchange / refresh refused
"""

from __future__ import annotations

from typing import Any

from server.errors import DomainError


class ShopifyError(DomainError):
    status = 502
    code = "shopify_error"


class ShopNotConnected(ShopifyError):
    status = 409
    code = "shop_not_connected"


class ShopifyHTTPError(ShopifyError):
    code = "shopify_http_error"

    def __init__(self, message: str, *, http_status: int, **details: Any) -> None:
        super().__init__(message, http_status=http_status, **details)
        self.http_status = http_status


class ShopifyUnavailable(ShopifyError):
    status = 503
    code = "shopify_unavailable"


class ShopifyThrottled(ShopifyError):
    status = 503
    code = "shopify_throttled"


class ShopifyGraphQLError(ShopifyError):
    code = "shopify_graphql_error"

    def __init__(self, message: str, *, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, errors=errors)
        self.errors = errors


class ShopifyUserError(ShopifyError):
    status = 422
    code = "shopify_user_error"

    def __init__(self, message: str, *, field: str, user_errors: list[dict[str, Any]]) -> None:
        super().__init__(message, field=field, user_errors=user_errors)
        self.field = field
        self.user_errors = user_errors


class TokenRequestFailed(ShopifyError):
    status = 401
    code = "shopify_token_request_failed"
