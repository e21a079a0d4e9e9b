"""LIFF ID-token authentication for /api/liff: sets g.shop, g.channel, g.line_user, g.member."""

from __future__ import annotations

from typing import Any

from flask import g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.db import commit, db, utcnow
from server.line.models import LineUser
from server.membership import services as membership
from server.shops.models import Shop

from .id_token import InvalidIdToken, verify


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidIdToken("missing ID token (Authorization: Bearer <LIFF ID token>)")
    verified = verify(token.strip(), liff_id=request.headers.get("X-Liff-Id"))
    shop = verified.shop
    if not shop.installed:
        raise InvalidIdToken("this shop no longer uses Kizuna")
    now = utcnow()
    line_user, created = _line_user(shop, verified.user_id, verified.claims, now=now)
    member = None
    if line_user.customer is not None and line_user.customer.shop_id == shop.id:
        existing = membership.find_member(shop, line_user.customer.id)
        member = existing or membership.ensure_member(shop, line_user.customer, now=now)
        created = created or existing is None
    if created:
        commit()  # the first visit's rows are this request's only writes so far
    g.shop = shop
    g.channel = verified.channel
    g.claims = verified.claims
    g.line_user = line_user
    g.customer = line_user.customer
    g.member = member


def _line_user(
    shop: Shop, user_id: str, claims: dict[str, Any], *, now: Any
) -> tuple[LineUser, bool]:
    """The shop's LineUser for this LINE user, created when they open the app before ever
    following the account (LINE Login channels and the OA share the provider's user ids)."""
    query = select(LineUser).where(LineUser.shop_id == shop.id, LineUser.line_user_id == user_id)
    found = db.session.scalar(query)
    if found is not None:
        return found, False
    user = LineUser(
        shop_id=shop.id,
        line_user_id=user_id,
        display_name=str(claims.get("name") or "")[:255] or None,
        picture_url=str(claims.get("picture") or "") or None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        winner = db.session.scalar(query)  # a parallel first request created it
        if winner is None:
            raise
        return winner, False
    return user, True
