"""The one outbound HTTP session: timeouts, a User-Agent, and base URLs that tests redirect.

Platform clients (Shopify, LINE) call through here; nothing else imports `requests`.
"""

from __future__ import annotations

from typing import Any

import httpx  # noqa: TID251 - this module is the one allowed user
import requests  # noqa: TID251 - this module is the one allowed user
from flask import current_app

from server.version import __version__

USER_AGENT = f"Kizuna/{__version__}"
# (connect, read) seconds. LINE and Shopify answer in well under a second when healthy; a
# read that takes longer is retried by the caller with the same idempotency key.
DEFAULT_TIMEOUT = (3.05, 10.0)

Timeout = requests.Timeout
ConnectionError = requests.ConnectionError
RequestException = requests.RequestException
Response = requests.Response


def session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def request(
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    http: requests.Session | None = None,
    **kwargs: Any,
) -> requests.Response:
    sender = http or session()
    return sender.request(method, url, timeout=timeout, **kwargs)


def base_url(name: str, *, shop: str | None = None) -> str:
    """A platform base URL from config: base_url("SHOPIFY_API_BASE_URL", shop="x.myshopify.com")."""
    url = str(current_app.config[name]).rstrip("/")
    if "{shop}" in url:
        if shop is None:
            raise ValueError(f"{name} needs a shop domain")
        url = url.replace("{shop}", shop)
    return url


class _Rebased(httpx.BaseTransport):
    """Sends every request to `base` + the request's path: Shopify's own package (shopifyapp)
    builds `https://{shop}/...` URLs itself, and this is how its calls reach a configured base
    URL (a stand-in in tests; the identity in production)."""

    def __init__(self, base: str) -> None:
        self.base = httpx.URL(base)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        prefix = self.base.path.rstrip("/")
        request.url = request.url.copy_with(
            scheme=self.base.scheme,
            host=self.base.host,
            port=self.base.port,
            path=prefix + request.url.path,
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def httpx_client(base: str) -> httpx.Client:
    """An httpx client for libraries that take one (shopifyapp), with our timeouts and User-Agent,
    whose requests all go to `base` (e.g. `base_url("SHOPIFY_API_BASE_URL", shop=...)`)."""
    connect, read = DEFAULT_TIMEOUT
    return httpx.Client(
        transport=_Rebased(base),
        timeout=httpx.Timeout(read, connect=connect),
        headers={"User-Agent": USER_AGENT},
    )
