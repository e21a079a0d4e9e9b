"""Tracked links: `APP_URL/r/<token>` in LINE messages, which record the click and redirect.

Redirects go only to the shop's own storefront: its myshopify domain and the domains Shopify
reports for it (the primary domain, stored by `shopify.install.sync_shop_details` in
`shop.settings["storefront_domains"]`). A target elsewhere is refused when the link is made
and again at every click, so a removed domain stops redirecting and a row changed in the
database cannot turn the app into an open redirect. Tokens are 128 random bits.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import current_app
from sqlalchemy import insert, select

from server.db import db
from server.errors import DomainError, Invalid, NotFound
from server.line.models import LineUser
from server.shops.models import Shop

from .models import LinkClick, TrackedLink

# Anything a browser might read differently from our parser: spaces, control characters,
# backslashes (`https://shop.example\@evil.test`), and percent-encoded ones in the host.
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f\\]")
_HOST = re.compile(r"^[a-z0-9.-]+$")
_URL = re.compile(r"https?://[^\s<>\"'「」（）()、。]+")
_BOTS = ("bot", "crawler", "spider", "facebookexternalhit", "preview", "slurp")


class LinkNotAllowed(Invalid):
    code = "link_not_allowed"


def storefront_domains(shop: Shop) -> set[str]:
    """Hosts a tracked link may lead to: the myshopify domain and the shop's own domains."""
    hosts = {shop.domain.lower()}
    for host in (shop.settings or {}).get("storefront_domains") or []:
        if isinstance(host, str) and _HOST.fullmatch(host.strip().lower()):
            hosts.add(host.strip().lower())
    return hosts


def primary_domain(shop: Shop) -> str:
    """The storefront's main host (its custom domain when it has one)."""
    listed = (shop.settings or {}).get("storefront_domains") or []
    first = listed[0].strip().lower() if listed and isinstance(listed[0], str) else ""
    return first if first and _HOST.fullmatch(first) else shop.domain


