"""The one outbound HTTP session: timeouts, a User-Agent, and base URLs that tests redirect.

Platform clients (Shopify, LINE) call through here; nothing else imports `requests`.
"""

from __future__ import annotations

from typing import Any

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
