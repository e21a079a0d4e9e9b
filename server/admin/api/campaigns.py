"""/api/admin/campaigns: scenarios (list with results, editor, status), the template gallery,
message previews with the step timeline, the people in a scenario and its scheduled messages.

The parent blueprint authenticated the session token (g.shop). Every id in a path is looked up
within g.shop, so another shop's id is a 404. Bad input is a 400 naming the fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, g, request
from sqlalchemy import case, func, select

from server.campaigns import (
    editing,
    messages,
    reports,
    services,
    templates,
)
from server.campaigns import preview as step_preview
from server.campaigns.cancellation import REASONS
from server.campaigns.models import (
    Enrollment,
    EnrollmentState,
    ExitReason,
    Scenario,
    ScheduledMessage,
    ScheduledStatus,
    Step,
    Trigger,
)
from server.commerce.models import Customer
from server.coupons.models import CouponOffer
from server.db import commit, db, utcnow
from server.errors import BadRequest
from server.i18n import current_locale
from server.line.models import LineUser
from server.membership.models import Tier
from server.segments import services as segments
from server.segments.models import Segment
from server.segments.nine_segments import CELLS, cell_label

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

PAGE_SIZE = 50


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object body")
    return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        raise BadRequest("page: a whole number from 1") from None


# Shapes -----------------------------------------------------------------------------------------


def _stats(scenario_ids: list[int]) -> dict[int, dict[str, int]]:
    empty = {"entered": 0, "active": 0, "completed": 0, "exited": 0, "converted": 0, "holdout": 0}
    out = {i: dict(empty) for i in scenario_ids}
    if not scenario_ids:
        return out
    rows = db.session.execute(
        select(
            Enrollment.scenario_id,
            func.count(),
            func.count(case((Enrollment.state == EnrollmentState.ACTIVE, 1))),
            func.count(case((Enrollment.state == EnrollmentState.COMPLETED, 1))),
            func.count(case((Enrollment.state == EnrollmentState.EXITED, 1))),
            func.count(case((Enrollment.exit_reason == ExitReason.CONVERTED, 1))),
            func.count(case((Enrollment.holdout.is_(True), 1))),
        )
        .where(Enrollment.shop_id == g.shop.id, Enrollment.scenario_id.in_(scenario_ids))
        .group_by(Enrollment.scenario_id)
    )
    for scenario_id, entered, active, completed, exited, converted, holdout in rows:
        out[scenario_id] = {
            "entered": entered,
            "active": active,
            "completed": completed,
            "exited": exited,
            "converted": converted,
            "holdout": holdout,
        }
    sent = db.session.execute(
        select(Enrollment.scenario_id, func.count())
        .join(ScheduledMessage, ScheduledMessage.enrollment_id == Enrollment.id)
        .where(
            Enrollment.shop_id == g.shop.id,
            Enrollment.scenario_id.in_(scenario_ids),
            ScheduledMessage.status == ScheduledStatus.SENT,
        )
        .group_by(Enrollment.scenario_id)
    )
    for scenario_id, count in sent:
        out[scenario_id]["sent"] = count
    for stats in out.values():
        stats.setdefault("sent", 0)
    return out


def _step_out(step: Step) -> dict[str, Any]:
    return {
        "id": step.id,
        "position": step.position,
        "name": step.name,
        "delay_days": step.delay_days,
        "delay_hours": step.delay_hours,
        "delay_from": step.delay_from,
        "at_time": step.at_time,
        "delay_source": step.delay_source,
        "message": step.message,
        "coupon_offer_id": step.coupon_offer_id,
    }


def _scenario_out(scenario: Scenario, stats: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": scenario.id,
        "name": scenario.name,
        "description": scenario.description,
        "template_key": scenario.template_key,
        "status": scenario.status,
        "trigger": scenario.trigger,
        "trigger_params": scenario.trigger_params,
        "segment_id": scenario.segment_id,
        "entry_definition": scenario.entry_definition,
        "exit_rules": scenario.exit_rules,
        "once_per_person": scenario.once_per_person,
        "holdout_percent": scenario.holdout_percent,
        "conversion_window_days": scenario.conversion_window_days,
        "activated_at": _iso(scenario.activated_at),
        "paused_at": _iso(scenario.paused_at),
        "updated_at": _iso(scenario.updated_at),
        "steps": [_step_out(s) for s in scenario.steps],
        "stats": stats if stats is not None else _stats([scenario.id])[scenario.id],
    }


# Scenarios ------------------------------------------------------------------------------------


@bp.get("/scenarios")
def index() -> dict[str, Any]:
    scenarios = editing.list_scenarios(g.shop)
    stats = _stats([s.id for s in scenarios])
    return {"scenarios": [_scenario_out(s, stats[s.id]) for s in scenarios]}


@bp.post("/scenarios")
def create() -> tuple[dict[str, Any], int]:
    scenario = editing.create_scenario(g.shop, _json(), now=utcnow())
    commit()
    return _scenario_out(scenario), 201


@bp.get("/scenarios/<int:scenario_id>")
def show(scenario_id: int) -> dict[str, Any]:
    return _scenario_out(editing.get_scenario(g.shop, scenario_id))


@bp.put("/scenarios/<int:scenario_id>")
def update(scenario_id: int) -> dict[str, Any]:
    scenario = editing.get_scenario(g.shop, scenario_id)
    editing.update_scenario(g.shop, scenario, _json(), now=utcnow())
    commit()
    return _scenario_out(scenario)


@bp.delete("/scenarios/<int:scenario_id>")
def destroy(scenario_id: int) -> tuple[str, int]:
    editing.delete_scenario(g.shop, editing.get_scenario(g.shop, scenario_id))
    commit()
    return "", 204


@bp.post("/scenarios/<int:scenario_id>/status")
def status(scenario_id: int) -> dict[str, Any]:
    scenario = editing.get_scenario(g.shop, scenario_id)
    editing.set_status(g.shop, scenario, str(_json().get("status", "")), now=utcnow())
    commit()
    return _scenario_out(scenario)


@bp.post("/scenarios/<int:scenario_id>/enroll")
def enroll_audience(scenario_id: int) -> tuple[dict[str, Any], int]:
    """Enroll everyone the entry conditions select now (an active scenario only)."""
    scenario = editing.get_scenario(g.shop, scenario_id)
    if not scenario.active:
        raise BadRequest("switch the scenario on before enrolling people", status=scenario.status)
    entered = services.enroll_audience(g.shop, scenario, now=utcnow())
    commit()
    return {"entered": entered, "stats": _stats([scenario.id])[scenario.id]}, 202


@bp.get("/scenarios/<int:scenario_id>/audience")
def audience(scenario_id: int) -> dict[str, Any]:
    """How many people the entry conditions select now, and how many of them LINE reaches."""
    scenario = editing.get_scenario(g.shop, scenario_id)
    now = utcnow()
    definitions = services.entry_definitions(g.shop, scenario)
    base = definitions[0] if definitions else segments.EVERYONE
    return {
        "count": segments.count(g.shop, base, now=now),
        "reachable": segments.count_reachable(g.shop, base, now=now),
    }


@bp.get("/scenarios/<int:scenario_id>/report")
def report(scenario_id: int) -> dict[str, Any]:
    """The holdout/lift report: treatment against holdout on conversion, revenue per entrant
    and, for subscription scenarios, continuation, with 95 % intervals."""
    scenario = editing.get_scenario(g.shop, scenario_id)
    return {
        "scenario": {"id": scenario.id, "name": scenario.name, "status": scenario.status},
        **reports.lift_report(g.shop, scenario, now=utcnow()),
    }


# Preview and timeline ----------------------------------------------------------------------------


@bp.post("/preview")
def preview() -> dict[str, Any]:
    """The editor's current steps as LINE will show them, and when each goes out for someone who
    enters now (campaigns.preview)."""
    data = _json()
    reason = data.get("reason") or None
    if reason is not None and reason not in REASONS:
        raise BadRequest(f"reason: one of {list(REASONS)}")
    clean = editing.validate(
        g.shop, {"name": data.get("name") or "preview", **data}
    )  # 400 with the fields, like a save
    return step_preview.timeline(
        g.shop,
        clean["steps"] or [],
        reason=reason,
        leftover_days=_leftover_days(data) if reason == "leftover" else 0,
        locale="en" if data.get("locale") == "en" else "ja",
        now=utcnow(),
    )


def _leftover_days(data: dict[str, Any]) -> int:
    """How long the units left last: the delay a "leftover stock" answer gives (default 2 × 30)."""
    try:
        return int(data.get("units_left") or 2) * int(data.get("usage_days") or 30)
    except (TypeError, ValueError):
        raise BadRequest("units_left and usage_days must be whole numbers") from None


# Gallery ------------------------------------------------------------------------------------------


@bp.get("/templates")
def gallery() -> dict[str, Any]:
    return {"templates": templates.gallery(current_locale())}


@bp.post("/templates/<key>")
def use_template(key: str) -> tuple[dict[str, Any], int]:
    scenario = templates.create_from_template(g.shop, key, now=utcnow())
    commit()
    return _scenario_out(scenario), 201


@bp.get("/options")
def options() -> dict[str, Any]:
    """What the editor offers: triggers, variables, coupon offers, segments, tiers, cells."""
    shop = g.shop
    offers = db.session.scalars(
        CouponOffer.for_shop(shop).where(CouponOffer.active.is_(True)).order_by(CouponOffer.id)
    ).all()
    saved = db.session.scalars(Segment.for_shop(shop).order_by(Segment.name)).all()
    tiers = db.session.scalars(Tier.for_shop(shop).order_by(Tier.threshold)).all()
    locale = current_locale()
    builder = segments.options(shop)
    return {
        "triggers": [t.value for t in Trigger],
        "exit_rules": list(services.EXIT_RULES),
        "variables": list(messages.VARIABLES),
        "layouts": list(messages.LAYOUTS),
        "reasons": list(REASONS),
        "cells": [{"value": c, "label": cell_label(c, locale)} for c in CELLS],
        "offers": [
            {
                "id": o.id,
                "title": o.title,
                "kind": o.kind,
                "value": o.value,
                "valid_hours": o.valid_hours,
            }
            for o in offers
        ],
        "segments": [{"id": s.id, "name": s.name} for s in saved],
        "tiers": [{"id": t.id, "name": t.name} for t in tiers],
        "products": builder["products"],
        "collections": builder["collections"],
        "product_tags": builder["product_tags"],
        "product_types": builder["product_types"],
        "timezone": shop.timezone,
        "currency": shop.currency,
        "shop_name": shop.name or shop.domain,
    }


# People and scheduled messages ------------------------------------------------------------------


def _person(customer: Customer | None, user: LineUser | None) -> str:
    if customer is not None and customer.redacted_at is None:
        return customer.display_name
    if user is not None and user.display_name:
        return user.display_name
    return "—"


@bp.get("/scenarios/<int:scenario_id>/enrollments")
def enrollments(scenario_id: int) -> dict[str, Any]:
    scenario = editing.get_scenario(g.shop, scenario_id)
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in EnrollmentState}:
        raise BadRequest(f"state: one of {[s.value for s in EnrollmentState]}")
    query = select(Enrollment).where(
        Enrollment.shop_id == g.shop.id, Enrollment.scenario_id == scenario.id
    )
    if state:
        query = query.where(Enrollment.state == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = _page()
    rows = db.session.scalars(
        query.order_by(Enrollment.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    customers = {
        c.id: c
        for c in db.session.scalars(
            select(Customer).where(Customer.id.in_([r.customer_id for r in rows if r.customer_id]))
        )
    }
    users = {
        u.id: u
        for u in db.session.scalars(
            select(LineUser).where(
                LineUser.id.in_([r.line_user_id for r in rows if r.line_user_id])
            )
        )
    }
    return {
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "enrollments": [
            {
                "id": e.id,
                "name": _person(customers.get(e.customer_id or 0), users.get(e.line_user_id or 0)),
                "customer_id": e.customer_id,
                "line_user_id": e.line_user_id,
                "state": e.state,
                "holdout": e.holdout,
                "entered_at": _iso(e.entered_at),
                "ended_at": _iso(e.ended_at),
                "exit_reason": e.exit_reason,
                "steps_sent": e.steps_sent,
                "answers": {
                    k: v
                    for k, v in (e.context or {}).items()
                    if k in ("reason", "units_left", "cell")
                },
            }
            for e in rows
        ],
    }


@bp.post("/enrollments/<int:enrollment_id>/remove")
def remove(enrollment_id: int) -> dict[str, Any]:
    enrollment = editing.get_enrollment(g.shop, enrollment_id)
    editing.remove_enrollment(g.shop, enrollment, now=utcnow())
    commit()
    return {"id": enrollment.id, "state": enrollment.state, "exit_reason": enrollment.exit_reason}


@bp.get("/scenarios/<int:scenario_id>/scheduled")
def scheduled(scenario_id: int) -> dict[str, Any]:
    """The scenario's step messages, due ones first (status=scheduled by default)."""
    scenario = editing.get_scenario(g.shop, scenario_id)
    wanted = request.args.get("status", ScheduledStatus.SCHEDULED)
    if wanted not in {s.value for s in ScheduledStatus} | {"all"}:
        raise BadRequest(f"status: 'all' or one of {[s.value for s in ScheduledStatus]}")
    query = (
        select(ScheduledMessage)
        .join(Enrollment, Enrollment.id == ScheduledMessage.enrollment_id)
        .where(ScheduledMessage.shop_id == g.shop.id, Enrollment.scenario_id == scenario.id)
    )
    if wanted != "all":
        query = query.where(ScheduledMessage.status == wanted)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = _page()
    rows = db.session.scalars(
        query.order_by(ScheduledMessage.due_at, ScheduledMessage.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return {
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "scheduled": [
            {
                "id": r.id,
                "enrollment_id": r.enrollment_id,
                "step": r.step.name if r.step else None,
                "position": r.position,
                "due_at": _iso(r.due_at),
                "status": r.status,
                "sent_at": _iso(r.sent_at),
                "delivery_id": r.delivery_id,
                "error": r.error,
            }
            for r in rows
        ],
    }


@bp.post("/scheduled/<int:scheduled_id>/cancel")
def cancel(scheduled_id: int) -> dict[str, Any]:
    row = editing.get_scheduled(g.shop, scheduled_id)
    editing.cancel_scheduled(g.shop, row, now=utcnow())
    commit()
    return {"id": row.id, "status": row.status}
