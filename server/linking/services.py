"""Linking a LINE friend to the shop's customer, and unlinking; the once-ever incentive.

Two ways in, one `link()`:
- LINE Login from the storefront (`/apps/kizuna/link`): `start_login` hands the signed-in
  customer to our own domain with a one-time ticket, `login.py` runs LINE Login there, and the
  callback calls `link()` with the ID token's `sub`.
- The Messaging API account link from the chat: `start_account_link` issues a link token and
  sends a button to the storefront page; there `begin_account_link` binds the signed-in
  customer to a fresh single-use nonce and sends the browser to LINE's dialog; the
  `accountLink` webhook then calls `complete_account_link` with that nonce.

Conflicts have one defined outcome each (`LinkOutcome`): the same pair again changes nothing;
a LINE user linked to another customer, or a customer linked to another LINE user, is refused
(unlink first, from either side); a used, unknown or expired nonce/ticket/link token is refused.

Listeners (other features register here; called inside the caller's transaction):
- LINK_LISTENERS `(shop, line_user, customer, *, now)`: after every completed link.
- LINK_INCENTIVE_LISTENERS `(shop, line_user, customer, *, points, now)`: once per customer,
  ever, when the link incentive is granted (the membership ledger adds the points here).
- UNLINK_LISTENERS `(shop, line_user, customer, *, now)`: after an unlink.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.campaigns import triggers as campaign_triggers
from server.commerce.models import Customer
from server.coupons import services as coupon_services
from server.db import db
from server.errors import Conflict, Invalid, NotFound
from server.i18n import normalise, translate
from server.jobs import enqueue_after_commit
from server.line import delivery
from server.line.access import access_target
from server.line.channels import find_channel
from server.line.models import LineUser
from server.membership import services as membership_services
from server.recommendations import services as recommendation_services
from server.shops.models import Shop

from .models import LinkIncentiveGrant, LinkMethod, LinkOutcome, LinkRequest

log = logging.getLogger(__name__)

LINK_TOKEN_TTL = timedelta(minutes=10)  # LINE's link token lives 10 minutes
NONCE_TTL = timedelta(minutes=10)
TICKET_TTL = timedelta(minutes=10)


class LinkListener(Protocol):
    def __call__(
        self, shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime
    ) -> None: ...


class IncentiveListener(Protocol):
    def __call__(
        self, shop: Shop, line_user: LineUser, customer: Customer, *, points: int, now: datetime
    ) -> None: ...


LINK_LISTENERS: tuple[LinkListener, ...] = (
    membership_services.on_linked,  # a linked customer is a member (issue 5)
    coupon_services.on_linked,  # the link-incentive coupons (issue 5)
    campaign_triggers.on_linked,  # "linked" exits, link scenarios (issue 7)
    recommendation_services.on_link,  # a reachable customer gets their list (issue 6)
)
LINK_INCENTIVE_LISTENERS: tuple[IncentiveListener, ...] = (
    membership_services.on_link_incentive,  # the points land in the ledger (issue 5)
)
UNLINK_LISTENERS: tuple[LinkListener, ...] = (
    campaign_triggers.on_unlinked,  # the customer's scenarios end (issue 7)
)


class LinkRefused(Conflict):
    code = "link_refused"

    def __init__(self, outcome: LinkOutcome, message: str = "") -> None:
        super().__init__(message or outcome.value, outcome=outcome.value)
        self.outcome = outcome


class LinkExpired(Invalid):
    code = "link_expired"


# The link itself -------------------------------------------------------------------------------


def find_linked_user(shop: Shop, customer: Customer) -> LineUser | None:
    return db.session.scalar(
        select(LineUser).where(LineUser.shop_id == shop.id, LineUser.customer_id == customer.id)
    )


def check_link(shop: Shop, line_user: LineUser, customer: Customer) -> LinkOutcome | None:
    """The conflict linking would meet, or None when the link can be made."""
    if line_user.customer_id == customer.id:
        return LinkOutcome.ALREADY_LINKED
    if line_user.customer_id is not None:
        return LinkOutcome.LINE_USER_TAKEN
    if find_linked_user(shop, customer) is not None:
        return LinkOutcome.CUSTOMER_TAKEN
    return None


def link(
    shop: Shop,
    line_user: LineUser,
    customer: Customer,
    *,
    method: LinkMethod,
    reply_token: str | None = None,
    reply_token_received_at: datetime | None = None,
    now: datetime,
) -> LinkOutcome:
    """Link `line_user` ↔ `customer` (both of `shop`). Returns the outcome; only LINKED changes
    anything: it sets the link, grants the incentive if this customer never had it, calls the
    listeners, sends the confirmation (transactional) and queues the rich-menu switch."""
    if line_user.shop_id != shop.id or customer.shop_id != shop.id:
        raise NotFound("no such customer or LINE friend")
    conflict = check_link(shop, line_user, customer)
    if conflict is not None:
        log.info("link refused for shop %s: %s", shop.id, conflict.value)
        _notify(
            shop,
            line_user,
            f"linking.line.{conflict.value}",
            reply_token,
            reply_token_received_at,
            now,
        )
        return conflict
    try:
        with db.session.begin_nested():  # the unique (shop, customer) index decides races
            line_user.customer_id = customer.id
            line_user.linked_at = now
    except IntegrityError:
        db.session.refresh(line_user)
        return LinkOutcome.CUSTOMER_TAKEN
    points = _grant_incentive(shop, line_user, customer, now=now)
    for listener in LINK_LISTENERS:
        listener(shop, line_user, customer, now=now)
    log.info("LINE user %s linked to customer %s (%s)", line_user.id, customer.id, method.value)
    key = "linking.line.linked_with_points" if points else "linking.line.linked"
    _notify(shop, line_user, key, reply_token, reply_token_received_at, now, points=points)
    _refresh_menu(line_user)
    return LinkOutcome.LINKED


def unlink(shop: Shop, line_user: LineUser, *, by: str, now: datetime) -> bool:
    """Remove the link (`by` = "customer" or "merchant"). False when there was none. The
    incentive is not granted again if the customer links later."""
    if line_user.shop_id != shop.id:
        raise NotFound("no such LINE friend")
    if line_user.customer_id is None:
        return False
    customer = db.session.get(Customer, line_user.customer_id)
    line_user.customer_id = None
    line_user.linked_at = None
    db.session.flush()
    if customer is not None:
        for listener in UNLINK_LISTENERS:
            listener(shop, line_user, customer, now=now)
    log.info("LINE user %s unlinked by the %s", line_user.id, by)
    _notify(shop, line_user, f"linking.line.unlinked_by_{by}", None, None, now)
    _refresh_menu(line_user)
    return True


def _grant_incentive(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> int:
    """The link incentive, at most once per customer ever (unique row per customer)."""
    channel = find_channel(shop)
    points = channel.link_incentive_points if channel is not None else 0
    exists = db.session.scalar(
        select(LinkIncentiveGrant.id).where(
            LinkIncentiveGrant.shop_id == shop.id, LinkIncentiveGrant.customer_id == customer.id
        )
    )
    if exists is not None or points <= 0:
        return 0
    try:
        with db.session.begin_nested():
            db.session.add(
                LinkIncentiveGrant(
                    shop_id=shop.id,
                    customer_id=customer.id,
                    line_user_id=line_user.id,
                    points=points,
                    granted_at=now,
                )
            )
    except IntegrityError:
        return 0  # a concurrent link granted it
    for listener in LINK_INCENTIVE_LISTENERS:
        listener(shop, line_user, customer, points=points, now=now)
    return points


def _refresh_menu(line_user: LineUser) -> None:
    from server.line.tasks import refresh_rich_menu

    enqueue_after_commit(refresh_rich_menu, line_user.id)


def locale_of(line_user: LineUser) -> str:
    return normalise(line_user.language) or "ja"


def _notify(
    shop: Shop,
    line_user: LineUser,
    key: str,
    reply_token: str | None,
    received_at: datetime | None,
    now: datetime,
    **values: Any,
) -> None:
    if line_user.blocked_at is not None:
        return
    text = translate(key, locale=locale_of(line_user), **values)
    messages: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if key.startswith("linking.line.") and key.endswith(("linked", "linked_with_points")):
        messages[0]["quickReply"] = {"items": [_quick(line_user, "unlink")]}
    delivery.deliver(
        shop,
        line_user,
        messages,
        kind="transactional",
        reply_token=reply_token,
        reply_token_received_at=received_at,
        source="linking",
        now=now,
    )


def _quick(line_user: LineUser, action: str) -> dict[str, Any]:
    label = translate(f"linking.line.button.{action}", locale=locale_of(line_user))
    return {
        "type": "action",
        "action": {"type": "postback", "label": label[:20], "data": f"action={action}"},
    }


# Messaging API account link --------------------------------------------------------------------


def storefront_link_url(shop: Shop, **params: str) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"https://{shop.domain}/apps/kizuna/link{query}"


def start_account_link(
    shop: Shop,
    line_user: LineUser,
    *,
    reply_token: str | None,
    reply_token_received_at: datetime | None,
    now: datetime,
) -> LinkRequest | None:
    """From the chat: issue a LINE link token and send the friend a button to the storefront
    link page. Already linked: say so (with an unlink button) and return None."""
    from server.line import client

    locale = locale_of(line_user)
    if line_user.customer_id is not None:
        _notify(
            shop,
            line_user,
            "linking.line.already_linked",
            reply_token,
            reply_token_received_at,
            now,
        )
        return None
    channel = find_channel(shop)
    if channel is None or not channel.messaging_configured:
        return None
    try:
        link_token = client.issue_link_token(
            access_target(channel, now=now), line_user.line_user_id
        )
    except (client.LineApiError, client.LineUnreachable) as error:
        log.warning("link token for LINE user %s failed: %s", line_user.id, error)
        _notify(
            shop, line_user, "linking.line.try_again", reply_token, reply_token_received_at, now
        )
        return None
    request = LinkRequest(
        shop_id=shop.id,
        method=LinkMethod.ACCOUNT_LINK,
        link_token=link_token,
        line_user_id=line_user.id,
        created_at=now,
        expires_at=now + LINK_TOKEN_TTL,
    )
    db.session.add(request)
    db.session.flush()
    points = channel.link_incentive_points
    text = translate(
        "linking.line.invitation_points" if points else "linking.line.invitation",
        locale=locale,
        points=points,
    )
    button = {
        "type": "template",
        "altText": text[:400],
        "template": {
            "type": "buttons",
            "text": text[:160],
            "actions": [
                {
                    "type": "uri",
                    "label": translate("linking.line.button.link", locale=locale)[:20],
                    "uri": storefront_link_url(shop, linkToken=link_token),
                }
            ],
        },
    }
    delivery.deliver(
        shop,
        line_user,
        [button],
        kind="transactional",
        reply_token=reply_token,
        reply_token_received_at=reply_token_received_at,
        source="linking",
        now=now,
    )
    return request


def begin_account_link(shop: Shop, customer: Customer, link_token: str, *, now: datetime) -> str:
    """The storefront page, for a signed-in customer holding a link token: bind them to a
    fresh single-use nonce and return LINE's account-link dialog URL. Raises LinkExpired for
    an unknown, used or expired link token, LinkRefused for a conflict known in advance."""
    request = db.session.scalar(
        select(LinkRequest).where(
            LinkRequest.shop_id == shop.id,
            LinkRequest.method == LinkMethod.ACCOUNT_LINK,
            LinkRequest.link_token == link_token,
        )
    )
    if request is None or request.used_at is not None or now >= request.expires_at:
        raise LinkExpired("this link has expired or was already used; ask for a new one in LINE")
    line_user = db.session.get(LineUser, request.line_user_id)
    if line_user is None:
        raise LinkExpired("this link is no longer valid")
    conflict = check_link(shop, line_user, customer)
    if conflict is not None:
        raise LinkRefused(conflict)
    # LINE: 10-255 characters, unpredictable, single use, not derived from the customer id.
    request.token = secrets.token_urlsafe(32)
    request.customer_id = customer.id
    db.session.flush()
    base = str(current_app.config["LINE_LOGIN_BASE_URL"]).rstrip("/")
    query = urlencode({"linkToken": link_token, "nonce": request.token})
    return f"{base}/dialog/bot/accountLink?{query}"


def complete_account_link(
    shop: Shop,
    event: dict[str, Any],
    *,
    received_at: datetime,
    now: datetime,
) -> LinkOutcome:
    """The accountLink webhook event: finish the link its nonce stands for, once."""
    from server.line.services import ensure_line_user

    link_data = event.get("link") or {}
    nonce = link_data.get("nonce") if isinstance(link_data, dict) else None
    result = link_data.get("result") if isinstance(link_data, dict) else None
    request = None
    if isinstance(nonce, str) and nonce:
        request = db.session.scalar(
            select(LinkRequest).where(
                LinkRequest.shop_id == shop.id,
                LinkRequest.method == LinkMethod.ACCOUNT_LINK,
                LinkRequest.token == nonce,
            )
        )
    source = event.get("source") or {}
    user_id = source.get("userId") if isinstance(source, dict) else None
    reply_token = event.get("replyToken") if event.get("mode") != "standby" else None
    if result != "ok" or not user_id:
        # LINE could not confirm the user (no source, no reply token): close the nonce.
        if request is not None and request.used_at is None:
            request.used_at, request.outcome = now, LinkOutcome.FAILED
        log.info("account link failed for shop %s", shop.id)
        return LinkOutcome.FAILED
    line_user = ensure_line_user(shop, str(user_id))
    if request is None or request.used_at is not None or request.customer_id is None:
        log.warning("account link with an unknown or reused nonce (shop %s)", shop.id)
        _notify(shop, line_user, "linking.line.expired", reply_token, received_at, now)
        return LinkOutcome.EXPIRED
    request.used_at = now
    if now >= request.expires_at + NONCE_TTL or request.line_user_id != line_user.id:
        request.outcome = LinkOutcome.EXPIRED
        _notify(shop, line_user, "linking.line.expired", reply_token, received_at, now)
        return LinkOutcome.EXPIRED
    customer = db.session.get(Customer, request.customer_id)
    if customer is None or customer.shop_id != shop.id:
        request.outcome = LinkOutcome.FAILED
        return LinkOutcome.FAILED
    outcome = link(
        shop,
        line_user,
        customer,
        method=LinkMethod.ACCOUNT_LINK,
        reply_token=reply_token,
        reply_token_received_at=received_at,
        now=now,
    )
    request.outcome = outcome
    return outcome


# LINE Login from the storefront ----------------------------------------------------------------


def start_login(shop: Shop, customer: Customer, *, now: datetime) -> str:
    """A one-time ticket that carries the signed-in storefront customer to our own domain
    (App Proxy responses cannot set cookies, and LINE Login needs one for its state)."""
    ticket = secrets.token_urlsafe(32)
    db.session.add(
        LinkRequest(
            shop_id=shop.id,
            method=LinkMethod.LOGIN,
            token=ticket,
            customer_id=customer.id,
            created_at=now,
            expires_at=now + TICKET_TTL,
        )
    )
    db.session.flush()
    return ticket


def redeem_ticket(ticket: str, *, now: datetime) -> LinkRequest:
    """Use a login ticket (once). Raises LinkExpired."""
    request = (
        db.session.scalar(
            select(LinkRequest).where(
                LinkRequest.method == LinkMethod.LOGIN, LinkRequest.token == ticket
            )
        )
        if ticket
        else None
    )
    if request is None or request.used_at is not None or now >= request.expires_at:
        raise LinkExpired("this sign-in link has expired or was already used")
    request.used_at = now
    return request


def find_login_request(state: str) -> LinkRequest | None:
    if not state:
        return None
    return db.session.scalar(
        select(LinkRequest).where(
            LinkRequest.method == LinkMethod.LOGIN, LinkRequest.link_token == state
        )
    )


def complete_login(
    shop: Shop,
    request: LinkRequest,
    line_user_id: str,
    profile: dict[str, Any],
    *,
    now: datetime,
) -> LinkOutcome:
    """The LINE Login callback verified an ID token for `line_user_id`: link it."""
    from server.line.services import ensure_line_user

    if request.outcome is not None:
        return LinkOutcome.EXPIRED
    customer = db.session.get(Customer, request.customer_id) if request.customer_id else None
    if customer is None or customer.shop_id != shop.id:
        request.outcome = LinkOutcome.FAILED
        return LinkOutcome.FAILED
    line_user = ensure_line_user(shop, line_user_id)
    if not line_user.display_name and profile.get("name"):
        line_user.display_name = str(profile["name"])[:255]
    if not line_user.picture_url and profile.get("picture"):
        line_user.picture_url = str(profile["picture"])
    request.line_user_id = line_user.id
    outcome = link(shop, line_user, customer, method=LinkMethod.LOGIN, now=now)
    request.outcome = outcome
    return outcome


# Reading ----------------------------------------------------------------------------------------


def link_stats(shop: Shop) -> dict[str, int]:
    from sqlalchemy import func

    grants, points = db.session.execute(
        select(func.count(), func.coalesce(func.sum(LinkIncentiveGrant.points), 0)).where(
            LinkIncentiveGrant.shop_id == shop.id
        )
    ).one()
    return {"incentives_granted": int(grants or 0), "incentive_points": int(points or 0)}


Listener = Callable[..., None]
