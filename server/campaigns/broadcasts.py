"""Broadcasts: a segment, a message, a schedule and an optional holdout; sending and results.

Writing (services flush, the view commits):
- `validate` checks what the composer sends; bad input raises InvalidBroadcast (400) with
  `details.fields` naming each field, and changes nothing.
- `create_broadcast`, `update_broadcast`, `delete_broadcast`, `schedule`, `cancel`.
- `estimate`: members of the segment, reachable friends, the holdout, the recipients, and their
  cost against the LINE monthly quota (one message per recipient, however many bubbles).

Sending (`send`, `send_due`: run in tasks and commit as they go, like the delivery pipeline):
1. claim the broadcast (a conditional UPDATE: one worker wins; a claim that stops beating for
   CLAIM_LEASE is taken over, and the new owner resumes where the old one stopped);
2. fix the recipients once (broadcast_recipients: unique per friend, held out or not);
3. hand recipients without a delivery to `server.line.delivery` in batches, each batch in one
   transaction with the recipients' `delivery_id`s, so a crash or a retry never sends twice.
   Identical content goes to `deliver_many` (multicast, 500 per request); personalised content
   (variables, a coupon, per-recipient links) to `deliver`, one friend at a time. Both use the
   kind "promotional": the pipeline applies quiet hours, the frequency cap and quota holds.

Results: deliveries by state, clicks, orders and revenue attributed within 7 days (after a
click on the broadcast's links, or with its coupons), and conversion and revenue per recipient
against the holdout, with confidence intervals (lift.py).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import case, func, insert, literal, or_, select, update

from server.commerce.models import Customer
from server.coupons import services as coupons
from server.coupons.models import Coupon, CouponOffer, CouponSource
from server.db import db, is_postgresql
from server.errors import BadRequest, Conflict, DomainError, NotFound
from server.jobs import enqueue_after_commit
from server.line import delivery
from server.line import messages as line_messages
from server.line.models import Delivery, DeliveryStatus, LineUser
from server.membership import services as membership
from server.segments import services as segments
from server.segments.models import Segment
from server.shops.models import Shop

from . import attribution, holdout, lift, links, messages, recommended
from .models import Broadcast, BroadcastRecipient, BroadcastStatus, LinkTracking, TrackedLink

SOURCE = "broadcast"
BATCH = 2000  # recipients per transaction; a multiple of LINE's multicast size (500)
CLAIM_LEASE = timedelta(minutes=10)
MAX_HOLDOUT = 50
MAX_AHEAD = timedelta(days=366)
WINDOW = attribution.WINDOW
# These read the order that triggered a scenario; a broadcast has none.
CONTEXT_VARIABLES = frozenset({"products", "product", "product_url", "restart_url"})
# These differ from one recipient to the next.
PERSONAL_VARIABLES = frozenset(
    {
        "name",
        "tier",
        "points",
        "coupon_title",
        "coupon_code",
        "coupon_value",
        "coupon_expires",
        "coupon_url",
        *recommended.VARIABLES,
    }
)
EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.CANCELLED)
_VARIABLE = re.compile(r"\{(\w+)\}")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


class InvalidBroadcast(BadRequest):
    code = "invalid_broadcast"


class BroadcastNotEditable(Conflict):
    code = "broadcast_not_editable"


class OverQuota(Conflict):
    code = "over_quota"


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, message)

    def raise_if_any(self) -> None:
        if self.fields:
            path, message = next(iter(self.fields.items()))
            more = f" (and {len(self.fields) - 1} more)" if len(self.fields) > 1 else ""
            raise InvalidBroadcast(f"{path}: {message}{more}", fields=self.fields)


# Reading --------------------------------------------------------------------------------------


def list_broadcasts(shop: Shop) -> Sequence[Broadcast]:
    return db.session.scalars(
        Broadcast.for_shop(shop).order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
    ).all()


def find_broadcast(shop: Shop, broadcast_id: int) -> Broadcast | None:
    return db.session.scalar(Broadcast.for_shop(shop).where(Broadcast.id == broadcast_id))


def get_broadcast(shop: Shop, broadcast_id: int) -> Broadcast:
    broadcast = find_broadcast(shop, broadcast_id)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id} not found")
    return broadcast


def segment_in_use(shop: Shop, segment_id: int) -> bool:
    """Whether a broadcast (of any state: results refer to it) uses this saved segment."""
    found = db.session.scalar(
        select(Broadcast.id)
        .where(Broadcast.shop_id == shop.id, Broadcast.segment_id == segment_id)
        .limit(1)
    )
    return found is not None


def shop_zone(shop: Shop) -> ZoneInfo:
    try:
        return ZoneInfo(shop.timezone or "Asia/Tokyo")
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Tokyo")


# Writing --------------------------------------------------------------------------------------


def validate(shop: Shop, data: Any, *, existing: Broadcast | None = None) -> dict[str, Any]:
    """A clean copy of a broadcast as the composer sends it (missing fields keep their saved
    values), or InvalidBroadcast naming every field that is wrong."""
    if not isinstance(data, dict):
        raise InvalidBroadcast("send a JSON object", fields={"": "a JSON object"})
    errors = _Errors()
    current = existing

    def value(name: str, default: Any) -> Any:
        return data[name] if name in data else (getattr(current, name) if current else default)

    name = value("name", None)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        errors.add("name", "required, at most 255 characters")
        name = ""
    segment_id = value("segment_id", None)
    if segment_id is not None:
        if isinstance(segment_id, bool) or not isinstance(segment_id, int):
            errors.add("segment_id", "a saved segment's id, or null for every friend")
            segment_id = None
        elif segments.find_segment(shop, segment_id) is None:
            errors.add("segment_id", f"no saved segment {segment_id}")
            segment_id = None
    offer_id = value("coupon_offer_id", None)
    offer: CouponOffer | None = None
    if offer_id is not None:
        offer = db.session.get(CouponOffer, offer_id) if isinstance(offer_id, int) else None
        if offer is None or offer.shop_id != shop.id or isinstance(offer_id, bool):
            errors.add("coupon_offer_id", f"no coupon offer {offer_id}")
            offer, offer_id = None, None
    tracking = value("link_tracking", LinkTracking.PER_RECIPIENT.value)
    if tracking not in {t.value for t in LinkTracking}:
        errors.add("link_tracking", f"one of {[t.value for t in LinkTracking]}")
        tracking = LinkTracking.PER_RECIPIENT.value
    percent = value("holdout_percent", 0)
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= MAX_HOLDOUT:
        errors.add("holdout_percent", f"a whole number from 0 to {MAX_HOLDOUT}")
        percent = 0
    message = value("message", None)
    clean_message: dict[str, Any] = {}
    if message is None:
        errors.add("message", "required: a text, image or flex message")
    else:
        try:
            clean_message = messages.check_message(message, path="message")
        except DomainError as error:
            errors.add(str(error.details.get("path") or "message"), error.message)
        else:
            _check_broadcast_message(shop, clean_message, offer, errors)
    errors.raise_if_any()
    return {
        "name": str(name).strip(),
        "segment_id": segment_id,
        "coupon_offer_id": offer_id,
        "link_tracking": tracking,
        "holdout_percent": percent,
        "message": clean_message,
    }


def _check_broadcast_message(
    shop: Shop, message: dict[str, Any], offer: CouponOffer | None, errors: _Errors
) -> None:
    for key, text in _texts(message):
        used = set(_VARIABLE.findall(text))
        if context := sorted(used & CONTEXT_VARIABLES):
            errors.add(
                f"message.{key}",
                f"{{{context[0]}}} needs the order that started a scenario; a broadcast has none",
            )
        if offer is None and used & {v for v in PERSONAL_VARIABLES if v.startswith("coupon_")}:
            errors.add(f"message.{key}", "coupon variables need a coupon offer (coupon_offer_id)")
    if errors.fields:
        return
    # What LINE would say about it, with sample values: a broadcast to thousands fails at once.
    try:
        line_messages.validate(render_sample(shop, message, offer, locale="ja"))
    except DomainError as error:
        errors.add("message", error.message)


def _texts(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("text", "title", "body", "image_url", "button_label", "button_url"):
        if isinstance(message.get(key), str):
            yield key, message[key]


def create_broadcast(shop: Shop, data: Any, *, now: datetime) -> Broadcast:
    clean = validate(shop, data)
    broadcast = Broadcast(
        shop_id=shop.id,
        status=BroadcastStatus.DRAFT,
        holdout_salt=secrets.token_hex(8),
        created_at=now,
        updated_at=now,
        **clean,
    )
    db.session.add(broadcast)
    db.session.flush()
    return broadcast


def update_broadcast(shop: Shop, broadcast: Broadcast, data: Any, *, now: datetime) -> Broadcast:
    """Change a broadcast that has not started sending (a scheduled one stays scheduled)."""
    _editable(broadcast)
    clean = validate(shop, data, existing=broadcast)
    for key, item in clean.items():
        setattr(broadcast, key, item)
    broadcast.updated_at = now
    db.session.flush()
    return broadcast


def delete_broadcast(shop: Shop, broadcast: Broadcast) -> None:
    if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.CANCELLED):
        raise BroadcastNotEditable(
            f"a {broadcast.status} broadcast cannot be deleted; cancel it first"
            if broadcast.status == BroadcastStatus.SCHEDULED
            else f"a {broadcast.status} broadcast keeps its results",
            status=broadcast.status,
        )
    db.session.delete(broadcast)
    db.session.flush()


def _editable(broadcast: Broadcast) -> None:
    if broadcast.status not in EDITABLE:
        raise BroadcastNotEditable(
            f"this broadcast is {broadcast.status}: it can no longer be changed",
            status=broadcast.status,
        )


def parse_send_at(shop: Shop, value: Any, *, now: datetime) -> datetime:
    """The send time: None/"now" = now; "YYYY-MM-DDTHH:MM" is wall-clock time in the shop's zone;
    an ISO time with an offset is taken as given. Past (more than a minute) or more than a year
    ahead is refused."""
    if value is None or value == "now":
        return now
    if not isinstance(value, str):
        raise InvalidBroadcast("send_at: a time", fields={"send_at": "a time YYYY-MM-DDTHH:MM"})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidBroadcast(
            "send_at: not a time", fields={"send_at": "a time YYYY-MM-DDTHH:MM"}
        ) from None
    if parsed.tzinfo is None:
        if not _LOCAL.match(value):
            raise InvalidBroadcast("send_at: not a time", fields={"send_at": "YYYY-MM-DDTHH:MM"})
        zone = shop_zone(shop)
        parsed = parsed.replace(tzinfo=zone)
        # A wall-clock time that does not exist (spring-forward gap) or exists twice.
        round_trip = parsed.astimezone(ZoneInfo("UTC")).astimezone(zone)
        if round_trip.replace(tzinfo=None) != parsed.replace(tzinfo=None):
            raise InvalidBroadcast(
                "send_at: that time does not exist in the shop's time zone",
                fields={"send_at": "does not exist in the shop's time zone"},
            )
    moment = parsed.astimezone(now.tzinfo)
    if moment < now - timedelta(minutes=1):
        raise InvalidBroadcast("send_at: that time has passed", fields={"send_at": "in the past"})
    if moment > now + MAX_AHEAD:
        raise InvalidBroadcast(
            "send_at: at most a year ahead", fields={"send_at": "at most a year ahead"}
        )
    return max(moment, now)


def schedule(
    shop: Shop,
    broadcast: Broadcast,
    *,
    send_at: Any = None,
    confirm_over_quota: bool = False,
    now: datetime,
) -> Broadcast:
    """Schedule the broadcast (now when `send_at` is None). Raises OverQuota when the recipients
    would not fit in what is left of the month's LINE quota, unless the merchant confirmed (the
    pipeline then holds what does not fit). Sending now starts right after the commit."""
    _editable(broadcast)
    when = parse_send_at(shop, send_at, now=now)
    if (
        broadcast.segment_id is not None
        and segments.find_segment(shop, broadcast.segment_id) is None
    ):
        raise InvalidBroadcast(
            "segment_id: the segment no longer exists", fields={"segment_id": "gone"}
        )
    if not confirm_over_quota:
        figures = estimate(shop, broadcast, now=now)
        if figures["over_quota"]:
            raise OverQuota(
                f"{figures['cost']:,} messages would exceed the {figures['quota_remaining']:,} "
                "left this month; confirm to send anyway (what does not fit is held)",
                cost=figures["cost"],
                quota_remaining=figures["quota_remaining"],
            )
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.scheduled_at = when
    broadcast.cancelled_at = None
    broadcast.error = None
    broadcast.updated_at = now
    db.session.flush()
    if when <= now:
        from .tasks import send_broadcast

        enqueue_after_commit(send_broadcast, broadcast.id)
    return broadcast


def cancel(shop: Shop, broadcast: Broadcast, *, now: datetime) -> Broadcast:
    """Cancel a broadcast before it goes out. Once a worker has claimed it: Conflict."""
    result = db.session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast.id,
            Broadcast.shop_id == shop.id,
            Broadcast.status.in_((BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)),
        )
        .values(status=BroadcastStatus.CANCELLED, cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(broadcast)
    if not result.rowcount:  # type: ignore[attr-defined]
        raise BroadcastNotEditable(
            f"this broadcast is {broadcast.status}: too late to cancel", status=broadcast.status
        )
    return broadcast


# Audience and cost ----------------------------------------------------------------------------


def definition_of(shop: Shop, segment_id: int | None) -> dict[str, Any]:
    if segment_id is None:
        return segments.EVERYONE
    segment = segments.find_segment(shop, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} not found")
    return segment.definition


def reachable(shop: Shop, segment_id: int | None, *, now: datetime) -> list[tuple[int, int | None]]:
    """(line_user_id, customer_id) of every friend in the segment who can receive a message."""
    query = segments.reachable_query(shop, definition_of(shop, segment_id), now=now)
    seen: dict[int, int | None] = {}
    for line_user_id, customer_id in db.session.execute(query):
        seen.setdefault(line_user_id, customer_id)
    return list(seen.items())


def estimate(
    shop: Shop,
    broadcast: Broadcast | None = None,
    *,
    segment_id: int | None = None,
    holdout_percent: int | None = None,
    salt: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Who the broadcast reaches and what it costs, right now.

    `members`: people in the segment; `reachable`: their LINE friends who follow the account;
    `holdout`: held out of those; `recipients`: the rest, one quota message each (`cost`).
    `quota_remaining` is None when LINE sets no limit (or delivery goes to the outbox).
    """
    if broadcast is not None:
        segment_id, holdout_percent, salt = (
            broadcast.segment_id,
            broadcast.holdout_percent,
            broadcast.holdout_salt,
        )
    percent = holdout_percent or 0
    definition = definition_of(shop, segment_id)
    members = segments.count(shop, definition, now=now)
    friends = reachable(shop, segment_id, now=now)
    if salt is None:  # an unsaved composer: the expected size (the salt is made on save)
        held = round(len(friends) * percent / 100)
    else:
        held = sum(1 for uid, _ in friends if holdout.in_holdout(salt, uid, percent))
    recipients = len(friends) - held
    limit, remaining, mode = quota(shop, now=now)
    return {
        "members": members,
        "reachable": len(friends),
        "holdout": held,
        "recipients": recipients,
        "cost": recipients,
        "delivery_mode": mode,
        "quota_limit": limit,
        "quota_remaining": remaining,
        "over_quota": remaining is not None and recipients > remaining,
    }


