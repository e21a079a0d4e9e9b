"""Sending a broadcast (`send`, `send_due`: run in tasks and commit as they go, like the
delivery pipeline):

1. claim the broadcast (a conditional UPDATE: one worker wins; a claim that stops beating for
   CLAIM_LEASE is taken over, and the new owner resumes where the old one stopped);
2. fix the recipients once (broadcast_recipients: unique per friend, held out or not);
3. hand recipients without a delivery to `server.line.delivery` in batches, each batch in one
   transaction with the recipients' `delivery_id`s, so a crash or a retry never sends twice.
   Identical content goes to `deliver_many` (multicast, 500 per request); personalised content
   (variables, a coupon, per-recipient links) to `deliver`, one friend at a time. Both use the
   kind "promotional": the pipeline applies quiet hours, the frequency cap and quota holds.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, insert, or_, select, update

from server.commerce.models import Customer
from server.coupons import services as coupons
from server.coupons.models import Coupon, CouponOffer, CouponSource
from server.db import db, is_postgresql
from server.errors import DomainError
from server.line import delivery
from server.line.models import LineUser
from server.membership import services as membership
from server.segments import services as segments
from server.shops.models import Shop

from . import holdout, links, messages, recommended
from .broadcast_audience import reachable
from .broadcasts import SOURCE, uses_personal_variables
from .models import Broadcast, BroadcastRecipient, BroadcastStatus, LinkTracking, TrackedLink

BATCH = 2000  # recipients per transaction; a multiple of LINE's multicast size (500)
CLAIM_LEASE = timedelta(minutes=10)


# What each recipient gets ---------------------------------------------------------------------


@dataclass
class _Plan:
    """How one broadcast's content is made: once for everyone, or per recipient."""

    personalised: bool
    shared: list[dict[str, Any]] | None  # the identical content, links already tracked
    offer: CouponOffer | None
    shared_links: dict[str, str]  # url -> tracked url, for LinkTracking.SHARED


def _offer(shop: Shop, broadcast: Broadcast) -> CouponOffer | None:
    if broadcast.coupon_offer_id is None:
        return None
    offer = db.session.get(CouponOffer, broadcast.coupon_offer_id)
    return offer if offer is not None and offer.shop_id == shop.id else None


def _for_nobody(shop: Shop, broadcast: Broadcast, *, now: datetime) -> list[dict[str, Any]]:
    nobody = messages.gather(shop, {}, customer=None, line_user=None, coupon=None, now=now)
    return messages.render(shop, broadcast.message, nobody)


def is_personalised(shop: Shop, broadcast: Broadcast, *, now: datetime) -> bool:
    """Whether each recipient gets their own content (sent one by one rather than multicast):
    a coupon, a personal variable, each one's recommendations, or links tracked per recipient."""
    if _offer(shop, broadcast) is not None or uses_personal_variables(broadcast.message):
        return True
    if recommended.needed(broadcast.message):
        return True
    if broadcast.link_tracking != LinkTracking.PER_RECIPIENT:
        return False
    return bool(links.trackable_urls(shop, _for_nobody(shop, broadcast, now=now)))


def _plan(shop: Shop, broadcast: Broadcast, *, now: datetime) -> _Plan:
    offer = _offer(shop, broadcast)
    shared_links: dict[str, str] = {}
    if is_personalised(shop, broadcast, now=now):
        return _Plan(True, None, offer, shared_links)
    rendered = _for_nobody(shop, broadcast, now=now)
    if broadcast.link_tracking == LinkTracking.SHARED:
        for url in links.trackable_urls(shop, rendered):
            shared_links[url] = _shared_link(shop, broadcast, url)
    return _Plan(False, links.retarget(rendered, shared_links), None, shared_links)


def _shared_link(shop: Shop, broadcast: Broadcast, url: str) -> str:
    """The broadcast's one tracked link to `url` (made on first use, reused after a resume)."""
    target = links.check_target(shop, url)
    token = db.session.scalar(
        select(TrackedLink.token)
        .where(
            TrackedLink.shop_id == shop.id,
            TrackedLink.source_kind == SOURCE,
            TrackedLink.source_id == broadcast.id,
            TrackedLink.line_user_id.is_(None),
            TrackedLink.url == target,
        )
        .limit(1)
    )
    if token is not None:
        return links.redirect_url(token)
    return links.track_url(shop, url, source_kind=SOURCE, source_id=broadcast.id)


# Sending --------------------------------------------------------------------------------------


