"""Tiers and the points ledger.

Every write here flushes and never commits; the caller (a view, a task, a listener run by the
order or linking pipeline) owns the transaction. Time comes in as `now`.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from server.commerce.models import Customer, Order
from server.db import db
from server.errors import Conflict, Invalid, NotFound
from server.line.models import LineUser
from server.shops.models import Shop

from .models import EntryKind, Member, MembershipSettings, PointsEntry, Tier, TierWindow

log = logging.getLogger(__name__)

# Who hears about tier changes: "module:function" paths, each called as fn(shop, change) inside
# the transaction that changed the tier (so a listener that sends something should enqueue it
# after the commit). Named by path so that membership never imports the features that react.
TIER_LISTENERS: tuple[str, ...] = (
    "server.campaigns.triggers:on_tier_change",  # tier-changed scenarios (issue 7)
)

# Orders that have not (or no longer) brought money in earn nothing and count for no tier.
UNPAID_STATUSES = ("pending", "authorized", "voided", "expired")
ROLLING_WINDOW = timedelta(days=365)


class NotEnoughPoints(Conflict):
    code = "not_enough_points"


@dataclass(frozen=True)
class TierChange:
    member_id: int
    customer_id: int
    old_tier_id: int | None
    new_tier_id: int | None
    spend: int
    at: datetime
    old_threshold: int | None = None
    new_threshold: int | None = None

    @property
    def upgrade(self) -> bool:
        if self.new_threshold is None:
            return False
        return self.old_threshold is None or self.new_threshold > self.old_threshold


@dataclass(frozen=True)
class Progress:
    """Where a spend stands: the tier reached, the next one and how much is missing."""

    tier: Tier | None
    next_tier: Tier | None
    remaining: int  # minor units to the next tier (0 at the top)
    fraction: float  # 0..1 of the way from this tier's threshold to the next one


@dataclass(frozen=True)
class Lot:
    """Points from one positive ledger entry that are still unspent."""

    entry_id: int
    remaining: int
    expires_at: datetime | None


# -- settings and tiers -------------------------------------------------------------------------


def get_settings(shop: Shop) -> MembershipSettings:
    """The shop's rules; an unsaved row with the defaults when the merchant never changed them."""
    found = db.session.scalar(MembershipSettings.for_shop(shop))
    if found is not None:
        return found
    return MembershipSettings(
        shop_id=shop.id,
        tier_window=TierWindow.ROLLING_12_MONTHS,
        earn_points_per_100=1,
        points_expiry_months=12,
    )


def save_settings(
    shop: Shop,
    *,
    tier_window: str,
    earn_points_per_100: int,
    points_expiry_months: int,
) -> MembershipSettings:
    settings = get_settings(shop)
    settings.tier_window = tier_window
    settings.earn_points_per_100 = earn_points_per_100
    settings.points_expiry_months = points_expiry_months
    db.session.add(settings)
    db.session.flush()
    return settings


def list_tiers(shop: Shop) -> list[Tier]:
    return list(db.session.scalars(Tier.for_shop(shop).order_by(Tier.threshold)))


def get_tier(shop: Shop, tier_id: int) -> Tier:
    tier = db.session.scalar(Tier.for_shop(shop).where(Tier.id == tier_id))
    if tier is None:
        raise NotFound(f"tier {tier_id} not found")
    return tier


def progress_for(tiers: Sequence[Tier], spend: int) -> Progress:
    """Pure: the tier a spend reaches among `tiers` (sorted by threshold), and the next one."""
    reached = [t for t in tiers if t.threshold <= spend]
    ahead = [t for t in tiers if t.threshold > spend]
    tier = reached[-1] if reached else None
    nxt = ahead[0] if ahead else None
    if nxt is None:
        return Progress(tier, None, 0, 1.0)
    base = tier.threshold if tier else 0
    span = max(1, nxt.threshold - base)
    return Progress(tier, nxt, nxt.threshold - spend, min(1.0, max(0.0, (spend - base) / span)))


# -- members ------------------------------------------------------------------------------------


def find_member(shop: Shop, customer_id: int) -> Member | None:
    return db.session.scalar(Member.for_shop(shop).where(Member.customer_id == customer_id))


def get_member(shop: Shop, member_id: int) -> Member:
    member = db.session.scalar(Member.for_shop(shop).where(Member.id == member_id))
    if member is None:
        raise NotFound(f"member {member_id} not found")
    return member