def quota(shop: Shop, *, now: datetime) -> tuple[int | None, int | None, str]:
    """(monthly limit, remaining, delivery mode), read from LINE at most every few minutes."""
    channel = delivery.find_channel(shop)
    mode = delivery.delivery_mode(channel)
    if channel is None or mode != "api":
        return None, None, mode
    if channel.messaging_configured:
        try:
            target = delivery.access_target(channel, now=now)
        except Exception:  # LINE refused or unreachable while renewing: the last known figures
            target = None
        if target is not None:
            delivery.refresh_quota(channel, target, now=now)
    return channel.quota_limit, delivery.quota_room(channel), mode


def quiet_hours_note(shop: Shop, when: datetime) -> datetime | None:
    """When a promotional send at `when` would actually leave (the end of quiet hours), or None."""
    rules = delivery.Rules.for_shop(shop, delivery.find_channel(shop))
    return rules.quiet_until(when)


# Rendering ------------------------------------------------------------------------------------


def render_sample(
    shop: Shop, message: dict[str, Any], offer: CouponOffer | None, *, locale: str
) -> list[dict[str, Any]]:
    """The LINE messages with sample values (the composer's preview)."""
    facts = messages.sample_facts(
        shop,
        locale=locale,
        coupon_offer=offer,
        reason=None,
        recommend=recommended.needed(message),
    )
    return messages.render(shop, message, facts)


