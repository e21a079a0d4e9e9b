from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.commerce.models import Customer
from server.crypto import EncryptedString
from server.db import Model, ShopScoped, TimestampMixin, utcnow


class LineUser(ShopScoped, TimestampMixin, Model):
    """A LINE friend of the shop's Official Account, and its link to a store customer.

    LINE user ids are per provider, so the same person has one row per shop. A customer is
    linked to at most one LINE user per shop (unique `customer_id`).
    """

    __tablename__ = "line_users"
    __table_args__ = (
        UniqueConstraint("shop_id", "line_user_id"),
        UniqueConstraint("shop_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_user_id: Mapped[str] = mapped_column(String(64))  # "U" + 32 hex
    display_name: Mapped[str | None] = mapped_column(String(255))
    picture_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    followed_at: Mapped[datetime | None]
    # Unfollowed (blocked) the account; cleared when they follow again.
    blocked_at: Mapped[datetime | None]
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    linked_at: Mapped[datetime | None]
    # The LINE rich menu currently linked to this user (None: the channel default shows).
    rich_menu_id: Mapped[str | None] = mapped_column(String(64))

    customer: Mapped[Customer | None] = relationship(lazy="joined")

    @property
    def following(self) -> bool:
        return self.followed_at is not None and self.blocked_at is None

    @property
    def linked(self) -> bool:
        return self.customer_id is not None


class LineChannel(ShopScoped, TimestampMixin, Model):
    """A shop's LINE channels: the Messaging API channel of its Official Account, the LINE Login
    channel (same provider) and the LIFF app on it. Secrets and tokens are encrypted at rest and
    never returned in full by any API.
    """

    __tablename__ = "line_channels"
    __table_args__ = (UniqueConstraint("shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The unguessable path segment of this shop's webhook URL: /line/webhook/<channel_key>.
    channel_key: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_secret: Mapped[str | None] = mapped_column(EncryptedString())
    channel_access_token: Mapped[str | None] = mapped_column(EncryptedString())
    channel_access_token_expires_at: Mapped[datetime | None]
    bot_user_id: Mapped[str | None] = mapped_column(String(64))
    bot_basic_id: Mapped[str | None] = mapped_column(String(64))  # "@abc1234"
    bot_display_name: Mapped[str | None] = mapped_column(String(255))
    login_channel_id: Mapped[str | None] = mapped_column(String(32), index=True)
    login_channel_secret: Mapped[str | None] = mapped_column(EncryptedString())
    liff_id: Mapped[str | None] = mapped_column(String(64), index=True)
    webhook_verified_at: Mapped[datetime | None]
    # During a secret rotation the webhook also accepts the previous secret until this time.
    previous_channel_secret: Mapped[str | None] = mapped_column(EncryptedString())
    previous_secret_expires_at: Mapped[datetime | None]
    # Issued from channel id + secret (short-lived, 30 days) rather than pasted (long-lived).
    access_token_issued: Mapped[bool] = mapped_column(default=False)

    # Delivery rules for promotional messages (transactional ones are exempt).
    quiet_hours_start: Mapped[str] = mapped_column(String(5), default="21:00")  # shop time zone
    quiet_hours_end: Mapped[str] = mapped_column(String(5), default="09:00")
    frequency_cap: Mapped[int] = mapped_column(default=2)  # per friend per window; 0 = no cap
    frequency_cap_days: Mapped[int] = mapped_column(default=7)
    # Link incentive in points, granted once per customer ever (see linking.services).
    link_incentive_points: Mapped[int] = mapped_column(default=0)

    # The monthly message quota as last read from LINE (None = no limit), and the usage since.
    quota_limit: Mapped[int | None]
    quota_used: Mapped[int | None]
    quota_checked_at: Mapped[datetime | None]

    @property
    def messaging_configured(self) -> bool:
        return bool(self.channel_id and self.channel_secret and self.channel_access_token)

    @property
    def login_configured(self) -> bool:
        return bool(self.login_channel_id and self.login_channel_secret)


class DeliveryKind(StrEnum):
    TRANSACTIONAL = "transactional"  # replies, link confirmations: exempt from caps and quiet hours
    PROMOTIONAL = "promotional"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting until due_at (scheduled, deferred, or backing off)
    SENDING = "sending"  # claimed by a sender; the claim expires if that worker dies
    SENT = "sent"  # accepted by LINE (200, or 409 for a retry key already accepted)
    FAILED = "failed"  # rejected by LINE (4xx) or out of attempts; `error` says why
    HELD = "held"  # would exceed the monthly quota; waits for room or the merchant
    CANCELLED = "cancelled"  # the friend blocked the account, or the merchant cancelled
    OUTBOX = "outbox"  # LINE_DELIVERY=outbox: recorded instead of sent


class DeliveryContent(ShopScoped, Model):
    """The message objects of one send; shared by every Delivery of a deliver_many call."""

    __tablename__ = "line_delivery_contents"

    id: Mapped[int] = mapped_column(primary_key=True)
    messages: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(ShopScoped, Model):
    """One recipient's share of an outgoing LINE send (1-5 message objects).

    `retry_key` is the X-Line-Retry-Key: persisted before the first attempt and reused by every
    retry, so LINE never delivers twice; the rows of one multicast request share it. `api` is
    fixed at the first attempt (a retry must repeat the identical request).

    A recipient of a `DeliveryRequest` (`request_id` set: deliver_many's multicasts) is written
    when created and when settled; the request holds the claim, attempts and key meanwhile.
    Its status says `sending` from creation when due at once, `pending` while deferred.
    """

    __tablename__ = "line_deliveries"
    __table_args__ = (
        # The row sweep's index; a request's recipients are found through their request, so
        # they stay out of it (one index entry fewer for each of their two writes).
        Index(
            "ix_line_deliveries_status_due_at",
            "status",
            "due_at",
            postgresql_where=text("request_id IS NULL"),
            sqlite_where=text("request_id IS NULL"),
        ),
        Index("ix_line_deliveries_cap", "shop_id", "line_user_id", "kind", "sent_at"),
        # A content's rows (its sending task, ON DELETE CASCADE) and, within it, the rows of
        # one multicast key (a retry of the row path's multicast takes them all).
        Index("ix_line_deliveries_content_id_retry_key", "content_id", "retry_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not indexed on its own: ix_line_deliveries_cap starts with it, and every index costs
    # each of a delivery's three writes.
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    line_user_id: Mapped[int] = mapped_column(
        ForeignKey("line_users.id", ondelete="CASCADE"), index=True
    )
    to: Mapped[str] = mapped_column(String(64))  # the LINE user id
    content_id: Mapped[int] = mapped_column(
        ForeignKey("line_delivery_contents.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    due_at: Mapped[datetime]
    reply_token: Mapped[str | None] = mapped_column(String(255))
    reply_token_expires_at: Mapped[datetime | None]
    retry_key: Mapped[str] = mapped_column(String(36))
    api: Mapped[str | None] = mapped_column(String(16))  # reply | push | multicast | outbox
    attempts: Mapped[int] = mapped_column(default=0)
    claim: Mapped[str | None] = mapped_column(String(32))  # whose; the sender keeps its rows
    claimed_at: Mapped[datetime | None]
    deferred_reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    accepted_request_id: Mapped[str | None] = mapped_column(String(64))
    sent_message_ids: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # The multicast request this row is a recipient of. No foreign key: PostgreSQL would
    # check it for each of a broadcast's 100,000 rows, and requests go only with their shop.
    request_id: Mapped[int | None]

    content: Mapped[DeliveryContent] = relationship(lazy="joined")

    @property
    def messages(self) -> list[Any]:
        return self.content.messages


class DeliveryRequest(ShopScoped, Model):
    """One multicast request (up to 500 recipients of one content), made by deliver_many.

    It carries what its recipients' rows would otherwise each be written for: the claim (a
    sender's, with a lease), the retry key, the attempts and LINE's answer. `recipients`
    ([delivery id, line user id, LINE user id], in request order) is the `to` of every try:
    once claimed (`claimed_at` set) it never changes, so a retry is the identical request.
    `status` takes the DeliveryStatus values; rows are settled with it, in one statement.
    """

    __tablename__ = "line_delivery_requests"
    __table_args__ = (Index("ix_line_delivery_requests_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    content_id: Mapped[int] = mapped_column(
        ForeignKey("line_delivery_contents.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    due_at: Mapped[datetime]
    retry_key: Mapped[str] = mapped_column(String(36))
    recipients: Mapped[list[Any]]
    attempts: Mapped[int] = mapped_column(default=0)
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]  # first set when it first goes out; never cleared
    deferred_reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    line_request_id: Mapped[str | None] = mapped_column(String(64))
    accepted_request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class RichMenuState(StrEnum):
    UNLINKED = "unlinked"
    LINKED = "linked"
    SUBSCRIBER = "subscriber"


class RichMenu(ShopScoped, TimestampMixin, Model):
    """The shop's rich menu for one friend state. `image` None = the bundled default image.

    LINE cannot replace a rich menu's image, so a new image means a new LINE rich menu:
    `line_rich_menu_id` changes and the friends in that state are re-linked.
    """

    __tablename__ = "line_rich_menus"
    __table_args__ = (UniqueConstraint("shop_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    image_content_type: Mapped[str | None] = mapped_column(String(32))
    line_rich_menu_id: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
