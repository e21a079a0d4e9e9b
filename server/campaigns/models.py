from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, ShopScoped, TimestampMixin, utcnow


class ScenarioStatus(StrEnum):
    DRAFT = "draft"  # being written: nobody enters
    ACTIVE = "active"  # triggers enroll, due steps are sent
    PAUSED = "paused"  # nobody enters; scheduled steps wait until it is active again


class Trigger(StrEnum):
    # params: order (any/first/nth), n, kind, and products, tags, types or collections
    ORDER_PAID = "order_paid"
    SUBSCRIPTION_STARTED = "subscription_started"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"  # params: ask_reason
    FOLLOW = "follow"  # params: include_unblocked
    LINK_COMPLETED = "link_completed"
    SURVEY_ANSWERED = "survey_answered"  # params: cells (9-segment cells; empty = any)
    TIER_CHANGED = "tier_changed"  # params: direction (up/down/any), tier_ids
    DORMANT = "dormant"  # params: days, or multiple × the customer's own interval
    COUPON_EXPIRING = "coupon_expiring"  # params: hours_before, offer_ids
    DUE_TO_REORDER = "due_to_reorder"  # params: days_ahead, product_ids (predicted run-out)
    MANUAL = "manual"  # nobody enters by themselves: the merchant enrolls the entry segment


class EnrollmentState(StrEnum):
    ACTIVE = "active"  # steps still to come
    COMPLETED = "completed"  # every step was handed to the pipeline
    EXITED = "exited"  # left early; `exit_reason` says why
    HELD_OUT = "held_out"  # in the holdout group: counted in the report, sent nothing


class ExitReason(StrEnum):
    CONVERTED = "converted"  # did what the scenario asks (ordered, subscribed, linked)
    UNSUBSCRIBED = "unsubscribed"  # the subscription ended (retention series)
    UNFOLLOWED = "unfollowed"  # blocked the account
    UNLINKED = "unlinked"  # removed the LINE ↔ store account link
    REDACTED = "redacted"  # customers/redact: the person's data was erased
    REMOVED = "removed"  # taken out by the merchant


class ScheduledStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits for due_at
    SENDING = "sending"  # claimed by a worker; the claim expires if that worker dies
    SENT = "sent"  # handed to the delivery pipeline (`delivery_id`)
    SKIPPED = "skipped"  # nobody to send to (no LINE friend, blocked); `error` says why
    CANCELLED = "cancelled"  # the enrollment ended, or the merchant cancelled it
    FAILED = "failed"  # the message could not be built (e.g. the coupon offer ran out)