def uses_personal_variables(message: dict[str, Any]) -> bool:
    return any(set(_VARIABLE.findall(text)) & PERSONAL_VARIABLES for _, text in _texts(message))


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
        _fix_recipients(shop, broadcast, now=now)
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


def _fix_recipients(shop: Shop, broadcast: Broadcast, *, now: datetime) -> None:
    """Who the broadcast is for, fixed once (same transaction as `started_at`)."""
    friends = reachable(shop, broadcast.segment_id, now=now)
    rows = [
        {
            "shop_id": shop.id,
            "broadcast_id": broadcast.id,
            "line_user_id": line_user_id,
            "customer_id": customer_id,
            "holdout": holdout.in_holdout(
                broadcast.holdout_salt, line_user_id, broadcast.holdout_percent
            ),
            "created_at": now,
        }
        for line_user_id, customer_id in friends
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(BroadcastRecipient), rows[start : start + 5000])
    broadcast.started_at = now
    broadcast.recipients_count = sum(1 for r in rows if not r["holdout"])
    broadcast.holdout_count = len(rows) - broadcast.recipients_count
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


# Results --------------------------------------------------------------------------------------


def delivery_counts(shop: Shop, broadcast: Broadcast) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .join(BroadcastRecipient, BroadcastRecipient.delivery_id == Delivery.id)
        .where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.shop_id == shop.id,
            Delivery.shop_id == shop.id,
        )
        .group_by(Delivery.status)
    ).all()
    by_status = {status: int(count) for status, count in rows}
    return {
        "delivered": by_status.get(DeliveryStatus.SENT, 0)
        + by_status.get(DeliveryStatus.OUTBOX, 0),
        "outbox": by_status.get(DeliveryStatus.OUTBOX, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "held": by_status.get(DeliveryStatus.HELD, 0),
        "pending": by_status.get(DeliveryStatus.PENDING, 0)
        + by_status.get(DeliveryStatus.SENDING, 0),
        "cancelled": by_status.get(DeliveryStatus.CANCELLED, 0),
    }


def issued_coupons(broadcast: Broadcast) -> Any:
    return select(BroadcastRecipient.coupon_id).where(
        BroadcastRecipient.broadcast_id == broadcast.id,
        BroadcastRecipient.coupon_id.is_not(None),
    )


def results(shop: Shop, broadcast: Broadcast, *, now: datetime) -> dict[str, Any]:
    """Delivery, clicks, attributed orders and revenue, and lift against the holdout."""
    counts = delivery_counts(shop, broadcast)
    clicks, unique = attribution.click_counts(shop, source_kind=SOURCE, source_id=broadcast.id)
    coupons_issued = issued_coupons(broadcast)
    totals = attribution.attributed_totals(
        shop, source_kind=SOURCE, source_id=broadcast.id, coupons=coupons_issued
    )
    out: dict[str, Any] = {
        "status": broadcast.status,
        "started_at": broadcast.started_at.isoformat() if broadcast.started_at else None,
        "window_days": WINDOW.days,
        "window_ends_at": (broadcast.started_at + WINDOW).isoformat()
        if broadcast.started_at
        else None,
        "window_complete": broadcast.started_at is not None
        and now >= broadcast.started_at + WINDOW,
        "recipients": broadcast.recipients_count or 0,
        "holdout": broadcast.holdout_count or 0,
        **counts,
        "clicks": clicks,
        "unique_clicks": unique,
        "orders": totals.orders,
        "revenue": totals.revenue,
        "buyers": totals.customers,
        "currency": shop.currency,
        "daily": daily(shop, broadcast),
        "lift": lift_report(shop, broadcast),
    }
    return out


def lift_report(shop: Shop, broadcast: Broadcast) -> dict[str, Any] | None:
    """Treatment (sent to, whether delivered or not) against the holdout, over the window after
    sending started: the share who ordered and revenue per recipient, with 95 % intervals."""
    if broadcast.started_at is None or not broadcast.holdout_count:
        return None
    subjects = select(
        case((BroadcastRecipient.holdout.is_(True), "holdout"), else_="treatment").label("grp"),
        BroadcastRecipient.line_user_id.label("subject_key"),
        BroadcastRecipient.customer_id.label("customer_id"),
        literal(broadcast.started_at, Broadcast.started_at.type).label("start_at"),
    ).where(BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.shop_id == shop.id)
    groups = attribution.group_outcomes(shop, subjects, window=WINDOW)
    empty = attribution.GroupOutcome(0, 0, 0.0, 0.0)
    treated, held = groups.get("treatment", empty), groups.get("holdout", empty)
    conversion = lift.proportion_difference(
        treated.converted, treated.subjects, held.converted, held.subjects
    )
    revenue = lift.mean_difference(
        lift.Sample.from_sums(treated.subjects, treated.revenue, treated.revenue_squares),
        lift.Sample.from_sums(held.subjects, held.revenue, held.revenue_squares),
    )

    def group(outcome: attribution.GroupOutcome) -> dict[str, Any]:
        n = outcome.subjects
        return {
            "subjects": n,
            "converted": outcome.converted,
            "conversion_rate": outcome.converted / n if n else None,
            "revenue": outcome.revenue,
            "revenue_per_subject": outcome.revenue / n if n else None,
        }

    held_rate = held.converted / held.subjects if held.subjects else 0.0
    return {
        "treatment": group(treated),
        "holdout": group(held),
        "conversion_difference": conversion.as_dict() if conversion else None,
        "conversion_relative": lift.relative(conversion.estimate, held_rate)
        if conversion
        else None,
        "revenue_per_subject_difference": revenue.as_dict() if revenue else None,
        "incremental_revenue": revenue.estimate * treated.subjects if revenue else None,
    }


def daily(shop: Shop, broadcast: Broadcast) -> list[dict[str, Any]]:
    """Clicks, attributed orders and revenue for each day of the window (shop's time zone)."""
    if broadcast.started_at is None:
        return []
    zone = shop_zone(shop)
    first = broadcast.started_at.astimezone(zone).date()
    days = {
        first + timedelta(days=i): {"clicks": 0, "orders": 0, "revenue": 0}
        for i in range(WINDOW.days + 1)
    }
    click_rows = attribution.clicks(shop, source_kind=SOURCE, source_id=broadcast.id).subquery()
    for (clicked_at,) in db.session.execute(select(click_rows.c.clicked_at)):
        day = _aware(clicked_at).astimezone(zone).date()
        if day in days:
            days[day]["clicks"] += 1
    orders = attribution.attributed_orders(
        shop, source_kind=SOURCE, source_id=broadcast.id, coupons=issued_coupons(broadcast)
    ).subquery()
    for processed_at, amount in db.session.execute(select(orders.c.processed_at, orders.c.revenue)):
        day = _aware(processed_at).astimezone(zone).date()
        if day in days:
            days[day]["orders"] += 1
            days[day]["revenue"] += int(amount or 0)
    return [{"date": day.isoformat(), **values} for day, values in sorted(days.items())]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def summaries(shop: Shop, broadcast_ids: list[int]) -> dict[int, dict[str, int]]:
    """Delivered counts and unique clicks of many broadcasts at once (the list page)."""
    out = {i: {"delivered": 0, "unique_clicks": 0} for i in broadcast_ids}
    if not broadcast_ids:
        return out
    delivered = db.session.execute(
        select(BroadcastRecipient.broadcast_id, func.count())
        .join(Delivery, Delivery.id == BroadcastRecipient.delivery_id)
        .where(
            BroadcastRecipient.shop_id == shop.id,
            BroadcastRecipient.broadcast_id.in_(broadcast_ids),
            Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.OUTBOX)),
        )
        .group_by(BroadcastRecipient.broadcast_id)
    ).all()
    for broadcast_id, count in delivered:
        out[broadcast_id]["delivered"] = int(count)
    for broadcast_id in broadcast_ids:
        out[broadcast_id]["unique_clicks"] = attribution.click_counts(
            shop, source_kind=SOURCE, source_id=broadcast_id
        )[1]
    return out


def segment_names(shop: Shop) -> dict[int, str]:
    return {
        s.id: s.name for s in db.session.scalars(select(Segment).where(Segment.shop_id == shop.id))
    }