def ensure_member(shop: Shop, customer: Customer, *, now: datetime) -> Member:
    """The customer's membership, created (with a new member number and tier) on first need.

    Safe under concurrency: a parallel insert for the same customer loses on the unique
    constraint inside a savepoint and the winner's row is returned.
    """
    if customer.shop_id != shop.id:
        raise NotFound("customer not found")
    existing = find_member(shop, customer.id)
    if existing is not None:
        return existing
    for _ in range(5):
        member = Member(
            shop_id=shop.id,
            customer_id=customer.id,
            member_number=new_member_number(),
            joined_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(member)
        except IntegrityError:
            existing = find_member(shop, customer.id)
            if existing is not None:
                return existing
            continue  # a member number collision: draw again
        recompute_tier(shop, member, now=now)
        return member
    raise Conflict("could not allocate a member number")


def new_member_number() -> str:
    """Ten digits: nine random ones and a Luhn check digit, so a mistyped number is caught."""
    body = f"{secrets.randbelow(9 * 10**8) + 10**8}"
    return body + str(luhn_check_digit(body))


def luhn_check_digit(digits: str) -> int:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def qualifying_spend(shop: Shop, customer_id: int, *, window: str, now: datetime) -> int:
    """Net spend (refunds deducted, cancelled and unpaid orders excluded) within the window."""
    query = select(func.coalesce(func.sum(Order.total_price - Order.total_refunded), 0)).where(
        Order.shop_id == shop.id,
        Order.customer_id == customer_id,
        Order.cancelled_at.is_(None),
        Order.processed_at <= now,
        or_(Order.financial_status.is_(None), Order.financial_status.not_in(UNPAID_STATUSES)),
    )
    if window != TierWindow.LIFETIME:
        query = query.where(Order.processed_at > now - ROLLING_WINDOW)
    return int(db.session.scalar(query) or 0)


def recompute_tier(shop: Shop, member: Member, *, now: datetime) -> TierChange | None:
    """Refresh the member's spend and tier; announce a change to TIER_LISTENERS.

    Returns the change, or None when the tier stayed. Calling it twice changes nothing more.
    """
    settings = get_settings(shop)
    spend = qualifying_spend(shop, member.customer_id, window=settings.tier_window, now=now)
    progress = progress_for(list_tiers(shop), spend)
    member.qualifying_spend = spend
    new_id = progress.tier.id if progress.tier else None
    if new_id == member.tier_id:
        db.session.flush()
        return None
    change = TierChange(
        member.id,
        member.customer_id,
        member.tier_id,
        new_id,
        spend,
        now,
        member.tier.threshold if member.tier else None,
        progress.tier.threshold if progress.tier else None,
    )
    member.tier_id = new_id
    member.tier = progress.tier
    member.tier_changed_at = now
    db.session.flush()
    announce_tier_change(shop, change)
    return change


def announce_tier_change(shop: Shop, change: TierChange) -> None:
    log.info("member %s tier %s -> %s", change.member_id, change.old_tier_id, change.new_tier_id)
    for path in TIER_LISTENERS:
        module, _, name = path.partition(":")
        getattr(importlib.import_module(module), name)(shop, change)


# -- the points ledger ----------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    # The 31st plus one month is the last day of the shorter month.
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")  # pragma: no cover - day 28 exists in every month


def _locked(member: Member) -> Member:
    # Serialises ledger writes per member (FOR UPDATE on PostgreSQL; SQLite locks the database).
    locked = db.session.scalar(
        select(Member)
        .where(Member.id == member.id)
        .with_for_update(of=Member)
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(f"member {member.id} not found")
    return locked


def _entry_exists(member: Member, key: str) -> bool:
    return (
        db.session.scalar(
            select(PointsEntry.id).where(PointsEntry.member_id == member.id, PointsEntry.key == key)
        )
        is not None
    )


def _append(
    shop: Shop,
    member: Member,
    *,
    delta: int,
    kind: EntryKind,
    key: str,
    now: datetime,
    order_id: int | None = None,
    note: str = "",
    expires_at: datetime | None = None,
) -> PointsEntry | None:
    """Append one entry unless its key was written before; debits are clamped at the balance."""
    member = _locked(member)
    if _entry_exists(member, key):
        return None
    if delta < 0:
        delta = -min(-delta, member.points_balance)
    entry = PointsEntry(
        shop_id=shop.id,
        member_id=member.id,
        delta=delta,
        kind=kind,
        key=key,
        order_id=order_id,
        note=note[:255],
        expires_at=expires_at if delta > 0 else None,
        created_at=now,
    )
    db.session.add(entry)
    member.points_balance += delta
    db.session.flush()
    return entry


def _expiry(shop: Shop, now: datetime) -> datetime | None:
    months = get_settings(shop).points_expiry_months
    return add_months(now, months) if months > 0 else None


def points_for_order(settings: MembershipSettings, order: Order) -> int:
    """Pure: what an order earns in its current state (0 once cancelled, less after refunds)."""
    if order.cancelled or (order.financial_status or "") in UNPAID_STATUSES:
        return 0
    net = max(0, order.total_price - order.total_refunded)
    return net * settings.earn_points_per_100 // 100


def settle_order(shop: Shop, order: Order, *, now: datetime) -> PointsEntry | None:
    """Bring the member's points for `order` in line with the order's state, then the tier.

    Awards once however often the webhook arrives; a cancellation or refund takes the points
    back (never below a zero balance: points already spent stay spent). Returns the entry
    written, or None when nothing changed. Orders without a customer are ignored.
    """
    if order.shop_id != shop.id or order.customer_id is None:
        return None
    customer = db.session.get(Customer, order.customer_id)
    if customer is None:
        return None
    member = ensure_member(shop, customer, now=now)
    target = points_for_order(get_settings(shop), order)
    current = int(
        db.session.scalar(
            select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
                PointsEntry.member_id == member.id, PointsEntry.order_id == order.id
            )
        )
        or 0
    )
    entry = None
    if target != current:
        delta = target - current
        entry = _append(
            shop,
            member,
            delta=delta,
            kind=EntryKind.EARN if delta > 0 else EntryKind.REVERSE,
            # Keyed by the target: the same order state never writes twice, even when a
            # clamped reversal left the sum short of it.
            key=f"order:{order.id}:{target}",
            now=now,
            order_id=order.id,
            note=order.name,
            expires_at=_expiry(shop, now),
        )
    recompute_tier(shop, member, now=now)
    return entry


def award_bonus(
    shop: Shop, member: Member, points: int, *, key: str, note: str, now: datetime
) -> PointsEntry | None:
    """Give bonus points once per `key` (e.g. "link"). Returns None if given before."""
    if points <= 0:
        return None
    return _append(
        shop,
        member,
        delta=points,
        kind=EntryKind.BONUS,
        key=key,
        now=now,
        note=note,
        expires_at=_expiry(shop, now),
    )


def adjust_points(
    shop: Shop, member: Member, points: int, *, key: str, note: str, now: datetime
) -> PointsEntry | None:
    """A merchant's correction, positive or negative (a debit is clamped at the balance)."""
    if points == 0:
        raise Invalid("points must not be 0", field="points")
    return _append(
        shop,
        member,
        delta=points,
        kind=EntryKind.ADJUST,
        key=key,
        now=now,
        note=note,
        expires_at=_expiry(shop, now) if points > 0 else None,
    )


def spend_points(
    shop: Shop, member: Member, points: int, *, key: str, note: str, now: datetime
) -> PointsEntry:
    """Take `points` for an exchange. Raises NotEnoughPoints rather than going below zero.

    A repeated `key` returns the entry written the first time.
    """
    if points <= 0:
        raise Invalid("points must be positive", field="points")
    member = _locked(member)
    previous = db.session.scalar(
        select(PointsEntry).where(PointsEntry.member_id == member.id, PointsEntry.key == key)
    )
    if previous is not None:
        return previous
    if member.points_balance < points:
        raise NotEnoughPoints(
            f"{points} points needed, {member.points_balance} available",
            needed=points,
            balance=member.points_balance,
        )
    entry = _append(shop, member, delta=-points, kind=EntryKind.REDEEM, key=key, now=now, note=note)
    if entry is None:  # the key was written between our read and the insert
        raise Conflict("this exchange was already recorded")
    return entry


def ledger(member: Member) -> list[PointsEntry]:
    return list(
        db.session.scalars(
            select(PointsEntry)
            .where(PointsEntry.member_id == member.id)
            .order_by(PointsEntry.created_at, PointsEntry.id)
        )
    )


def open_lots(entries: Iterable[PointsEntry]) -> list[Lot]:
    """Pure: replay the ledger and return the unspent part of each positive entry.

    Debits use the points that expire first (FIFO by expiry); a reversal takes its own order's
    points first, and an expiry entry takes exactly the lot it names.
    """
    lots: dict[int, list[object]] = {}  # id -> [remaining, expires_at, order_id]
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id)):
        if entry.delta > 0:
            lots[entry.id] = [entry.delta, entry.expires_at, entry.order_id]
            continue
        owed = -entry.delta
        preferred: list[int] = []
        if entry.kind == EntryKind.EXPIRE and entry.key.startswith("expire:"):
            preferred = [int(entry.key.split(":", 1)[1])]
        elif entry.kind == EntryKind.REVERSE and entry.order_id is not None:
            preferred = [i for i, lot in lots.items() if lot[2] == entry.order_id]
        fifo = sorted(
            (i for i in lots if i not in preferred),
            key=lambda i: (lots[i][1] is None, lots[i][1] or entry.created_at, i),
        )
        for lot_id in [*preferred, *fifo]:
            if owed <= 0:
                break
            lot = lots.get(lot_id)
            if lot is None:
                continue
            take = min(owed, int(lot[0]))  # type: ignore[call-overload]
            lot[0] = int(lot[0]) - take  # type: ignore[call-overload]
            owed -= take
    return [
        Lot(entry_id=i, remaining=int(lot[0]), expires_at=lot[1])  # type: ignore[arg-type,call-overload]
        for i, lot in lots.items()
        if int(lot[0]) > 0  # type: ignore[call-overload]
    ]


