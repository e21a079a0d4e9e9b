"""Offline access tokens: acquiring them (token exchange, authorization code), keeping them fresh.

Public apps must use *expiring* offline tokens: a 1-hour access token and a single-use 90-day
refresh token; each refresh returns a new pair and kills the old refresh token.
https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens

Token exchange and refresh go through Shopify's own package (`shopify_app`), with an httpx client
from server.http so the calls reach SHOPIFY_API_BASE_URL. The authorization-code exchange is not in
that package (it targets embedded apps) and is a plain form POST here.

Concurrency: two processes finding the token stale at once must not both spend the refresh token
(the loser's refresh would fail and log the shop out). A short lease on the shop row, taken with
a compare-and-set UPDATE in its own transaction, lets one refresh while the others wait and then
read the new token. The refreshed tokens are committed in that same separate transaction at once,
whatever the caller's transaction later does: a rolled-back refresh would lose the only valid
refresh token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from server import http
from server.db import db, utcnow
from server.shops.models import Shop

from . import credentials
from .errors import ShopifyUnavailable, ShopNotConnected, TokenRequestFailed
from .session_token import SessionToken

log = logging.getLogger(__name__)

# Refresh this long before the access token runs out, so a request never starts with a token
# that dies on the way.
REFRESH_MARGIN = timedelta(minutes=5)
LEASE = timedelta(seconds=30)
WAIT_FOR_OTHER_REFRESH = 15.0  # seconds a process waits for another one's refresh
WAIT_STEP = 0.1
# Refresh errors that mean the refresh token (or the installation) is dead, not a hiccup.
DEAD_REFRESH = frozenset({"invalid_grant", "refresh_token_expired", "invalid_client"})

_TOKEN_FIELDS = (
    "access_token",
    "access_token_expires_at",
    "refresh_token",
    "refresh_token_expires_at",
    "scopes",
    "token_lease_until",
)


@dataclass(frozen=True)
class TokenGrant:
    """What Shopify's token endpoint answered (times already converted to datetimes)."""

    access_token: str
    scope: str
    expires_at: datetime | None  # None: a non-expiring token
    refresh_token: str | None
    refresh_token_expires_at: datetime | None

    @classmethod
    def from_response(cls, body: dict[str, Any], *, now: datetime) -> TokenGrant:
        def after(seconds: Any) -> datetime | None:
            return now + timedelta(seconds=int(seconds)) if seconds is not None else None

        return cls(
            access_token=str(body["access_token"]),
            scope=str(body.get("scope", "")),
            expires_at=after(body.get("expires_in")),
            refresh_token=body.get("refresh_token"),
            refresh_token_expires_at=after(body.get("refresh_token_expires_in")),
        )


def exchange_session_token(verified: SessionToken, raw_token: str, *, now: datetime) -> TokenGrant:
    """Token exchange: the session token of a verified admin load → an expiring offline token.

    Raises TokenRequestFailed when Shopify refuses (an invalid or stale session token: 400).
    https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange
    """
    with http.httpx_client(http.base_url("SHOPIFY_API_BASE_URL", shop=verified.shop)) as client:
        result = credentials.sdk().exchange_using_token_exchange(
            "offline",
            id_token={"exchangeable": True, "token": raw_token, "claims": verified.claims},
            expiring=True,
            http_client=client,
        )
    if not result.ok or result.access_token is None:
        log.warning("token exchange for %s refused: %s", verified.shop, result.log.code)
        raise TokenRequestFailed(f"Shopify refused the token exchange ({result.log.code})")
    return _grant_from_sdk(result.access_token, now=now)


def exchange_authorization_code(shop_domain: str, code: str, *, now: datetime) -> TokenGrant:
    """Authorization-code grant, step 4: the code → an expiring offline token (`expiring=1`)."""
    url = http.base_url("SHOPIFY_API_BASE_URL", shop=shop_domain) + "/admin/oauth/access_token"
    try:
        response = http.request(
            "POST",
            url,
            data={
                "client_id": current_app.config["SHOPIFY_API_KEY"],
                "client_secret": current_app.config["SHOPIFY_API_SECRET"],
                "code": code,
                "expiring": "1",
            },
            headers={"Accept": "application/json"},
        )
    except http.RequestException as error:
        raise ShopifyUnavailable(f"could not reach Shopify's token endpoint: {error}") from error
    if response.status_code != 200:
        raise TokenRequestFailed(
            f"Shopify refused the authorization code (HTTP {response.status_code})"
        )
    return TokenGrant.from_response(response.json(), now=now)