def claim(broadcast_id: int, *, now: datetime) -> str | None:
    """Take the broadcast for sending if it is due (or its sender stopped beating); commits.
    Returns the claim token, or None when it is not ours to send."""
    token = secrets.token_hex(8)
    result = db.session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            or_(
                sa.and_(
                    Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.scheduled_at <= now
                ),
                sa.and_(
                    Broadcast.status == BroadcastStatus.SENDING,
                    Broadcast.claimed_at < now - CLAIM_LEASE,
                ),
            ),
        )
        .values(status=BroadcastStatus.SENDING, claim=token, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return token if result.rowcount else None  # type: ignore[attr-defined]


def send(broadcast_id: int, *, now: datetime) -> bool:
    """Send the broadcast if it is due and nobody else is sending it (task entry point).
    Commits after the claim and after every batch. Returns whether it finished."""
    token = claim(broadcast_id, now=now)
    if token is None:
        return False
    broadcast = db.session.get(Broadcast, broadcast_id)
    if broadcast is None:  # pragma: no cover - deleted between claim and load
        return False
    db.session.refresh(broadcast)
    shop = db.session.get(Shop, broadcast.shop_id)
    if shop is None or not shop.installed:
        _fail(broadcast, "the shop is not installed")
        return False
    try:
        return _run(shop, broadcast, token, now=now)
    except DomainError as error:  # the content could not be built: say why, stop
        db.session.rollback()
        broadcast = db.session.get(Broadcast, broadcast_id)
        if broadcast is not None and broadcast.claim == token:
            _fail(broadcast, error.message)
        return False


def _fail(broadcast: Broadcast, reason: str) -> None:
    broadcast.status = BroadcastStatus.FAILED
    broadcast.error = reason[:2000]
    broadcast.claim = None
    db.session.commit()


def _run(shop: Shop, broadcast: Broadcast, token: str, *, now: datetime) -> bool:
    started = time.monotonic()
    if broadcast.started_at is None:
        if (
            broadcast.segment_id is not None
            and segments.find_segment(shop, broadcast.segment_id) is None
        ):
            _fail(broadcast, "the segment was deleted")
            return False
        fix_recipients(shop, broadcast, now=now)
        db.session.commit()
    plan = _plan(shop, broadcast, now=now)
    db.session.commit()  # shared tracked links, before any content refers to them
    while True:
        beat = now + timedelta(seconds=time.monotonic() - started)
        if not _still_ours(broadcast.id, token, beat):
            return False  # another worker took over a stale claim: it finishes the job
        batch = _pending(broadcast)
        if not batch:
            break
        _deliver(shop, broadcast, plan, batch, now=now)
        db.session.commit()  # the deliveries and the recipients' delivery_id together
    broadcast.status = BroadcastStatus.SENT
    broadcast.completed_at = now + timedelta(seconds=time.monotonic() - started)
    broadcast.claim = None
    db.session.commit()
    return True


def _still_ours(broadcast_id: int, token: str, beat: datetime) -> bool:
    result = db.session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.claim == token)
        .values(claimed_at=beat)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fix_recipients(shop: Shop, broadcast: Broadcast, *, now: datetime) -> None:
    """Who the broadcast is for, fixed once (same transaction as `started_at`): one INSERT ..
    SELECT from the segment, then the holdout marked, so a 1M-friend audience never passes
    through Python except for the holdout's HMAC."""
    friends = reachable(shop, broadcast.segment_id, now=now).subquery()
    rows = select(
        sa.literal(shop.id),
        sa.literal(broadcast.id),
        friends.c.line_user_id,
        friends.c.customer_id,
        sa.false(),
        sa.literal(now, type_=BroadcastRecipient.__table__.c.created_at.type),
    )
    columns = ["shop_id", "broadcast_id", "line_user_id", "customer_id", "holdout", "created_at"]
    db.session.execute(insert(BroadcastRecipient).from_select(columns, rows))
    mine = BroadcastRecipient.broadcast_id == broadcast.id
    if broadcast.holdout_percent:
        held = [
            rid
            for rid, uid in db.session.execute(
                select(BroadcastRecipient.id, BroadcastRecipient.line_user_id).where(mine)
            )
            if holdout.in_holdout(broadcast.holdout_salt, uid, broadcast.holdout_percent)
        ]
        for start in range(0, len(held), 5000):
            db.session.execute(
                update(BroadcastRecipient)
                .where(BroadcastRecipient.id.in_(held[start : start + 5000]))
                .values(holdout=True)
                .execution_options(synchronize_session=False)
            )
    counts = dict(
        db.session.execute(
            select(BroadcastRecipient.holdout, func.count())
            .where(mine)
            .group_by(BroadcastRecipient.holdout)
        ).all()
    )
    broadcast.started_at = now
    broadcast.recipients_count = counts.get(False, 0)
    broadcast.holdout_count = counts.get(True, 0)
    db.session.flush()


def _pending(broadcast: Broadcast) -> list[tuple[int, int, int | None]]:
    """The next batch of recipients without a delivery: (recipient id, line user, customer)."""
    query = (
        select(
            BroadcastRecipient.id, BroadcastRecipient.line_user_id, BroadcastRecipient.customer_id
        )
        .where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.holdout.is_(False),
            BroadcastRecipient.delivery_id.is_(None),
        )
        .order_by(BroadcastRecipient.id)
        .limit(BATCH)
    )
    if is_postgresql(db.session.get_bind()):
        query = query.with_for_update(skip_locked=True)
    return [(rid, uid, cid) for rid, uid, cid in db.session.execute(query)]


