"""Campaign background work: sending due step messages and broadcasts, and the periodic
trigger finders.

Tasks own their transaction (server.jobs) and are safe to run twice: claims, trigger keys and
the enrollment's unique key make a second run change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from server.db import db, utcnow
from server.jobs import periodic, task
from server.shops.models import Shop

from . import broadcast_sending, scheduling, triggers
from .models import Trigger

log = logging.getLogger(__name__)


@periodic(minute="*")
def send_due_scenario_messages() -> None:
    """Due steps of every shop (and claims left behind by a worker that died), handed to the
    delivery pipeline; FOR UPDATE SKIP LOCKED lets several workers share them."""
    handled = scheduling.send_due(now=utcnow())
    if handled:
        log.info("scenario sender handled %d step messages", handled)


@task()
def send_scheduled(scheduled_ids: list[int]) -> None:
    """Steps that were due the moment they were scheduled (a delay of zero)."""
    scheduling.send_ids(scheduled_ids, now=utcnow())


@periodic(hour="0", minute="30")
def find_dormant_customers() -> None:
    """Daily (09:30 in Japan): customers who stopped ordering enter the win-back scenarios."""
    _enter_by_finder(Trigger.DORMANT, triggers.find_dormant, "dormant customers")


@periodic(minute="15")
def find_expiring_coupons() -> None:
    """Hourly: holders of coupons about to expire enter the reminder scenarios."""
    _enter_by_finder(Trigger.COUPON_EXPIRING, triggers.find_expiring_coupons, "coupon holders")


@periodic(hour="0", minute="40")
def find_customers_due_to_reorder() -> None:
    """Daily (09:40 in Japan, after the recommendations' morning refresh of the customers due):
    customers whose product runs out today enter the reorder scenarios."""
    _enter_by_finder(
        Trigger.DUE_TO_REORDER, triggers.find_due_to_reorder, "customers due to reorder"
    )


def _enter_by_finder(trigger: Trigger, find: Callable[..., int], who: str) -> None:
    """Each installed shop's active scenarios with this trigger, one commit per scenario."""
    now = utcnow()
    for scenario in triggers.scenarios_with_trigger(trigger):
        shop = db.session.get(Shop, scenario.shop_id)
        if shop is None or not shop.installed:
            continue
        entered = find(shop, scenario, now=now)
        db.session.commit()
        if entered:
            log.info("scenario %s: %d %s entered", scenario.id, entered, who)


@task()
def send_broadcast(broadcast_id: int) -> None:
    """A broadcast scheduled for now: claimed, its recipients fixed, handed to the pipeline."""
    broadcast_sending.send(broadcast_id, now=utcnow())


@periodic(minute="*")
def send_due_broadcasts() -> None:
    """Broadcasts whose time has come, and any whose sender died mid-way (resumed where it
    stopped: recipients with a delivery are never sent to again)."""
    finished = broadcast_sending.send_due(now=utcnow())
    if finished:
        log.info("broadcast sender finished %d broadcasts", finished)
