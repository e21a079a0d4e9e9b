"""Priority support requests from subscribers, which the inbox puts first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop

from .models import Member, PrioritySupportRequest


def request_priority_support(
    shop: Shop, line_user: LineUser, member: Member | None, *, now: datetime
) -> PrioritySupportRequest:
    """Flag the LINE user's conversation as priority: the inbox (issue 8) reads open requests
    (`is_priority`), hands the chat to a person and closes them on resolve (`mark_handled`).
    An open request is reused, so tapping the button twice makes one request."""
    existing = db.session.scalar(
        PrioritySupportRequest.for_shop(shop).where(
            PrioritySupportRequest.line_user_id == line_user.id,
            PrioritySupportRequest.handled_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    request = PrioritySupportRequest(
        shop_id=shop.id,
        line_user_id=line_user.id,
        member_id=member.id if member else None,
        requested_at=now,
    )
    db.session.add(request)
    db.session.flush()
    return request


def open_priority_requests(shop: Shop) -> list[PrioritySupportRequest]:
    """Unhandled requests, oldest first: what the inbox shows on top."""
    return list(
        db.session.scalars(
            PrioritySupportRequest.for_shop(shop)
            .where(PrioritySupportRequest.handled_at.is_(None))
            .order_by(PrioritySupportRequest.requested_at)
        )
    )


def is_priority(shop: Shop, line_user_id: int) -> bool:
    return (
        db.session.scalar(
            select(PrioritySupportRequest.id).where(
                PrioritySupportRequest.shop_id == shop.id,
                PrioritySupportRequest.line_user_id == line_user_id,
                PrioritySupportRequest.handled_at.is_(None),
            )
        )
        is not None
    )


def mark_handled(shop: Shop, line_user_id: int, *, now: datetime) -> int:
    """The inbox resolved the conversation: close its open requests. Returns how many."""
    requests = db.session.scalars(
        PrioritySupportRequest.for_shop(shop).where(
            PrioritySupportRequest.line_user_id == line_user_id,
            PrioritySupportRequest.handled_at.is_(None),
        )
    ).all()
    for request in requests:
        request.handled_at = now
    db.session.flush()
    return len(requests)