def _deliver(
    shop: Shop,
    broadcast: Broadcast,
    plan: _Plan,
    batch: list[tuple[int, int, int | None]],
    *,
    now: datetime,
) -> None:
    users = {
        u.id: u
        for u in db.session.scalars(
            select(LineUser).where(
                LineUser.shop_id == shop.id, LineUser.id.in_([uid for _, uid, _ in batch])
            )
        )
    }
    source = f"{SOURCE}:{broadcast.id}"
    changes: list[dict[str, Any]] = []
    gone: list[int] = []
    if plan.shared is not None:
        present = [users[uid] for _, uid, _ in batch if uid in users]
        rows = delivery.deliver_many(
            shop, present, plan.shared, kind="promotional", source=source, now=now
        )
        by_user = {row.line_user_id: row.id for row in rows}
        for rid, uid, _ in batch:
            if uid in by_user:
                changes.append({"id": rid, "delivery_id": by_user[uid]})
            else:
                gone.append(rid)
    else:
        customers = {
            c.id: c
            for c in db.session.scalars(
                select(Customer).where(
                    Customer.shop_id == shop.id,
                    Customer.id.in_([cid for _, _, cid in batch if cid is not None]),
                )
            )
        }
        for rid, uid, cid in batch:
            user = users.get(uid)
            if user is None:
                gone.append(rid)
                continue
            customer = customers.get(cid) if cid is not None else None
            content, coupon_id = _personal_content(shop, broadcast, plan, user, customer, now=now)
            row = delivery.deliver(shop, user, content, kind="promotional", source=source, now=now)
            changes.append({"id": rid, "delivery_id": row.id, "coupon_id": coupon_id})
    for group in _by_keys(changes):
        db.session.execute(update(BroadcastRecipient), group)
    if gone:  # the friend's row was deleted meanwhile (redaction): nobody to send to
        db.session.execute(sa.delete(BroadcastRecipient).where(BroadcastRecipient.id.in_(gone)))


def _by_keys(changes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    return list(groups.values())


def _personal_content(
    shop: Shop,
    broadcast: Broadcast,
    plan: _Plan,
    user: LineUser,
    customer: Customer | None,
    *,
    now: datetime,
) -> tuple[list[dict[str, Any]], int | None]:
    coupon: Coupon | None = None
    if plan.offer is not None and customer is not None and customer.redacted_at is None:
        member = membership.ensure_member(shop, customer, now=now)
        try:
            coupon = coupons.issue_coupon(
                shop,
                member,
                plan.offer,
                source=CouponSource.SCENARIO,
                issue_key=f"{SOURCE}:{broadcast.id}:{member.id}",
                now=now,
            )
        except DomainError:  # the offer ran out: the message goes without a coupon
            coupon = None
    facts = messages.gather(
        shop,
        {},
        customer=customer,
        line_user=user,
        coupon=coupon,
        recommend=recommended.needed(broadcast.message),
        now=now,
    )
    rendered = messages.render(shop, broadcast.message, facts)
    if broadcast.link_tracking == LinkTracking.OFF:
        return rendered, coupon.id if coupon else None
    urls = links.trackable_urls(shop, rendered)
    if broadcast.link_tracking == LinkTracking.SHARED:
        for url in urls:
            if url not in plan.shared_links:
                plan.shared_links[url] = _shared_link(shop, broadcast, url)
        mapping = {url: plan.shared_links[url] for url in urls}
    else:
        mapping = {
            url: links.track_url(
                shop, url, line_user=user, source_kind=SOURCE, source_id=broadcast.id
            )
            for url in urls
        }
    return links.retarget(rendered, mapping), coupon.id if coupon else None


def due_ids(*, now: datetime, limit: int = 100) -> list[int]:
    """Broadcasts to send now: scheduled and due, or sending with a stale claim."""
    return list(
        db.session.scalars(
            select(Broadcast.id)
            .where(
                or_(
                    sa.and_(
                        Broadcast.status == BroadcastStatus.SCHEDULED,
                        Broadcast.scheduled_at <= now,
                    ),
                    sa.and_(
                        Broadcast.status == BroadcastStatus.SENDING,
                        Broadcast.claimed_at < now - CLAIM_LEASE,
                    ),
                )
            )
            .order_by(Broadcast.scheduled_at, Broadcast.id)
            .limit(limit)
        )
    )


def send_due(*, now: datetime) -> int:
    """Send every due broadcast (periodic task entry point); returns how many finished."""
    finished = 0
    for broadcast_id in due_ids(now=now):
        finished += send(broadcast_id, now=now)
    return finished