def store_grant(shop: Shop, grant: TokenGrant) -> None:
    shop.access_token = grant.access_token
    shop.access_token_expires_at = grant.expires_at
    shop.refresh_token = grant.refresh_token
    shop.refresh_token_expires_at = grant.refresh_token_expires_at
    shop.scopes = grant.scope
    shop.token_lease_until = None


def forget_tokens(shop: Shop) -> None:
    shop.access_token = None
    shop.access_token_expires_at = None
    shop.refresh_token = None
    shop.refresh_token_expires_at = None
    shop.token_lease_until = None


def needs_refresh(shop: Shop, *, now: datetime) -> bool:
    if shop.access_token is None:
        return True
    expires = shop.access_token_expires_at
    return expires is not None and expires - now < REFRESH_MARGIN


def refresh_token_usable(shop: Shop, *, now: datetime) -> bool:
    expires = shop.refresh_token_expires_at
    return shop.refresh_token is not None and (expires is None or expires > now)


def access_token_for(shop: Shop, *, now: datetime | None = None, stale: str | None = None) -> str:
    """A valid access token for `shop`, refreshed first if it is about to expire, or if it is
    `stale` (Shopify answered 401 to it).

    Raises ShopNotConnected (never installed, uninstalled, refresh refused: the merchant must
    open the app again) and ShopifyUnavailable (Shopify unreachable; try again later).
    """
    now = now or utcnow()
    if not shop.installed or shop.access_token is None:
        raise ShopNotConnected(f"{shop.domain} has no Shopify access token (not installed)")
    if not needs_refresh(shop, now=now) and shop.access_token != stale:
        return shop.access_token
    try:
        refreshed = _refresh(shop.id, now=now, stale=stale)
    except ShopNotConnected:
        for name in ("access_token", "access_token_expires_at", "refresh_token"):
            set_committed_value(shop, name, None)
        if shop.uninstalled_at is None:
            set_committed_value(shop, "uninstalled_at", utcnow())
        raise
    for name in _TOKEN_FIELDS:  # the caller's copy is stale; nothing for it to write back
        set_committed_value(shop, name, getattr(refreshed, name))
    if refreshed.access_token is None:
        raise ShopNotConnected(f"{shop.domain} is no longer connected")
    return refreshed.access_token


@dataclass
class _Snapshot:
    access_token: str | None
    access_token_expires_at: datetime | None
    refresh_token: str | None
    refresh_token_expires_at: datetime | None
    scopes: str
    token_lease_until: datetime | None
    installed: bool

    @classmethod
    def of(cls, shop: Shop) -> _Snapshot:
        return cls(
            **{name: getattr(shop, name) for name in _TOKEN_FIELDS}, installed=shop.installed
        )


