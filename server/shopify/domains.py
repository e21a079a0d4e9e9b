"""Shop domains: only `<name>.myshopify.com`, anchored, lower case."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def valid_shop_domain(value: str | None) -> bool:
    return bool(value) and SHOP_DOMAIN.fullmatch(value or "") is not None


def shop_from_url(url: str) -> str | None:
    """'https://x.myshopify.com/admin' → 'x.myshopify.com', or None if it is not a shop URL."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not valid_shop_domain(parts.hostname):
        return None
    return parts.hostname