def expire_points(shop: Shop, member: Member, *, now: datetime) -> int:
    """Write an expiry entry for every lot whose date has passed; returns the points expired.

    Each lot gets one marker entry (`expire:<lot id>`, possibly 0 points when it was spent),
    so running this again, or from two workers, expires nothing twice.
    """
    expired = 0
    entries = ledger(member)
    marked = {e.key for e in entries if e.kind == EntryKind.EXPIRE}
    remaining = {lot.entry_id: lot.remaining for lot in open_lots(entries)}
    for entry in entries:
        if entry.delta <= 0 or entry.expires_at is None or entry.expires_at > now:
            continue
        key = f"expire:{entry.id}"
        if key in marked:
            continue
        written = _append(
            shop,
            member,
            delta=-remaining.get(entry.id, 0),
            kind=EntryKind.EXPIRE,
            key=key,
            now=now,
            note=entry.note,
        )
        if written is not None:
            expired -= written.delta
    return expired


def next_expiry(member: Member, *, now: datetime) -> tuple[int, datetime] | None:
    """The points that expire next and when (the earliest date among unspent lots)."""
    lots = [lot for lot in open_lots(ledger(member)) if lot.expires_at and lot.expires_at > now]
    if not lots:
        return None
    first = min(lot.expires_at for lot in lots if lot.expires_at)
    return sum(lot.remaining for lot in lots if lot.expires_at == first), first


