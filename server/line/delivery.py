"""THE delivery pipeline: every outgoing LINE message goes through `deliver` or `deliver_many`.

What it guarantees:
- One `Delivery` row per recipient, stored before anything is sent, with a stable retry key
  (UUID) sent as `X-Line-Retry-Key`: a retry after a timeout or a 5xx repeats the identical
  request with the same key, and LINE answers 409 instead of delivering twice; 409 = sent.
- 429 (rate limit) and 5xx back off exponentially with jitter; other 4xx fail with LINE's
  error recorded on the row; "monthly limit" 429s and sends beyond the quota are held.
- The reply API first while a reply token is fresh (free), push otherwise; identical content to
  several friends goes out as multicast, 500 recipients per request.
- Promotional messages obey the shop's quiet hours (deferred to their end, not dropped) and
  frequency cap (deferred until the friend is under it); transactional ones are exempt.
- `LINE_DELIVERY=outbox` (the default while no channel is configured) records instead of
  sending; the admin lists the outbox.

Callers (features) only create rows: `deliver` / `deliver_many` flush and queue sending for
after the caller's commit. The `send_*` functions run in tasks and own their transactions:
they commit the claim and the retry key before any request leaves, and the results after.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from flask import current_app
from sqlalchemy import Integer, Table, and_, bindparam, func, insert, or_, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import attributes

from server.db import db, is_postgresql
from server.errors import Invalid, NotFound
from server.jobs import enqueue_after_commit, enqueue_batched_after_commit
from server.shops.models import Shop

from . import bulk, client
from . import messages as line_messages
from .access import access_target, delivery_mode, quota_room, refresh_quota
from .channels import find_channel
from .client import SendResult, Target
from .models import (
    Delivery,
    DeliveryContent,
    DeliveryKind,
    DeliveryRequest,
    DeliveryStatus,
    LineChannel,
    LineUser,
)
from .rules import Rules, cap_allows_at

log = logging.getLogger(__name__)

SEND_THREADS = 48  # concurrent requests per sending process (LINE allows 2,000 pushes/s)
CLAIM_BATCH = 5000  # rows claimed at once; a multiple of the multicast size
REQUEST_CLAIM_BATCH = 40  # multicast requests claimed at once (20,000 recipients)
ID_CHUNK = 2000  # ids per IN (..) list
CLAIM_LEASE = timedelta(minutes=10)  # a claim older than this belongs to a dead worker
SETTLE_EVERY = 1000  # recipients whose outcomes are written at once, while others are sent
MAX_ATTEMPTS = 10
INLINE_ATTEMPTS = 3  # tries inside one dispatch before the row is rescheduled
REPLY_TOKEN_TTL = timedelta(seconds=50)  # LINE: use within one minute of the webhook
# The console's verify request of old carried these dummy tokens; replying fails.
DUMMY_REPLY_TOKENS = frozenset({"0" * 32, "f" * 32})

# Creating deliveries -------------------------------------------------------------------------


def deliver(
    shop: Shop,
    line_user: LineUser,
    messages: list[dict[str, Any]],
    *,
    kind: str,
    reply_token: str | None = None,
    reply_token_received_at: datetime | None = None,
    not_before: datetime | None = None,
    source: str = "",
    now: datetime,
) -> Delivery:
    """Queue `messages` (1-5 LINE message objects) for one friend; returns the Delivery row.

    Validates the messages (raises InvalidMessages with the reason) and adds one row; sending
    is queued for after the caller's commit (at `not_before` when given). With a reply token
    (received at `reply_token_received_at`, default `now`) the reply API is tried first.
    A friend who blocked the account gets a CANCELLED row, so the attempt stays visible.
    """
    checked = line_messages.validate(messages)
    kind = _kind(kind)
    if line_user.shop_id != shop.id:
        raise NotFound("no such LINE friend")
    content = DeliveryContent(shop_id=shop.id, messages=checked, created_at=now)
    db.session.add(content)
    db.session.flush()
    due = max(now, not_before) if not_before else now
    row = Delivery(
        shop_id=shop.id,
        line_user_id=line_user.id,
        to=line_user.line_user_id,
        content_id=content.id,
        kind=kind,
        source=source[:64],
        status=DeliveryStatus.PENDING,
        due_at=due,
        retry_key=str(uuid.uuid4()),
        attempts=0,
        created_at=now,
    )
    if reply_token and reply_token not in DUMMY_REPLY_TOKENS:
        row.reply_token = reply_token
        row.reply_token_expires_at = (reply_token_received_at or now) + REPLY_TOKEN_TTL
    if line_user.blocked_at is not None:
        row.status = DeliveryStatus.CANCELLED
        row.error = "the friend has blocked the account"
    db.session.add(row)
    db.session.flush()
    if row.status == DeliveryStatus.PENDING and due <= now:
        from .tasks import send_deliveries

        # The rows made in one transaction (a personalised campaign) wake one sending task
        # per claim batch, which sends them concurrently.
        enqueue_batched_after_commit(send_deliveries, row.id, max_items=CLAIM_BATCH)
    return row


class Recipient(Protocol):
    """What deliver_many reads of a friend: a LineUser, or a row selected with these columns
    (`select(LineUser.id, LineUser.shop_id, LineUser.line_user_id, LineUser.blocked_at)`),
    which spares loading thousands of LineUser objects."""

    @property
    def id(self) -> int: ...
    @property
    def shop_id(self) -> int: ...
    @property
    def line_user_id(self) -> str: ...
    @property
    def blocked_at(self) -> datetime | None: ...


def deliver_many(
    shop: Shop,
    line_users: Iterable[Recipient],
    messages: list[dict[str, Any]],
    *,
    kind: str,
    source: str = "",
    not_before: datetime | None = None,
    now: datetime,
) -> list[Delivery]:
    """Queue the same messages for many friends (sent as multicast, 500 per request).

    One Delivery row per distinct friend of this shop; friends who blocked the account get
    CANCELLED rows. The others go in DeliveryRequests of up to 500 (a lone last one is
    pushed), which hold the retry key, claim and attempts; their rows are written now and
    once more when settled. Sending is queued for after the caller's commit. The rows come
    back detached, as inserted (re-read one by id to follow its progress); they are written
    in bulk (COPY on PostgreSQL), so 100,000 recipients take seconds.
    """
    checked = line_messages.validate(messages)
    kind = _kind(kind)
    content = DeliveryContent(shop_id=shop.id, messages=checked, created_at=now)
    db.session.add(content)
    db.session.flush()
    due = max(now, not_before) if not_before else now
    with bulk.gc_paused():
        created = _create_many(
            shop, content, line_users, kind=kind, source=source, due=due, now=now
        )
    if created and due <= now:
        from .tasks import send_content

        enqueue_after_commit(send_content, content.id)
    return created


def _create_many(
    shop: Shop,
    content: DeliveryContent,
    line_users: Iterable[Recipient],
    *,
    kind: str,
    source: str,
    due: datetime,
    now: datetime,
) -> list[Delivery]:
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for user in line_users:
        if user.shop_id != shop.id:
            raise NotFound("no such LINE friend")
        if user.id in seen:
            continue
        seen.add(user.id)
        blocked = user.blocked_at is not None
        rows.append(
            {
                "shop_id": shop.id,
                "line_user_id": user.id,
                "to": user.line_user_id,
                "content_id": content.id,
                "kind": kind,
                "source": source[:64],
                "status": DeliveryStatus.CANCELLED if blocked else DeliveryStatus.PENDING,
                "error": "the friend has blocked the account" if blocked else None,
                "due_at": due,
                "retry_key": "",
                "api": None,
                "request_id": None,
                "attempts": 0,
                "created_at": now,
            }
        )
    if not rows:
        return []
    chunks = _make_requests(shop, content, rows, kind=kind, due=due, now=now)
    ids = bulk.insert_rows(_TABLE, rows, key="line_user_id")
    _fill_requests(chunks, rows, ids)
    return [_detached(values, i, content) for values, i in zip(rows, ids, strict=True)]


_TABLE = cast(Table, Delivery.__table__)
_REQUESTS = cast(Table, DeliveryRequest.__table__)
_DELIVERY_COLUMNS = tuple(c.key for c in _TABLE.columns)


def _make_requests(
    shop: Shop,
    content: DeliveryContent,
    rows: list[dict[str, Any]],
    *,
    kind: str,
    due: datetime,
    now: datetime,
) -> list[tuple[int, list[int]]]:
    """Put the pending `rows` in multicast requests of up to 500 and give each row its key:
    the request's, or its own for a row sent alone. Returns (request id, row indexes)."""
    live = [n for n, r in enumerate(rows) if r["status"] == DeliveryStatus.PENDING]
    chunks = [
        live[start : start + line_messages.MULTICAST_MAX]
        for start in range(0, len(live), line_messages.MULTICAST_MAX)
    ]
    grouped = [c for c in chunks if len(c) > 1]  # a lone recipient is pushed (row path)
    keys = [str(uuid.uuid4()) for _ in grouped]
    made: dict[str, int] = {}
    if grouped:
        requests: list[dict[str, Any]] = [
            {
                "shop_id": shop.id,
                "content_id": content.id,
                "kind": kind,
                "status": DeliveryStatus.PENDING,
                "due_at": due,
                # Waiting, its rows can be cancelled meanwhile; the claim then checks them.
                "deferred_reason": None if due <= now else "scheduled",
                "retry_key": key,
                "recipients": [],  # filled in once the rows have ids
                "attempts": 0,
                "created_at": now,
            }
            for key in keys
        ]
        statement = insert(_REQUESTS).returning(_REQUESTS.c.retry_key, _REQUESTS.c.id)
        made = {key: i for key, i in db.session.execute(statement, requests)}
    # Due at once, they are on their way from now: the request, not the row, is claimed.
    state = DeliveryStatus.SENDING if due <= now else DeliveryStatus.PENDING
    result = []
    for chunk, key in zip(grouped, keys, strict=True):
        request_id = made[key]
        for n in chunk:
            rows[n].update(retry_key=key, api="multicast", request_id=request_id, status=state)
        result.append((request_id, chunk))
    for r in rows:
        if not r["retry_key"]:
            r["retry_key"] = str(uuid.uuid4())
    return result