def _refresh(shop_id: int, *, now: datetime, stale: str | None) -> _Snapshot:
    deadline = time.monotonic() + WAIT_FOR_OTHER_REFRESH
    while True:
        with _own_transaction() as session:
            shop = _read(session, shop_id)
            if shop is None or not shop.installed or shop.access_token is None:
                raise ShopNotConnected("the shop is not installed")
            if not needs_refresh(shop, now=now) and shop.access_token != stale:
                return _Snapshot.of(shop)  # fresh: another process has just refreshed
            if not refresh_token_usable(shop, now=now):
                _disconnect(session, shop)
                raise ShopNotConnected(
                    f"{shop.domain}: the refresh token has expired; the merchant must open the app"
                )
            # An expired lease: its holder crashed, or its request is still in flight.
            took_over = shop.token_lease_until is not None
            clock = utcnow()
            taken = session.execute(
                update(Shop)
                .where(
                    Shop.id == shop_id,
                    or_(Shop.token_lease_until.is_(None), Shop.token_lease_until < clock),
                )
                .values(token_lease_until=clock + LEASE)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if taken == 1:
                return _refresh_holding_lease(
                    session, shop_id, stale=stale, now=now, took_over=took_over
                )
        if time.monotonic() > deadline:
            raise ShopifyUnavailable("another process is still refreshing the token; try again")
        time.sleep(WAIT_STEP)


def _refresh_holding_lease(
    session: Session, shop_id: int, *, stale: str | None, now: datetime, took_over: bool
) -> _Snapshot:
    shop = _read(session, shop_id)
    assert shop is not None  # noqa: S101 - we hold its lease
    if not needs_refresh(shop, now=now) and shop.access_token != stale:
        shop.token_lease_until = None  # refreshed between our look and our lease
        session.commit()
        return _Snapshot.of(shop)
    spent = shop.refresh_token
    request = {
        "shop": shop.domain.removesuffix(".myshopify.com"),
        "refresh_token": spent,
        "expires": None,  # we decided to refresh; the package must not second-guess
        "refresh_token_expires": _iso(shop.refresh_token_expires_at),
        "access_mode": "offline",
    }
    with http.httpx_client(http.base_url("SHOPIFY_API_BASE_URL", shop=shop.domain)) as client:
        result = credentials.sdk().refresh_token_exchanged_access_token(request, http_client=client)
        if result.log.code == "network_error":
            # The answer may have been lost after Shopify rotated the token; Shopify answers a
            # retry with the same refresh token with the same new pair for a short while.
            result = credentials.sdk().refresh_token_exchanged_access_token(
                request, http_client=client
            )
    if result.ok and result.access_token is not None:
        store_grant(shop, _grant_from_sdk(result.access_token, now=now))
        session.commit()
        log.info("refreshed the access token of shop %s", shop_id)
        return _Snapshot.of(shop)
    code = result.log.code
    shop = _read(session, shop_id)
    assert shop is not None  # noqa: S101
    if code in DEAD_REFRESH and took_over and shop.refresh_token == spent:
        # The holder whose lease we took may have spent the token just before us and not have
        # stored its answer yet: refused now does not mean dead until it had time to.
        shop = _wait_for_new_refresh_token(session, shop_id, spent)
    if shop.refresh_token != spent:  # another process refreshed meanwhile
        return _Snapshot.of(shop)
    if code in DEAD_REFRESH:
        log.warning("shop %s: token refresh refused (%s); marked disconnected", shop_id, code)
        _disconnect(session, shop)
        raise ShopNotConnected(f"{shop.domain}: Shopify refused the token refresh ({code})")
    shop.token_lease_until = None
    session.commit()
    raise ShopifyUnavailable(f"token refresh failed ({code}); try again later")


def _wait_for_new_refresh_token(session: Session, shop_id: int, spent: str | None) -> Shop:
    deadline = time.monotonic() + WAIT_FOR_OTHER_REFRESH
    while True:
        shop = _read(session, shop_id)
        assert shop is not None  # noqa: S101 - we hold its lease
        if shop.refresh_token != spent or time.monotonic() > deadline:
            return shop
        time.sleep(WAIT_STEP)


def _read(session: Session, shop_id: int) -> Shop | None:
    """The shop's current row, in a read-only transaction that ends at once.

    A transaction that reads and then writes fails on SQLite (WAL) if another connection wrote
    in between ("database is locked", busy_timeout does not help); one that writes first waits
    its turn. So reads end before the writes that follow them.
    """
    shop = session.get(Shop, shop_id, populate_existing=True)
    session.commit()  # expire_on_commit=False: the object keeps what was read
    return shop


def disconnect(shop: Shop) -> None:
    """Shopify said the token is no good (401 after a refresh): forget it, mark the shop
    uninstalled (sends stop) until the merchant opens the app again. Committed at once."""
    with _own_transaction() as session:
        row = _read(session, shop.id)
        if row is not None:
            _disconnect(session, row)
    for name in ("access_token", "access_token_expires_at", "refresh_token"):
        set_committed_value(shop, name, None)
    if shop.uninstalled_at is None:
        set_committed_value(shop, "uninstalled_at", utcnow())


def _disconnect(session: Session, shop: Shop) -> None:
    """A dead refresh token: like an uninstall until the merchant opens the app again."""
    forget_tokens(shop)
    if shop.uninstalled_at is None:
        shop.uninstalled_at = utcnow()
    session.commit()


@contextmanager
def _own_transaction() -> Iterator[Session]:
    # A session of its own: its commits do not carry (or wait for) the caller's pending work. In
    # production the bind is the engine, hence a new connection; in tests it is the test's
    # connection, and commits become savepoints of the test's transaction.
    session = Session(
        bind=db.session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()


def _grant_from_sdk(token: Any, *, now: datetime) -> TokenGrant:
    return TokenGrant(
        access_token=token.token,
        scope=token.scope or "",
        expires_at=_parse(token.expires),
        refresh_token=token.refresh_token,
        refresh_token_expires_at=_parse(token.refresh_token_expires),
    )


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