def check_target(shop: Shop, url: str) -> str:
    """The canonical form of `url` if it leads to one of the shop's domains; LinkNotAllowed
    otherwise. A path ("/products/tea") means the shop's primary domain."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise LinkNotAllowed("url: give a link of at most 2,000 characters", path="url")
    url = url.strip()
    if _UNSAFE.search(url):
        raise LinkNotAllowed("url: the link contains spaces or characters a browser may misread")
    if url.startswith("/") and not url.startswith("//"):
        url = f"https://{primary_domain(shop)}{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise LinkNotAllowed("url: not a valid link", path="url") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise LinkNotAllowed("url: only http(s) links to the shop can be tracked", path="url")
    host = (parts.hostname or "").rstrip(".")
    if "@" in parts.netloc or not host or not _HOST.fullmatch(host):
        raise LinkNotAllowed("url: not a valid link to the shop", path="url")
    if port not in (None, 80, 443):
        raise LinkNotAllowed("url: links with a port are not allowed", path="url")
    if host not in storefront_domains(shop):
        raise LinkNotAllowed(f"url: {host} is not one of the shop's domains", path="url", host=host)
    return urlunsplit(("https", host, parts.path or "/", parts.query, parts.fragment))


def track_url(
    shop: Shop,
    url: str,
    *,
    line_user: LineUser | int | None = None,
    source_kind: str,
    source_id: int,
) -> str:
    """A new tracked link to `url` for a send (and one recipient, when given).

    Adds a TrackedLink (flushes, the caller commits); raises LinkNotAllowed when the target is
    not on the shop's domains. Each call makes a new token.
    """
    target = check_target(shop, url)
    user_id = line_user.id if isinstance(line_user, LineUser) else line_user
    link = TrackedLink(
        shop_id=shop.id,
        token=secrets.token_urlsafe(16),
        url=target,
        source_kind=source_kind[:32],
        source_id=source_id,
        line_user_id=user_id,
    )
    db.session.add(link)
    db.session.flush()
    return redirect_url(link.token)


def track_many(
    shop: Shop,
    url: str,
    line_user_ids: list[int],
    *,
    source_kind: str,
    source_id: int,
    now: datetime,
) -> dict[int, str]:
    """One tracked link per recipient, as one multi-row INSERT: {line_user_id: tracked url}."""
    target = check_target(shop, url)
    tokens = {user_id: secrets.token_urlsafe(16) for user_id in dict.fromkeys(line_user_ids)}
    rows = [
        {
            "shop_id": shop.id,
            "token": token,
            "url": target,
            "source_kind": source_kind[:32],
            "source_id": source_id,
            "line_user_id": user_id,
            "created_at": now,
        }
        for user_id, token in tokens.items()
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(TrackedLink), rows[start : start + 5000])
    return {user_id: redirect_url(token) for user_id, token in tokens.items()}


def track_messages(
    shop: Shop,
    rendered: list[dict[str, Any]],
    *,
    line_user: LineUser,
    source_kind: str,
    source_id: int,
) -> list[dict[str, Any]]:
    """A copy of LINE messages for one recipient with each link to the shop tracked (one new
    TrackedLink per distinct URL, naming the recipient); links elsewhere stay as written."""
    mapping = {
        url: track_url(shop, url, line_user=line_user, source_kind=source_kind, source_id=source_id)
        for url in trackable_urls(shop, rendered)
    }
    return retarget(rendered, mapping)


def trackable_urls(shop: Shop, rendered: list[dict[str, Any]]) -> list[str]:
    """Links in the LINE messages that lead to the shop (others stay as written)."""
    found: list[str] = []
    for url in _urls(rendered):
        try:
            check_target(shop, url)
        except DomainError:
            continue
        found.append(url)
    return list(dict.fromkeys(found))


def _urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if (
            node.get("type") == "text"
            and isinstance(node.get("text"), str)
            and "contents" not in node
        ):
            yield from _URL.findall(node["text"])
        if node.get("type") == "uri" and isinstance(node.get("uri"), str):
            yield node["uri"]
        for key, child in node.items():
            if key != "text":
                yield from _urls(child)
    elif isinstance(node, list):
        for child in node:
            yield from _urls(child)


def retarget(rendered: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """A copy of the LINE messages with each link in `mapping` replaced by its tracked URL."""
    if not mapping:
        return rendered
    out = copy.deepcopy(rendered)
    pattern = re.compile("|".join(re.escape(u) for u in sorted(mapping, key=len, reverse=True)))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "uri" and node.get("uri") in mapping:
                node["uri"] = mapping[node["uri"]]
            if isinstance(node.get("text"), str) and node.get("type") == "text":
                node["text"] = pattern.sub(lambda m: mapping[m.group(0)], node["text"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(out)
    return out


def redirect_url(token: str) -> str:
    return f"{str(current_app.config['APP_URL']).rstrip('/')}/r/{token}"


def follow(token: str, *, remote_addr: str | None, user_agent: str | None, now: datetime) -> str:
    """Record a click on the link `token` and return where to send the browser.

    Raises NotFound for an unknown token, LinkNotAllowed when the stored target is no longer
    on the shop's domains (nothing is recorded then). Flushes; the view commits.
    """
    if not token or len(token) > 32:
        raise NotFound("no such link")
    link = db.session.scalar(select(TrackedLink).where(TrackedLink.token == token))
    if link is None:
        raise NotFound("no such link")
    shop = db.session.get(Shop, link.shop_id)
    if shop is None or shop.redacted_at is not None:
        raise NotFound("no such link")
    target = check_target(shop, link.url)
    agent = (user_agent or "")[:512]
    db.session.add(
        LinkClick(
            shop_id=link.shop_id,
            link_id=link.id,
            line_user_id=link.line_user_id,
            visitor=_visitor(remote_addr, agent),
            bot=any(word in agent.lower() for word in _BOTS),
            clicked_at=now,
        )
    )
    db.session.flush()
    return target


def _visitor(remote_addr: str | None, user_agent: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    raw = f"{remote_addr or ''}|{user_agent}".encode()
    return hmac.new(key, raw, hashlib.sha256).hexdigest()[:32]