def _fill_requests(
    chunks: list[tuple[int, list[int]]], rows: list[dict[str, Any]], ids: list[int]
) -> None:
    if not chunks:
        return
    db.session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == bindparam("request"))
        .values(recipients=bindparam("to_list")),
        [
            {
                "request": request_id,
                "to_list": [[ids[n], rows[n]["line_user_id"], rows[n]["to"]] for n in chunk],
            }
            for request_id, chunk in chunks
        ],
    )


def _detached(values: dict[str, Any], row_id: int, content: DeliveryContent) -> Delivery:
    """A detached Delivery holding exactly what was inserted, made without the unit of work
    (which costs ~70 µs a row; this is ~8 µs)."""
    row = Delivery.__mapper__.class_manager.new_instance()
    state = attributes.instance_state(row)
    state.dict.update(dict.fromkeys(_DELIVERY_COLUMNS), **values, id=row_id, content=content)
    state.key = (Delivery, (row_id,), None)
    return row


def cancel_pending(shop: Shop, line_user: LineUser, *, reason: str) -> int:
    """Cancel what has not been attempted yet for this friend (unfollow). Rows already tried
    keep their state: LINE may have accepted them, and a retry must stay identical."""
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.shop_id == shop.id,
            Delivery.line_user_id == line_user.id,
            Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.HELD)),
            Delivery.attempts == 0,
        )
        .values(status=DeliveryStatus.CANCELLED, error=reason, claim=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_held(shop: Shop, *, now: datetime, reason: str | None = None) -> int:
    """Put held deliveries back in line (the quota grew, the channel was fixed, the shop
    reinstalled); only those held for `reason` ("quota", "channel" or "uninstalled") when
    given. Queues their sending."""
    where = [Delivery.shop_id == shop.id, Delivery.status == DeliveryStatus.HELD]
    if reason is not None:
        where.append(Delivery.deferred_reason == reason)
    result = db.session.execute(
        update(Delivery)
        .where(*where)
        .values(status=DeliveryStatus.PENDING, due_at=now, deferred_reason=None)
        .execution_options(synchronize_session=False)
    )
    # Held requests go back in line with their rows (their deferred_reason stays: their rows
    # may have been cancelled meanwhile, which the claim checks).
    held = [DeliveryRequest.shop_id == shop.id, DeliveryRequest.status == DeliveryStatus.HELD]
    if reason is not None:
        held.append(DeliveryRequest.deferred_reason == reason)
    db.session.execute(
        update(DeliveryRequest)
        .where(*held)
        .values(status=DeliveryStatus.PENDING, due_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        from .tasks import send_due_deliveries

        enqueue_after_commit(send_due_deliveries)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _kind(kind: str) -> str:
    try:
        return DeliveryKind(kind).value
    except ValueError:
        raise Invalid("kind must be 'transactional' or 'promotional'") from None


# Sending --------------------------------------------------------------------------------------


@dataclass
class _Row:
    id: int
    shop_id: int
    line_user_id: int
    to: str
    content_id: int
    kind: str
    reply_token: str | None
    reply_token_expires_at: datetime | None
    retry_key: str
    api: str | None
    attempts: int
    ambiguous: bool = False  # an earlier attempt got no answer
    blocked: bool = False  # the friend has blocked the account


@dataclass
class _Request:
    api: str
    rows: list[_Row]  # empty for a DeliveryRequest: its recipients say whose rows
    body: dict[str, Any]
    retry_key: str | None
    result: SendResult | None = None
    tries: int = 0
    earlier_ambiguous: bool = False
    history: list[int] = field(default_factory=list)
    request_id: int | None = None  # the DeliveryRequest this is
    recipients: list[list[Any]] = field(default_factory=list)
    attempts: int = 0  # before this dispatch

    def __post_init__(self) -> None:
        if self.rows:
            self.attempts = max(r.attempts for r in self.rows)

    @property
    def size(self) -> int:
        return len(self.recipients) if self.request_id is not None else len(self.rows)


class _Changes(dict[int, dict[str, Any]]):
    """What a claim or a result writes: row id -> new values, plus values shared by all the
    rows of one request (one statement for them) and the requests' own new values."""

    def __init__(self) -> None:
        super().__init__()
        self.shared: list[tuple[list[int], dict[str, Any]]] = []
        self.requests: dict[int, dict[str, Any]] = {}


_COLUMNS = (
    Delivery.id,
    Delivery.shop_id,
    Delivery.line_user_id,
    Delivery.to,
    Delivery.content_id,
    Delivery.kind,
    Delivery.reply_token,
    Delivery.reply_token_expires_at,
    Delivery.retry_key,
    Delivery.api,
    Delivery.attempts,
    Delivery.error,
    # One primary-key probe per row: a join or an IN list lets PostgreSQL scan all the
    # shop's friends for every batch when its statistics predate the broadcast.
    select(LineUser.blocked_at)
    .where(LineUser.id == Delivery.line_user_id)
    .scalar_subquery()
    .label("blocked_at"),
)


def send_ids(ids: Sequence[int], *, now: datetime) -> None:
    """Send these deliveries if they are due and nobody else has them (task entry point)."""
    with bulk.gc_paused():  # thousands of rows and requests in hand per batch
        for start in range(0, len(ids), CLAIM_BATCH):
            chunk = list(ids[start : start + CLAIM_BATCH])
            batch = _claim(Delivery.id.in_(chunk), now=now, limit=len(chunk))
            if batch:
                _send(batch, now=now)


def send_content(content_id: int, *, now: datetime) -> None:
    """Send every due delivery of one deliver_many call, a claim batch at a time: its
    multicast requests, then the rows sent alone."""
    by_content = DeliveryRequest.content_id == content_id
    with bulk.gc_paused():
        while batch := _claim_requests(by_content, now=now, limit=REQUEST_CLAIM_BATCH):
            _send(batch, now=now)
        while batch := _claim(Delivery.content_id == content_id, now=now, limit=CLAIM_BATCH):
            _send(batch, now=now)


def send_due(*, now: datetime, budget: timedelta = timedelta(seconds=50)) -> int:
    """The periodic sweep: due rows (scheduled, deferred, backing off) and expired claims.
    Returns how many rows it handled."""
    started = time.monotonic()
    handled = 0
    for claim, limit in ((_claim_requests, REQUEST_CLAIM_BATCH), (_claim, CLAIM_BATCH)):
        while time.monotonic() - started < budget.total_seconds():
            with bulk.gc_paused():
                batch = claim(None, now=now, limit=limit)
                if not batch:
                    break
                handled += batch.rows
                _send(batch, now=now)
    return handled


def _due(now: datetime) -> Any:
    # a request's rows go with their request
    return and_(Delivery.request_id.is_(None), _due_or_abandoned(Delivery, now))


def _due_or_abandoned(model: type[Delivery] | type[DeliveryRequest], now: datetime) -> Any:
    """Pending and due, or claimed by a worker whose lease ran out (it died mid-send)."""
    return or_(
        and_(model.status == DeliveryStatus.PENDING, model.due_at <= now),
        and_(model.status == DeliveryStatus.SENDING, model.claimed_at < now - CLAIM_LEASE),
    )


def _retryable(now: datetime) -> Any:
    return and_(
        Delivery.request_id.is_(None),
        or_(
            Delivery.status == DeliveryStatus.PENDING,
            and_(
                Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - CLAIM_LEASE
            ),
        ),
    )


@dataclass
class _Plan:
    """What one shop's claimed rows become: requests ready to go, with their keys stored."""

    channel: LineChannel
    target: Target
    contents: dict[int, list[Any]]
    requests: list[_Request]


@dataclass
class _Batch:
    rows: int  # rows claimed, including those settled without a request (deferred, held, ...)
    plans: list[_Plan]

    def __bool__(self) -> bool:
        return self.rows > 0


def _claim(where: Any, *, now: datetime, limit: int) -> _Batch | None:
    """Take up to `limit` due rows, decide what each becomes (the rules, the quota, the
    requests with their APIs and retry keys) and store that and the claim in one write per
    set of columns, then commit: before any request leaves, the database knows the identical
    request a retry must repeat. On PostgreSQL the rows are locked (FOR UPDATE SKIP LOCKED)
    from the read to that commit, so concurrent senders take disjoint sets; on SQLite a
    sender whose read is older than another's commit cannot write (SQLITE_BUSY: nothing was
    sent, and the task runs again)."""
    rows = _lock_due(where, now=now, limit=limit)
    if not rows:
        db.session.commit()
        return None
    claim = uuid.uuid4().hex
    changes = _Changes()
    plans = _plans_by_shop(rows, lambda shop, mine: _plan_shop(shop, mine, changes, now=now))
    for plan in plans:
        for req in plan.requests:
            claimed = {
                "status": DeliveryStatus.SENDING,
                "claim": claim,
                "claimed_at": now,
                "api": req.api,
            }
            if req.api == "multicast":  # a fresh multicast's key is new; any other row's is its own
                claimed["retry_key"] = req.retry_key
            for r in req.rows:
                changes[r.id] = claimed  # identical values: one UPDATE .. WHERE id = ANY(ids)
    _write(changes)
    return _Batch(len(rows), plans)


class _Claimable(Protocol):
    @property
    def shop_id(self) -> int: ...


def _plans_by_shop(
    items: Sequence[_Claimable], plan: Callable[[Shop, list[Any]], _Plan | None]
) -> list[_Plan]:
    """`plan` for each shop's share of the claimed rows or requests (a deleted shop's none)."""
    by_shop: dict[int, list[Any]] = defaultdict(list)
    for item in items:
        by_shop[item.shop_id].append(item)
    plans = []
    for shop_id, mine in by_shop.items():
        shop = db.session.get(Shop, shop_id)
        found = plan(shop, mine) if shop is not None else None
        if found is not None:
            plans.append(found)
    return plans


# Multicast requests (deliver_many) --------------------------------------------------------------

_REQUEST_COLUMNS = (
    DeliveryRequest.id,
    DeliveryRequest.shop_id,
    DeliveryRequest.content_id,
    DeliveryRequest.kind,
    DeliveryRequest.retry_key,
    DeliveryRequest.recipients,
    DeliveryRequest.attempts,
    DeliveryRequest.claimed_at,
    DeliveryRequest.deferred_reason,
)


@dataclass
class _Claimed:
    """A DeliveryRequest as claimed: its recipients are [delivery id, line user id, to]."""

    id: int
    shop_id: int
    content_id: int
    kind: str
    retry_key: str
    recipients: list[list[Any]]
    attempts: int
    tried: bool  # it went out before (claimed_at set): it is repeated exactly
    deferred: bool  # was deferred or held, so some of its rows may have been cancelled
    changed: bool = False  # recipients left out (cancelled, blocked, over the cap)

    @property
    def ids(self) -> list[int]:
        return [r[0] for r in self.recipients]


def _claim_requests(where: Any, *, now: datetime, limit: int) -> _Batch | None:
    """Take up to `limit` due requests, apply the rules to those never sent, and store the
    claim (and any recipients left out) before any request leaves, as `_claim` does for rows.
    The recipients' rows are not written here, unless the rules send them elsewhere."""
    query = select(*_REQUEST_COLUMNS).where(_due_or_abandoned(DeliveryRequest, now))
    if where is not None:
        query = query.where(where).order_by(DeliveryRequest.id)
    else:
        query = query.order_by(DeliveryRequest.due_at, DeliveryRequest.id)
    query = query.limit(limit)
    if is_postgresql(db.session.get_bind()):
        query = query.with_for_update(skip_locked=True, of=DeliveryRequest)
    found = [
        _Claimed(
            id=q.id,
            shop_id=q.shop_id,
            content_id=q.content_id,
            kind=q.kind,
            retry_key=q.retry_key,
            recipients=list(q.recipients),
            attempts=q.attempts,
            tried=q.claimed_at is not None,
            deferred=q.deferred_reason is not None,
        )
        for q in db.session.execute(query)
    ]
    if not found:
        db.session.commit()
        return None
    handled = sum(len(q.recipients) for q in found)
    claim = uuid.uuid4().hex
    changes = _Changes()
    plans = _plans_by_shop(found, lambda shop, mine: _plan_requests(shop, mine, changes, now=now))
    for plan in plans:
        for req in plan.requests:
            values: dict[str, Any] = {
                "status": DeliveryStatus.SENDING,
                "claim": claim,
                "claimed_at": now,
                "deferred_reason": None,
            }
            if req.request_id in changes.requests:  # recipients left out by the rules
                values = {**changes.requests[req.request_id], **values}
            changes.requests[cast(int, req.request_id)] = values
    _write(changes)
    return _Batch(handled, plans)


def _plan_requests(
    shop: Shop, claimed: list[_Claimed], changes: _Changes, *, now: datetime
) -> _Plan | None:
    """`_plan_shop` for requests: those that go nowhere now get their new state (and their
    rows' state) in `changes`; the others become requests with their keys."""

    def settle(q: _Claimed, request: dict[str, Any], rows: dict[str, Any]) -> None:
        changes.requests[q.id] = {**changes.requests.get(q.id, {}), **request}
        if q.recipients:
            changes.shared.append((q.ids, rows))

    def hold(q: _Claimed, message: str, reason: str) -> None:
        settle(
            q,
            {"status": DeliveryStatus.HELD, "deferred_reason": reason, "error": message},
            _held(message, reason=reason),
        )

    if not shop.installed:
        for q in claimed:
            hold(q, "held: the shop has uninstalled Kizuna", "uninstalled")
        return None
    channel = find_channel(shop)
    fresh = [q for q in claimed if not q.tried]
    retries = [q for q in claimed if q.tried]
    fresh = _apply_request_rules(shop, channel, fresh, changes, now=now)
    going = retries + fresh

    if delivery_mode(channel) == "outbox":
        for q in going:
            settle(
                q,
                {"status": DeliveryStatus.OUTBOX, "sent_at": now, "claim": None},
                _final(DeliveryStatus.OUTBOX, now, api="outbox", attempts=q.attempts),
            )
        return None
    if channel is None or not channel.messaging_configured:
        for q in going:
            hold(q, "the shop's LINE channel is not configured", "channel")
        return None
    try:
        t = access_target(channel, now=now)
    except (client.LineApiError, client.LineUnreachable) as error:
        for q in going:
            request, rows = _backoff_values(
                q.attempts, now, f"could not renew the channel access token: {error}"
            )
            settle(q, request, rows)
        return None

    contents = _contents({q.content_id for q in going})
    requests = []
    room = None
    if fresh:  # retries were counted when first sent
        refresh_quota(channel, t, now=now)
        room = quota_room(channel)
    for q in going:
        if not q.tried and room is not None:
            if len(q.recipients) > room:
                hold(
                    q,
                    f"held: sending would exceed this month's LINE message quota "
                    f"({channel.quota_used or 0:,} of {channel.quota_limit:,} used)",
                    "quota",
                )
                continue
            room -= len(q.recipients)
        body = {"to": [r[2] for r in q.recipients], "messages": contents[q.content_id]}
        requests.append(
            _Request(
                "multicast",
                [],
                body,
                q.retry_key,
                request_id=q.id,
                recipients=q.recipients,
                attempts=q.attempts,
            )
        )
    return _Plan(channel, t, contents, requests)


def _apply_request_rules(
    shop: Shop,
    channel: LineChannel | None,
    claimed: list[_Claimed],
    changes: _Changes,
    *,
    now: datetime,
) -> list[_Claimed]:
    """The rules for requests never sent: recipients cancelled or blocked since are left out,
    promotions wait for the end of quiet hours (the whole request) or for room under a
    friend's cap (that recipient alone, then sent by the row path). Returns what may go now;
    a request left with nobody is settled as cancelled."""
    if not claimed:
        return []
    # Rows of a request that waited may have been cancelled (unfollow, the merchant) or
    # deleted; due at once, they were `sending` all along, which nothing cancels.
    waited = [i for q in claimed if q.deferred for i in q.ids]
    live = _ids_where(Delivery.id, waited, Delivery.status != DeliveryStatus.CANCELLED)
    gone = set(waited) - live
    blocked = _ids_where(
        LineUser.id,
        [r[1] for q in claimed for r in q.recipients],
        LineUser.blocked_at.is_not(None),
    )
    if gone or blocked:
        for q in claimed:
            kept = []
            for r in q.recipients:
                if r[0] in gone:
                    continue
                if r[1] in blocked:
                    changes[r[0]] = {
                        "status": DeliveryStatus.CANCELLED,
                        "error": "the friend has blocked the account",
                        "request_id": None,
                    }
                    continue
                kept.append(r)
            if len(kept) != len(q.recipients):
                q.recipients, q.changed = kept, True
    promotional = [q for q in claimed if q.kind == DeliveryKind.PROMOTIONAL]
    ready = [q for q in claimed if q.kind != DeliveryKind.PROMOTIONAL]
    if promotional:
        rules = Rules.for_shop(shop, channel)
        quiet_end = rules.quiet_until(now)
        if quiet_end is not None:
            for q in promotional:
                changes.requests[q.id] = {
                    "status": DeliveryStatus.PENDING,
                    "due_at": quiet_end,
                    "deferred_reason": "quiet_hours",
                    **({"recipients": q.recipients} if q.changed else {}),
                }
                if q.recipients:  # what the admin shows for each recipient
                    changes.shared.append((q.ids, _defer(quiet_end, "quiet_hours")))
            promotional = []
        elif rules.cap > 0:
            recent = _recent_promotions(
                shop,
                {r[1] for q in promotional for r in q.recipients},
                now - rules.cap_window,
                latest=rules.cap,
            )
            for q in promotional:
                kept = []
                for r in q.recipients:
                    sent = recent[r[1]]
                    allowed_at = cap_allows_at(sent, cap=rules.cap, window=rules.cap_window)
                    if allowed_at is not None and allowed_at > now:
                        # Out of the request (never sent): the row path sends it when due.
                        changes[r[0]] = {
                            **_defer(allowed_at, "frequency_cap"),
                            "request_id": None,
                            "api": None,
                            "retry_key": str(uuid.uuid4()),
                        }
                    else:
                        sent.append(now)
                        kept.append(r)
                if len(kept) != len(q.recipients):
                    q.recipients, q.changed = kept, True
        ready += promotional
    going = []
    for q in ready:
        if not q.recipients:
            changes.requests[q.id] = {"status": DeliveryStatus.CANCELLED, "recipients": []}
            continue
        if q.changed:
            changes.requests[q.id] = {"recipients": q.recipients}
        going.append(q)
    return going


def _ids_where(column: Any, ids: list[int], condition: Any) -> set[int]:
    """Which of `ids` (primary keys of `column`'s table) meet `condition`: probes by key."""
    if not ids:
        return set()
    if is_postgresql(db.session.get_bind()):
        found = db.session.scalars(
            select(column).where(
                column == func.any(bindparam("ids", ids, type_=ARRAY(Integer))), condition
            )
        )
        return set(found)
    matched: set[int] = set()
    for start in range(0, len(ids), ID_CHUNK):
        matched.update(
            db.session.scalars(
                select(column).where(column.in_(ids[start : start + ID_CHUNK]), condition)
            )
        )
    return matched


def _lock_due(where: Any, *, now: datetime, limit: int) -> list[_Row]:
    due = _due(now)
    query = select(*_COLUMNS).where(due)
    if where is not None:  # one content or given ids: in id order, which their index keeps
        query = query.where(where).order_by(Delivery.id)
    else:  # the sweep: the longest due first
        query = query.order_by(Delivery.due_at, Delivery.id)
    postgresql = is_postgresql(db.session.get_bind())
    query = query.limit(limit)
    if postgresql:
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = [_row(r) for r in db.session.execute(query)]
    # A multicast retry must repeat the identical request: take the rest of its recipients
    # too, waiting for them if another sender holds some (skipping would change the body).
    keys = sorted({r.retry_key for r in rows if r.api == "multicast"})
    if keys:
        taken = {r.id for r in rows}
        contents = sorted({r.content_id for r in rows if r.api == "multicast"})
        siblings = (
            select(*_COLUMNS)
            .where(
                Delivery.content_id.in_(contents),  # the index: (content_id, retry_key)
                Delivery.retry_key.in_(keys),
                Delivery.api == "multicast",
                _retryable(now),
            )
            .order_by(Delivery.id)
        )
        if postgresql:
            siblings = siblings.with_for_update(of=Delivery)
        rows += [_row(r) for r in db.session.execute(siblings) if r.id not in taken]
    return rows


def _row(r: Any) -> _Row:
    return _Row(
        id=r.id,
        shop_id=r.shop_id,
        line_user_id=r.line_user_id,
        to=r.to,
        content_id=r.content_id,
        kind=r.kind,
        reply_token=r.reply_token,
        reply_token_expires_at=r.reply_token_expires_at,
        retry_key=r.retry_key,
        api=r.api,
        attempts=r.attempts,
        ambiguous=bool(r.error and r.error.startswith("no answer")),
        blocked=r.blocked_at is not None,
    )


def _plan_shop(
    shop: Shop, rows: list[_Row], changes: dict[int, dict[str, Any]], *, now: datetime
) -> _Plan | None:
    """The requests for one shop's claimed rows; rows that go nowhere now (deferred, held,
    cancelled, recorded to the outbox) get their new state in `changes` instead."""
    if not shop.installed:
        # Uninstalled (app/uninstalled, or a token Shopify no longer accepts): nothing leaves
        # for the shop; a reinstall puts these back in line (shopify.install).
        for r in rows:
            changes[r.id] = _held("held: the shop has uninstalled Kizuna", reason="uninstalled")
        return None
    channel = find_channel(shop)
    fresh = [r for r in rows if r.api is None]
    retries = [r for r in rows if r.api is not None]
    fresh = _apply_rules(shop, channel, fresh, changes, now=now)

    if delivery_mode(channel) == "outbox":
        for r in fresh + retries:
            changes[r.id] = _final(DeliveryStatus.OUTBOX, now, api="outbox", attempts=r.attempts)
        return None
    if channel is None or not channel.messaging_configured:
        for r in fresh + retries:
            changes[r.id] = _held("the shop's LINE channel is not configured")
        return None
    try:
        t = access_target(channel, now=now)
    except (client.LineApiError, client.LineUnreachable) as error:
        for r in fresh + retries:
            changes[r.id] = _backoff(r, now, f"could not renew the channel access token: {error}")
        return None

    contents = _contents({r.content_id for r in rows})
    requests = _plan_retries(retries, contents, now=now) + _plan_fresh(fresh, contents, now=now)
    requests = _apply_quota(channel, t, requests, changes, now=now)
    return _Plan(channel, t, contents, requests)


def _send(batch: _Batch, *, now: datetime) -> None:
    """Send a claimed batch's requests and write their outcomes, one shop at a time."""
    base = float(current_app.config.get("LINE_RETRY_BASE_DELAY", 0.5))
    for plan in batch.plans:
        channel, t = plan.channel, plan.target
        fallbacks: list[_Row] = []
        # Outcomes are written as they come in, while the threads send the rest: the
        # database's time hides behind LINE's.
        with closing(_execute(t, plan.requests, base)) as finished:
            for done in finished:
                changes = _Changes()
                fallbacks += _apply_results(channel, done, changes, now=now)
                _write(changes)
        if not fallbacks:
            continue
        # Reply tokens LINE refused: push instead, now, with the rows' own retry keys.
        changes = _Changes()
        pushes = [_push(r, plan.contents) for r in fallbacks]
        pushes = _apply_quota(channel, t, pushes, changes, now=now)
        for req in pushes:
            changes[req.rows[0].id] = {"api": "push"}
        _write(changes)
        changes = _Changes()
        with closing(_execute(t, pushes, base)) as finished:
            for _ in finished:
                pass
        _apply_results(channel, pushes, changes, now=now)
        _write(changes)


def _apply_rules(
    shop: Shop,
    channel: LineChannel | None,
    rows: list[_Row],
    changes: dict[int, dict[str, Any]],
    *,
    now: datetime,
) -> list[_Row]:
    """Quiet hours and frequency cap for promotional rows; returns the rows that may go now."""
    ready: list[_Row] = []
    promotional: list[_Row] = []
    for r in rows:
        if r.blocked:
            changes[r.id] = {
                "status": DeliveryStatus.CANCELLED,
                "error": "the friend has blocked the account",
                "claim": None,
            }
        elif r.kind == DeliveryKind.PROMOTIONAL:
            promotional.append(r)
        else:
            ready.append(r)
    if not promotional:
        return ready
    rules = Rules.for_shop(shop, channel)
    quiet_end = rules.quiet_until(now)
    if quiet_end is not None:
        for r in promotional:
            changes[r.id] = _defer(quiet_end, "quiet_hours")
        return ready
    if rules.cap <= 0:
        return ready + promotional
    recent = _recent_promotions(
        shop, {r.line_user_id for r in promotional}, now - rules.cap_window, latest=rules.cap
    )
    for r in promotional:
        sent = recent[r.line_user_id]
        allowed_at = cap_allows_at(sent, cap=rules.cap, window=rules.cap_window)
        if allowed_at is not None and allowed_at > now:
            changes[r.id] = _defer(allowed_at, "frequency_cap")
        else:
            sent.append(now)  # counts against the next row for the same friend
            ready.append(r)
    return ready


def _recent_promotions(
    shop: Shop, line_user_ids: set[int], since: datetime, *, latest: int
) -> dict[int, list[datetime]]:
    """The `latest` promotional sends since `since` of each friend: all the cap looks at."""
    found: dict[int, list[datetime]] = defaultdict(list)
    ids = sorted(line_user_ids)
    counted = (
        Delivery.shop_id == shop.id,
        Delivery.kind == DeliveryKind.PROMOTIONAL,
        Delivery.status.in_((DeliveryStatus.SENT, DeliveryStatus.OUTBOX)),
        Delivery.sent_at >= since,
    )
    if is_postgresql(db.session.get_bind()):
        # Driven by the friends, one index probe each (LATERAL .. LIMIT is never flattened
        # into a join). Filtering the shop's deliveries by an id list instead makes
        # PostgreSQL scan all of them for every batch while its statistics predate the
        # broadcast: minutes for 100,000 friends.
        friend = (
            func.unnest(bindparam("ids", ids, type_=ARRAY(Integer)))
            .table_valued("id")
            .render_derived(name="friend")
        )
        sends = (
            select(Delivery.sent_at)
            .where(Delivery.line_user_id == friend.c.id, *counted)
            .order_by(Delivery.sent_at.desc())
            .limit(latest)
            .lateral()
        )
        query: Any = select(friend.c.id, sends.c.sent_at).join(sends, true())
        found_rows = db.session.execute(query).all()
    else:
        found_rows = []
        for start in range(0, len(ids), ID_CHUNK):
            found_rows += db.session.execute(
                select(Delivery.line_user_id, Delivery.sent_at).where(
                    Delivery.line_user_id.in_(ids[start : start + ID_CHUNK]), *counted
                )
            ).all()
    for user_id, sent_at in found_rows:
        if sent_at is not None:
            found[user_id].append(sent_at)
    return found


def _contents(ids: set[int]) -> dict[int, list[dict[str, Any]]]:
    return dict(
        db.session.execute(
            select(DeliveryContent.id, DeliveryContent.messages).where(DeliveryContent.id.in_(ids))
        ).all()
    )


def _plan_retries(
    rows: list[_Row], contents: dict[int, list[Any]], *, now: datetime
) -> list[_Request]:
    """Rows tried before are retried exactly as first sent: same API, recipients, key. A reply
    whose token has expired meanwhile can only be pushed."""
    requests: list[_Request] = []
    multicast: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        if r.api == "multicast":
            multicast[r.retry_key].append(r)
        elif r.api == "reply" and _token_fresh(r, now):
            requests.append(_reply(r, contents, ambiguous=r.ambiguous))
        else:
            requests.append(_push(r, contents))
    for key, group in multicast.items():
        group.sort(key=lambda r: r.id)
        requests.append(
            _Request(
                "multicast",
                group,
                {"to": [r.to for r in group], "messages": contents[group[0].content_id]},
                key,
            )
        )
    return requests


def _plan_fresh(
    rows: list[_Row], contents: dict[int, list[Any]], *, now: datetime
) -> list[_Request]:
    requests: list[_Request] = []
    by_content: dict[int, list[_Row]] = defaultdict(list)
    for r in rows:
        if _token_fresh(r, now):
            requests.append(_reply(r, contents))
        else:
            by_content[r.content_id].append(r)
    for content_id, group in by_content.items():
        if len(group) == 1:
            requests.append(_push(group[0], contents))
            continue
        for start in range(0, len(group), line_messages.MULTICAST_MAX):
            chunk = group[start : start + line_messages.MULTICAST_MAX]
            if len(chunk) == 1:
                requests.append(_push(chunk[0], contents))
                continue
            key = str(uuid.uuid4())
            for r in chunk:
                r.retry_key = key
            requests.append(
                _Request(
                    "multicast",
                    chunk,
                    {"to": [r.to for r in chunk], "messages": contents[content_id]},
                    key,
                )
            )
    return requests


def _token_fresh(r: _Row, now: datetime) -> bool:
    return (
        r.reply_token is not None
        and r.reply_token_expires_at is not None
        and r.reply_token_expires_at > now
    )


def _push(r: _Row, contents: dict[int, list[Any]]) -> _Request:
    return _Request("push", [r], {"to": r.to, "messages": contents[r.content_id]}, r.retry_key)


def _reply(r: _Row, contents: dict[int, list[Any]], *, ambiguous: bool = False) -> _Request:
    body = {"replyToken": r.reply_token, "messages": contents[r.content_id]}
    return _Request("reply", [r], body, None, earlier_ambiguous=ambiguous)


def _apply_quota(
    channel: LineChannel,
    t: Target,
    requests: list[_Request],
    changes: dict[int, dict[str, Any]],
    *,
    now: datetime,
) -> list[_Request]:
    """Hold push/multicast recipients beyond the monthly quota (replies are free). Retries
    were counted when first sent."""
    counted = {id(q) for q in requests if q.api != "reply" and q.rows[0].attempts == 0}
    if not counted:
        return requests
    refresh_quota(channel, t, now=now)
    room = quota_room(channel)
    if room is None:
        return requests
    kept: list[_Request] = []
    for q in requests:
        if id(q) not in counted:
            kept.append(q)
            continue
        if len(q.rows) <= room:
            room -= len(q.rows)
            kept.append(q)
            continue
        message = (
            f"held: sending would exceed this month's LINE message quota "
            f"({channel.quota_used or 0:,} of {channel.quota_limit:,} used)"
        )
        for r in q.rows:
            changes[r.id] = _held(message, reason="quota")
    return kept


def _execute(
    t: Target, requests: list[_Request], base_delay: float
) -> Generator[list[_Request], None, None]:
    """Send `requests` from SEND_THREADS threads; yields the finished ones every
    SETTLE_EVERY recipients or so while the others are still under way. Closed early (the
    caller failed), it still waits for what it started."""
    if not requests:
        return
    if len(requests) == 1:
        _run(t, requests[0], base_delay)
        yield requests
        return
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(requests))) as pool:
        futures = {pool.submit(_run, t, q, base_delay): q for q in requests}
        done: list[_Request] = []
        size = 0
        for future in as_completed(futures):
            future.result()
            done.append(futures[future])
            size += futures[future].size
            if size >= SETTLE_EVERY:
                yield done
                done, size = [], 0
        if done:
            yield done


def _run(t: Target, req: _Request, base: float) -> None:
    """One request with up to INLINE_ATTEMPTS tries (same body, same retry key), backing off
    `base` · 2^n seconds with jitter. No database access here: this runs in a sending thread."""
    allowed = max(1, min(INLINE_ATTEMPTS, MAX_ATTEMPTS - req.attempts))
    for attempt in range(allowed):
        req.tries += 1
        req.result = client.send(t, req.api, req.body, retry_key=req.retry_key)
        req.history.append(req.result.status)
        if not _transient(req.result):
            return
        if attempt + 1 < allowed:
            time.sleep(base * (2**attempt) * (1 + random.random()))  # noqa: S311 - jitter


def _transient(result: SendResult) -> bool:
    if result.status == 0 or result.status >= 500:
        return True
    return result.status == 429 and not _monthly_limit(result)


def _monthly_limit(result: SendResult) -> bool:
    return result.status == 429 and "monthly limit" in result.message.lower()


def _apply_results(
    channel: LineChannel,
    requests: list[_Request],
    changes: dict[int, dict[str, Any]],
    *,
    now: datetime,
) -> list[_Row]:
    """Write each request's outcome on its rows; returns reply rows to push instead."""
    fallbacks: list[_Row] = []
    sent_recipients = 0
    for req in requests:
        result = req.result or SendResult(status=0, message="not sent")
        if req.request_id is not None:
            _settle_request(req, result, cast(_Changes, changes), now=now)
            if result.status == 200:
                sent_recipients += len(req.recipients)
            continue
        attempts = {r.id: r.attempts + req.tries for r in req.rows}
        ambiguous_before = req.earlier_ambiguous or 0 in req.history[:-1]
        if result.status in (200, 409):
            ids = [m.get("id") for m in result.sent_messages if isinstance(m, dict)]
            for r in req.rows:
                changes[r.id] = {
                    **_final(DeliveryStatus.SENT, now, api=req.api, attempts=attempts[r.id]),
                    "line_request_id": result.request_id,
                    "accepted_request_id": result.accepted_request_id,
                    "sent_message_ids": ids or None,
                }
            if req.api != "reply" and result.status == 200:
                sent_recipients += len(req.rows)
            continue
        if req.api == "reply" and result.status == 400 and "reply token" in result.message.lower():
            r = req.rows[0]
            if ambiguous_before:
                # An earlier try got no answer and the still-fresh token is now used up: that
                # try reached LINE. Pushing as well would deliver twice.
                changes[r.id] = {
                    **_final(DeliveryStatus.SENT, now, api="reply", attempts=attempts[r.id]),
                    "error": "reply delivered by an attempt whose answer was lost",
                }
            else:
                r.attempts = attempts[r.id]
                r.api = "push"
                fallbacks.append(r)
            continue
        error = _describe(result)
        for r in req.rows:
            r.attempts = attempts[r.id]
            if _monthly_limit(result):
                changes[r.id] = _held(
                    f"held: LINE says the monthly message limit is reached ({error})",
                    reason="quota",
                )
            elif result.status in (401, 403) and req.api != "reply":
                changes[r.id] = _held(
                    f"held: LINE refused the channel's credentials ({error})", reason="channel"
                )
            elif _transient(result):
                changes[r.id] = _backoff(r, now, error)
            else:
                changes[r.id] = {
                    **_final(DeliveryStatus.FAILED, now, api=req.api, attempts=r.attempts),
                    "sent_at": None,
                    "error": error,
                }
    if sent_recipients and channel.quota_limit is not None:
        channel.quota_used = (channel.quota_used or 0) + sent_recipients
    return fallbacks


def _settle_request(req: _Request, result: SendResult, changes: _Changes, *, now: datetime) -> None:
    """A request's outcome, on the request and (one statement) on all its recipients' rows."""
    attempts = req.attempts + req.tries
    request: dict[str, Any]
    if result.status in (200, 409):
        rows = {
            **_final(DeliveryStatus.SENT, now, api="multicast", attempts=attempts),
            "line_request_id": result.request_id,
            "accepted_request_id": result.accepted_request_id,
        }
        request = {
            "status": DeliveryStatus.SENT,
            "attempts": attempts,
            "sent_at": now,
            "claim": None,
            "error": None,
            "line_request_id": result.request_id,
            "accepted_request_id": result.accepted_request_id,
        }
    else:
        error = _describe(result)
        if _monthly_limit(result) or result.status in (401, 403):
            if _monthly_limit(result):
                message = f"held: LINE says the monthly message limit is reached ({error})"
                reason = "quota"
            else:
                message = f"held: LINE refused the channel's credentials ({error})"
                reason = "channel"
            rows = {**_held(message, reason=reason), "attempts": attempts}
            request = {"status": DeliveryStatus.HELD, "deferred_reason": reason}
        elif _transient(result):
            request, rows = _backoff_values(attempts, now, error)
        else:
            rows = {
                **_final(DeliveryStatus.FAILED, now, api="multicast", attempts=attempts),
                "sent_at": None,
                "error": error,
            }
            request = {"status": DeliveryStatus.FAILED}
        request = {**request, "attempts": attempts, "claim": None, "error": rows["error"]}
    changes.requests[cast(int, req.request_id)] = request
    changes.shared.append(([r[0] for r in req.recipients], rows))


def _describe(result: SendResult) -> str:
    if result.status == 0:
        return result.message or "no answer from LINE"
    text = f"LINE {result.status}: {result.message or 'error'}"
    if result.details:
        text += " — " + "; ".join(
            f"{d.get('property', '')}: {d.get('message', '')}" if isinstance(d, dict) else str(d)
            for d in result.details[:5]
        )
    return text[:2000]


def _final(status: str, now: datetime, *, api: str, attempts: int) -> dict[str, Any]:
    return {
        "status": status,
        "api": api,
        "attempts": attempts,
        "sent_at": now,
        "claim": None,
        "deferred_reason": None,
        "error": None,
    }


def _held(message: str, *, reason: str = "channel") -> dict[str, Any]:
    return {
        "status": DeliveryStatus.HELD,
        "deferred_reason": reason,
        "error": message,
        "claim": None,
    }


def _defer(until: datetime, reason: str) -> dict[str, Any]:
    return {
        "status": DeliveryStatus.PENDING,
        "due_at": until,
        "deferred_reason": reason,
        "claim": None,
    }


def backoff_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour, with up to 50% jitter."""
    seconds = min(3600.0, 30.0 * 2 ** max(0, attempts - INLINE_ATTEMPTS))
    return timedelta(seconds=seconds * (1 + random.random() / 2))  # noqa: S311 - jitter


def _backoff(r: _Row, now: datetime, error: str) -> dict[str, Any]:
    return _backoff_values(r.attempts, now, error)[1]


def _backoff_values(
    attempts: int, now: datetime, error: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Try again later, or give up after MAX_ATTEMPTS: (a request's values, its rows')."""
    if attempts >= MAX_ATTEMPTS:
        rows = {
            "status": DeliveryStatus.FAILED,
            "attempts": attempts,
            "claim": None,
            "error": f"gave up after {attempts} attempts: {error}",
        }
        return {k: rows[k] for k in ("status", "attempts", "claim", "error")}, rows
    rows = {
        "status": DeliveryStatus.PENDING,
        "attempts": attempts,
        "due_at": now + backoff_delay(attempts),
        "deferred_reason": "retry",
        "claim": None,
        "error": error,
    }
    return dict(rows), rows


def _write(changes: dict[int, dict[str, Any]]) -> None:
    """Write the rows' new values set-based (one statement per set of columns and batch),
    a request's rows with one statement, and the requests; then commit."""
    bulk.update_rows(_TABLE, changes)
    if isinstance(changes, _Changes):
        for ids, values in changes.shared:
            bulk.update_same(_TABLE, values, ids)
        bulk.update_rows(_REQUESTS, changes.requests)
    db.session.commit()


# Reading --------------------------------------------------------------------------------------


def status_counts(shop: Shop, *, since: datetime) -> dict[str, int]:
    rows = db.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.shop_id == shop.id, Delivery.created_at >= since)
        .group_by(Delivery.status)
    ).all()
    return {status: count for status, count in rows}