def history(member: Member, *, limit: int = 50) -> list[PointsEntry]:
    """The member's ledger, newest first, without the zero-point expiry markers."""
    return list(
        db.session.scalars(
            select(PointsEntry)
            .where(PointsEntry.member_id == member.id, PointsEntry.delta != 0)
            .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc())
            .limit(limit)
        )
    )


def members_with_due_points(shop: Shop, *, now: datetime) -> list[int]:
    """Ids of members holding a lot past its expiry date that has no expiry marker yet."""
    marker = PointsEntry.__table__.alias("marker")
    rows = db.session.scalars(
        select(PointsEntry.member_id)
        .where(
            PointsEntry.shop_id == shop.id,
            PointsEntry.delta > 0,
            PointsEntry.expires_at.is_not(None),
            PointsEntry.expires_at <= now,
            ~select(marker.c.id)
            .where(
                marker.c.member_id == PointsEntry.member_id,
                marker.c.key == literal("expire:", String) + cast(PointsEntry.id, String),
            )
            .exists(),
        )
        .distinct()
    )
    return list(rows)


def refresh_all_tiers(shop: Shop, *, now: datetime) -> int:
    """Recompute every member's spend and tier in one pass (one grouped query); returns how
    many tiers changed. Used daily, since a rolling window moves without any order."""
    settings = get_settings(shop)
    tiers = list_tiers(shop)
    query = select(Order.customer_id, func.sum(Order.total_price - Order.total_refunded)).where(
        Order.shop_id == shop.id,
        Order.customer_id.is_not(None),
        Order.cancelled_at.is_(None),
        Order.processed_at <= now,
        or_(Order.financial_status.is_(None), Order.financial_status.not_in(UNPAID_STATUSES)),
    )
    if settings.tier_window != TierWindow.LIFETIME:
        query = query.where(Order.processed_at > now - ROLLING_WINDOW)
    spends = {cid: total for cid, total in db.session.execute(query.group_by(Order.customer_id))}
    by_id = {t.id: t for t in tiers}
    # Plain rows and one bulk UPDATE: a shop with 100k members must not load 100k objects.
    rows = db.session.execute(
        select(Member.id, Member.customer_id, Member.tier_id, Member.qualifying_spend).where(
            Member.shop_id == shop.id
        )
    ).all()
    updates: list[dict[str, object]] = []
    changes: list[TierChange] = []
    for member_id, customer_id, tier_id, old_spend in rows:
        spend = int(spends.get(customer_id) or 0)
        progress = progress_for(tiers, spend)
        new_id = progress.tier.id if progress.tier else None
        if new_id == tier_id and spend == old_spend:
            continue
        update_row: dict[str, object] = {"id": member_id, "qualifying_spend": spend}
        if new_id != tier_id:
            old = by_id.get(tier_id) if tier_id is not None else None
            update_row.update(tier_id=new_id, tier_changed_at=now)
            changes.append(
                TierChange(
                    member_id,
                    customer_id,
                    tier_id,
                    new_id,
                    spend,
                    now,
                    old.threshold if old else None,
                    progress.tier.threshold if progress.tier else None,
                )
            )
        updates.append(update_row)
    for start in range(0, len(updates), 2000):
        db.session.execute(update(Member), updates[start : start + 2000])
    db.session.flush()
    # Objects already in the session see the new values on next access.
    db.session.expire_all()
    for change in changes:
        announce_tier_change(shop, change)
    return len(changes)