class Scenario(ShopScoped, TimestampMixin, Model):
    """A step scenario: who enters (trigger + entry conditions), what they get (steps), when
    they leave early (exit rules), and the share held out to measure lift."""

    __tablename__ = "scenarios"
    __table_args__ = (
        CheckConstraint(
            "holdout_percent >= 0 AND holdout_percent <= 90", name="holdout_percent_range"
        ),
        Index("ix_scenarios_shop_id_status_trigger", "shop_id", "status", "trigger"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    # The gallery template it was made from, if any (templates.py).
    template_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ScenarioStatus.DRAFT)
    trigger: Mapped[str] = mapped_column(String(32))
    trigger_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Entry conditions: a saved segment and/or an inline segment definition; both must match.
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"), index=True)
    entry_definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"rule": "ordered" | "subscribed" | "linked" | "unsubscribed" | "unfollowed" |
    #   "unlinked", ...filters}]; redaction and manual removal always end an enrollment.
    exit_rules: Mapped[list[Any]] = mapped_column(default=list)
    # True: a person enters this scenario at most once ever, whatever triggers it again.
    once_per_person: Mapped[bool] = mapped_column(default=False)
    holdout_percent: Mapped[int] = mapped_column(default=0)
    # Keyed into the stable holdout assignment, so one scenario's holdout is not another's.
    holdout_salt: Mapped[str] = mapped_column(String(32))
    # The report's window: an order within this many days of entering counts as converted.
    conversion_window_days: Mapped[int] = mapped_column(default=14)
    activated_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]

    steps: Mapped[list[Step]] = relationship(
        back_populates="scenario",
        order_by="(Step.position, Step.id)",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def active(self) -> bool:
        return self.status == ScenarioStatus.ACTIVE


class Step(ShopScoped, TimestampMixin, Model):
    """One timed message of a scenario.

    When it is due: `delay_days`/`delay_hours` after entry or after the previous step was sent
    (`delay_from`); with `at_time` ("10:00") it goes out at that time of the shop's zone on the
    day the delay lands on. `delay_source` computes the delay from data instead: "cancellation"
    (the restart timing the cancellation answers give, e.g. 2 units left of a 30-day product →
    day 60). Without the data the fixed delay applies.
    """

    __tablename__ = "scenario_steps"
    __table_args__ = (
        CheckConstraint("delay_days >= 0 AND delay_hours >= 0", name="delay_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("scenarios.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(String(120), default="")
    delay_days: Mapped[int] = mapped_column(default=0)
    delay_hours: Mapped[int] = mapped_column(default=0)
    delay_from: Mapped[str] = mapped_column(String(16), default="entry")  # entry | previous
    at_time: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", shop time zone
    delay_source: Mapped[str | None] = mapped_column(String(16))  # cancellation
    # {"type": "text" | "image" | "flex", ...}: see messages.py for each shape.
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    coupon_offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_offers.id", ondelete="SET NULL")
    )

    scenario: Mapped[Scenario] = relationship(back_populates="steps")


class Enrollment(ShopScoped, Model):
    """One person in one scenario, for one trigger event.

    The person is a customer, a LINE friend, or both (linked); `subject` is "c:<customer id>"
    when the customer is known, else "l:<LINE friend id>". Unique on (scenario, subject,
    trigger_key), so a redelivered webhook (the same order, the same follow) never enrolls
    twice; `trigger_key` is "once" for scenarios a person enters at most once.
    """

    __tablename__ = "scenario_enrollments"
    __table_args__ = (
        UniqueConstraint("scenario_id", "subject", "trigger_key"),
        # Subject last: "is this person in progress here?" (one person, or a whole audience in
        # `enroll_people`) is answered from the index alone. With (scenario, state) only, SQLite
        # scanned every active enrollment per candidate: re-enrolling 10k people took 30 s.
        Index(
            "ix_scenario_enrollments_scenario_id_state_subject", "scenario_id", "state", "subject"
        ),
        Index("ix_scenario_enrollments_shop_id_customer_id", "shop_id", "customer_id"),
        Index("ix_scenario_enrollments_shop_id_line_user_id", "shop_id", "line_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("scenarios.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    line_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_users.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(40))
    trigger_key: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default=EnrollmentState.ACTIVE)
    holdout: Mapped[bool] = mapped_column(default=False)
    entered_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(24))
    exit_detail: Mapped[str | None] = mapped_column(String(64))  # e.g. the exit rule that fired
    steps_sent: Mapped[int] = mapped_column(default=0)
    # What the trigger knew (order id, products, cancellation reason, units left, ...): the
    # message variables and data-computed delays read it. Ids and answers, no personal data.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)

    scenario: Mapped[Scenario] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.state == EnrollmentState.ACTIVE


class ScheduledMessage(ShopScoped, Model):
    """A step message due for one enrollment. Only the next step of an enrollment is scheduled;
    sending it schedules the one after. Sent rows keep the Delivery they became."""

    __tablename__ = "scheduled_messages"
    __table_args__ = (
        Index("ix_scheduled_messages_status_due_at", "status", "due_at"),
        Index("ix_scheduled_messages_shop_id_due_at", "shop_id", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("scenario_enrollments.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[int | None] = mapped_column(
        ForeignKey("scenario_steps.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int]  # the step's position when scheduled
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=ScheduledStatus.SCHEDULED)
    claim: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime | None]
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_deliveries.id", ondelete="SET NULL")
    )
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    enrollment: Mapped[Enrollment] = relationship(lazy="joined")
    step: Mapped[Step | None] = relationship(lazy="joined")


class TrackedLink(ShopScoped, Model):
    """A link in a LINE message, served as `APP_URL/r/<token>`: one per target URL and send, and
    per recipient when the send is personalised (then a click says who clicked).

    `source_kind`/`source_id` name the send ("broadcast", 12; "scenario_step", 7) that
    attribution and reports group by. `url` is already checked against the shop's domains.
    """

    __tablename__ = "tracked_links"
    __table_args__ = (Index("ix_tracked_links_source", "shop_id", "source_kind", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int]
    line_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkClick(ShopScoped, Model):
    """One click on a tracked link. `line_user_id` is the link's recipient (personalised links);
    `visitor` is a keyed hash of the client's address and browser, for unique clicks on shared
    links (never the address itself). Link-preview fetchers are recorded as `bot` and counted out.
    """

    __tablename__ = "link_clicks"
    __table_args__ = (
        Index("ix_link_clicks_link_id_clicked_at", "link_id", "clicked_at"),
        Index("ix_link_clicks_line_user_id_clicked_at", "line_user_id", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("tracked_links.id", ondelete="CASCADE"))
    line_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_users.id", ondelete="SET NULL")
    )
    visitor: Mapped[str | None] = mapped_column(String(32))
    bot: Mapped[bool] = mapped_column(default=False)
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # being written
    SCHEDULED = "scheduled"  # waits for `scheduled_at` (now, or a time the merchant picked)
    SENDING = "sending"  # claimed by a worker: recipients are being handed to the pipeline
    SENT = "sent"  # every recipient outside the holdout has a delivery
    CANCELLED = "cancelled"  # the merchant cancelled it before it went out
    FAILED = "failed"  # could not be built (e.g. the segment was deleted); `error` says why


class LinkTracking(StrEnum):
    PER_RECIPIENT = "per_recipient"  # one link per friend: unique clicks and click attribution
    SHARED = "shared"  # one link for everyone: clicks counted, identical content (multicast)
    OFF = "off"  # links left as written


class Broadcast(ShopScoped, TimestampMixin, Model):
    """A one-off send: a segment (None = every friend), a message (the step message format of
    messages.py), a schedule, and the share held out to measure lift.

    `scheduled_at` is UTC; the merchant picks it in the shop's time zone. Recipients are fixed
    when sending starts (broadcast_recipients), so a retry never reaches anyone twice.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint(
            "holdout_percent >= 0 AND holdout_percent <= 50", name="holdout_percent_range"
        ),
        Index("ix_broadcasts_status_scheduled_at", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.DRAFT)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"), index=True)
    message: Mapped[dict[str, Any]]
    coupon_offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("coupon_offers.id", ondelete="SET NULL")
    )
    link_tracking: Mapped[str] = mapped_column(String(16), default=LinkTracking.PER_RECIPIENT)
    holdout_percent: Mapped[int] = mapped_column(default=0)
    holdout_salt: Mapped[str] = mapped_column(String(32))
    scheduled_at: Mapped[datetime | None]
    # The worker that is sending it, and when it last made progress (a stale claim is resumed).
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]  # recipients fixed; the attribution window starts here
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    recipients_count: Mapped[int | None]
    holdout_count: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)


class BroadcastRecipient(ShopScoped, Model):
    """One friend a broadcast was meant for: sent to (`delivery_id` once handed over) or held
    out. Unique per broadcast and friend: the guard against sending twice."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "line_user_id"),
        Index("ix_broadcast_recipients_pending", "broadcast_id", "holdout", "delivery_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    line_user_id: Mapped[int] = mapped_column(ForeignKey("line_users.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    holdout: Mapped[bool] = mapped_column(default=False)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("line_deliveries.id", ondelete="SET NULL")
    )
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
