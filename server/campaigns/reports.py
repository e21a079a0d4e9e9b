"""A scenario's holdout/lift report: treatment against holdout, with 95 % intervals.

Everyone who entered counts in their group (intention to treat: people who left early, converted
or not, stay in), so the difference is what sending the steps changed:
- conversion: the share who placed an order within `conversion_window_days` of entering;
- revenue per entrant over the same window (total minus refunds, minor units);
- for subscription scenarios, continuation: the share who hold an active subscription now
  (still subscribed for a retention series, subscribed again after a cancellation).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select

from server.commerce.subscriptions import active_subscribers
from server.db import db
from server.shops.models import Shop

from . import attribution, lift
from .models import Enrollment, Scenario, Trigger

SUBSCRIPTION_TRIGGERS = (Trigger.SUBSCRIPTION_STARTED, Trigger.SUBSCRIPTION_CANCELLED)


def is_subscription_scenario(scenario: Scenario) -> bool:
    """Entered on a subscription event, by a subscription order, or ends on one."""
    return (
        scenario.trigger in SUBSCRIPTION_TRIGGERS
        or (scenario.trigger_params or {}).get("kind") == "subscription"
        or any(
            rule.get("rule") in ("subscribed", "unsubscribed") for rule in scenario.exit_rules or []
        )
    )


def _group() -> Any:
    # Literal SQL, not bound parameters: PostgreSQL only matches a GROUP BY expression to the
    # selected one when they are the same text, and each bound copy gets its own parameter.
    return case(
        (Enrollment.holdout.is_(True), literal_column("'holdout'")),
        else_=literal_column("'treatment'"),
    )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def lift_report(shop: Shop, scenario: Scenario, *, now: datetime) -> dict[str, Any]:
    """The report's figures; `conversion_difference` and the others are None until both groups
    have people (and, for revenue, at least two each)."""
    window = timedelta(days=scenario.conversion_window_days)
    mine = (Enrollment.shop_id == shop.id, Enrollment.scenario_id == scenario.id)
    subjects = select(
        _group().label("grp"),
        Enrollment.id.label("subject_key"),
        Enrollment.customer_id.label("customer_id"),
        Enrollment.entered_at.label("start_at"),
    ).where(*mine)
    outcomes = attribution.group_outcomes(shop, subjects, window=window)
    empty = attribution.GroupOutcome(0, 0, 0.0, 0.0)
    treated, held = outcomes.get("treatment", empty), outcomes.get("holdout", empty)
    open_windows: dict[str, int] = dict(
        db.session.execute(
            select(_group(), func.count())
            .where(*mine, Enrollment.entered_at > now - window)
            .group_by(_group())
        ).all()
    )

    conversion = lift.proportion_difference(
        treated.converted, treated.subjects, held.converted, held.subjects
    )
    revenue = lift.mean_difference(
        lift.Sample.from_sums(treated.subjects, treated.revenue, treated.revenue_squares),
        lift.Sample.from_sums(held.subjects, held.revenue, held.revenue_squares),
    )
    subscription = is_subscription_scenario(scenario)
    continuing: dict[str, int] = {}
    continuation = None
    if subscription:
        continuing = dict(
            db.session.execute(
                select(_group(), func.count())
                .where(*mine, Enrollment.customer_id.in_(active_subscribers(shop, now=now)))
                .group_by(_group())
            ).all()
        )
        continuation = lift.proportion_difference(
            continuing.get("treatment", 0),
            treated.subjects,
            continuing.get("holdout", 0),
            held.subjects,
        )

    def group(key: str, outcome: attribution.GroupOutcome) -> dict[str, Any]:
        n = outcome.subjects
        return {
            "entrants": n,
            "converted": outcome.converted,
            "conversion_rate": _rate(outcome.converted, n),
            "revenue": outcome.revenue,
            "revenue_per_entrant": outcome.revenue / n if n else None,
            "window_open": int(open_windows.get(key, 0)),
            "continuing": continuing.get(key, 0) if subscription else None,
            "continuation_rate": _rate(continuing.get(key, 0), n) if subscription else None,
        }

    return {
        "holdout_percent": scenario.holdout_percent,
        "window_days": scenario.conversion_window_days,
        "subscription": subscription,
        "currency": shop.currency,
        "treatment": group("treatment", treated),
        "holdout": group("holdout", held),
        "conversion_difference": conversion.as_dict() if conversion else None,
        "conversion_relative": lift.relative(conversion.estimate, held.converted / held.subjects)
        if conversion
        else None,
        "revenue_per_entrant_difference": revenue.as_dict() if revenue else None,
        "incremental_revenue": revenue.estimate * treated.subjects if revenue else None,
        "continuation_difference": continuation.as_dict() if continuation else None,
    }