def enrol_customers_with_orders(shop: Shop, *, now: datetime) -> int:
    """Create members (bulk) for the shop's customers who have ordered; returns how many."""
    missing = list(
        db.session.scalars(
            select(Customer.id).where(
                Customer.shop_id == shop.id,
                select(Order.id).where(Order.customer_id == Customer.id).exists(),
                ~select(Member.id)
                .where(Member.shop_id == shop.id, Member.customer_id == Customer.id)
                .exists(),
            )
        )
    )
    taken = set(db.session.scalars(select(Member.member_number).where(Member.shop_id == shop.id)))
    rows = []
    for customer_id in missing:
        number = new_member_number()
        while number in taken:
            number = new_member_number()
        taken.add(number)
        rows.append(
            {
                "shop_id": shop.id,
                "customer_id": customer_id,
                "member_number": number,
                "joined_at": now,
                "qualifying_spend": 0,
                "points_balance": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), 2000):
        db.session.execute(insert(Member), rows[start : start + 2000])
    db.session.flush()
    return len(rows)


def on_order(shop: Shop, order: Order, *, now: datetime) -> None:
    """ORDER_LISTENERS entry (shopify/topics.py): points and tier follow the order's state."""
    settle_order(shop, order, now=now)


def export_customer(shop: Shop, customer: Customer, *, now: datetime) -> dict[str, object]:
    """CUSTOMER_EXPORT_LISTENERS entry: what the programme holds about a customer."""
    member = find_member(shop, customer.id)
    if member is None:
        return {}
    return {
        "member_number": member.member_number,
        "joined_at": member.joined_at.isoformat(),
        "tier": member.tier.name if member.tier else None,
        "points_balance": member.points_balance,
        "points_ledger": [
            {"at": e.created_at.isoformat(), "points": e.delta, "kind": e.kind, "note": e.note}
            for e in ledger(member)
        ],
    }


def on_linked(shop: Shop, line_user: LineUser, customer: Customer, *, now: datetime) -> None:
    """LINK_LISTENERS entry (linking/services.py): a linked customer is a member from now on."""
    ensure_member(shop, customer, now=now)


def on_link_incentive(
    shop: Shop, line_user: LineUser, customer: Customer, *, points: int, now: datetime
) -> None:
    """LINK_INCENTIVE_LISTENERS entry: the once-ever linking reward lands in the ledger."""
    member = ensure_member(shop, customer, now=now)
    award_bonus(shop, member, points, key="link", note="ID連携", now=now)
