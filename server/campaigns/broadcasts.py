"""Broadcasts: a segment, a message, a schedule and an optional holdout. This module composes
them; broadcast_audience.py says who they reach and what that costs, broadcast_sending.py sends
them, broadcast_results.py reports on them.

Writing (services flush, the view commits):
- `validate` checks what the composer sends; bad input raises InvalidBroadcast (400) with
  `details.fields` naming each field, and changes nothing.
- `create_broadcast`, `update_broadcast`, `delete_broadcast`, `schedule`, `cancel`.
- `render_sample`: the LINE messages with sample values (the composer's preview).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from server.coupons.models import CouponOffer
from server.db import db
from server.errors import BadRequest, Conflict, DomainError, NotFound
from server.jobs import enqueue_after_commit
from server.line import messages as line_messages
from server.segments import services as segments
from server.shops.models import Shop

from . import messages, recommended
from .broadcast_audience import estimate
from .models import Broadcast, BroadcastStatus, LinkTracking

SOURCE = "broadcast"  # the source kind of a broadcast's tracked links, coupons and deliveries
MAX_HOLDOUT = 50
MAX_AHEAD = timedelta(days=366)
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
