"""Writing scenarios: validation of what the editor sends, create/update/status/delete, manual
removal of a person and cancellation of one scheduled step. Services flush; the view commits.

Bad input raises InvalidScenario (400) with `details.fields`: {"steps[1].message.text": "..."},
and changes nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from server.commerce.models import Collection, Product
from server.coupons.models import CouponOffer
from server.db import db
from server.errors import BadRequest, Conflict, DomainError, NotFound
from server.membership.models import Tier
from server.segments import filters
from server.segments.models import Segment
from server.segments.nine_segments import CELLS
from server.shops.models import Shop

from . import messages, scheduling, services
from .models import (
    Enrollment,
    EnrollmentState,
    ExitReason,
    Scenario,
    ScenarioStatus,
    ScheduledMessage,
    ScheduledStatus,
    Step,
    Trigger,
)

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_STEPS = 20
MAX_LIST = 200


class InvalidScenario(BadRequest):
    code = "invalid_scenario"


class ScenarioInUse(Conflict):
    code = "scenario_in_use"


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, message)

    def raise_if_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields.items()))
            raise InvalidScenario(
                f"{first[0]}: {first[1]}"
                + (f" (and {len(self.fields) - 1} more)" if len(self.fields) > 1 else ""),
                fields=self.fields,
            )


def _int(
    value: Any, path: str, errors: _Errors, lo: int, hi: int, default: int | None = None
) -> int:
    if value is None or value == "":
        if default is not None:
            return default
        errors.add(path, f"a whole number from {lo} to {hi}")
        return lo
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors.add(path, f"a whole number from {lo} to {hi}")
        return lo
    if not lo <= number <= hi:
        errors.add(path, f"a whole number from {lo} to {hi}")
    return number


def _ids(shop: Shop, model: Any, value: Any, path: str, errors: _Errors) -> list[int]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST:
        errors.add(path, f"a list of at most {MAX_LIST} ids")
        return []
    ids: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str) or not str(item).isdigit():
            errors.add(path, "ids are whole numbers")
            return []
        ids.append(int(item))
    if ids:
        known = set(
            db.session.scalars(select(model.id).where(model.shop_id == shop.id, model.id.in_(ids)))
        )
        missing = [i for i in ids if i not in known]
        if missing:
            errors.add(path, f"not found in this shop: {missing[:5]}")
    return sorted(set(ids))


def _strings(value: Any, path: str, errors: _Errors, choices: Sequence[str] = ()) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_LIST:
        errors.add(path, f"a list of at most {MAX_LIST} texts")
        return []
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 255:
            errors.add(path, "each value is a non-empty text of at most 255 characters")
            return []
        if choices and item not in choices:
            errors.add(path, f"each value is one of {list(choices)}")
            return []
        out.append(item.strip())
    return out


def _bool(value: Any, path: str, errors: _Errors, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.add(path, "true or false")
        return default
    return value


def _choice(value: Any, path: str, errors: _Errors, choices: Sequence[str], default: str) -> str:
    if value in (None, ""):
        return default
    if value not in choices:
        errors.add(path, f"one of {list(choices)}")
        return default
    return str(value)


def _order_filters(
    shop: Shop, data: Mapping[str, Any], path: str, errors: _Errors
) -> dict[str, Any]:
    clean: dict[str, Any] = {
        "kind": _choice(
            data.get("kind"), f"{path}.kind", errors, ("any", "one_off", "subscription"), "any"
        )
    }
    product_ids = _ids(shop, Product, data.get("product_ids"), f"{path}.product_ids", errors)
    tags = _strings(data.get("product_tags"), f"{path}.product_tags", errors)
    types = _strings(data.get("product_types"), f"{path}.product_types", errors)
    collection_ids = _ids(
        shop, Collection, data.get("collection_ids"), f"{path}.collection_ids", errors
    )
    if product_ids:
        clean["product_ids"] = product_ids
    if tags:
        clean["product_tags"] = tags
    if types:
        clean["product_types"] = types
    if collection_ids:
        clean["collection_ids"] = collection_ids
    return clean


def _tier_change(shop: Shop, data: Mapping[str, Any], path: str, errors: _Errors) -> dict[str, Any]:
    """Direction, and the tiers a change goes from and to (none given: any)."""
    direction = _choice(
        data.get("direction"), f"{path}.direction", errors, ("any", "up", "down"), "up"
    )
    to_ids = _ids(shop, Tier, data.get("tier_ids"), f"{path}.tier_ids", errors)
    from_ids = _ids(shop, Tier, data.get("from_tier_ids"), f"{path}.from_tier_ids", errors)
    known = not {f"{path}.tier_ids", f"{path}.from_tier_ids"} & set(errors.fields)
    if to_ids and from_ids and known:
        # Some change between the two lists must fit the direction, or nobody would ever enter.
        rank = dict(
            db.session.execute(
                select(Tier.id, Tier.threshold).where(
                    Tier.shop_id == shop.id, Tier.id.in_([*to_ids, *from_ids])
                )
            ).all()
        )
        fits = {
            "any": lambda a, b: a != b,
            "up": lambda a, b: rank[b] > rank[a],
            "down": lambda a, b: rank[b] < rank[a],
        }[direction]
        if not any(fits(a, b) for a in from_ids for b in to_ids):
            errors.add(f"{path}.tier_ids", f"no change from those tiers to these goes {direction}")
    clean: dict[str, Any] = {"direction": direction, "tier_ids": to_ids}
    if from_ids:
        clean["from_tier_ids"] = from_ids
    return clean


def trigger_params(shop: Shop, trigger: str, data: Any, errors: _Errors) -> dict[str, Any]:
    path = "trigger_params"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.add(path, "an object")
        return {}
    if trigger == Trigger.ORDER_PAID:
        clean = _order_filters(shop, data, path, errors)
        clean["order"] = _choice(
            data.get("order"), f"{path}.order", errors, ("any", "first", "nth"), "any"
        )
        if clean["order"] == "nth":
            clean["n"] = _int(data.get("n"), f"{path}.n", errors, 1, 100)
        return clean
    if trigger == Trigger.SUBSCRIPTION_CANCELLED:
        return {"ask_reason": _bool(data.get("ask_reason"), f"{path}.ask_reason", errors, True)}
    if trigger == Trigger.FOLLOW:
        return {
            "include_unblocked": _bool(
                data.get("include_unblocked"), f"{path}.include_unblocked", errors
            )
        }
    if trigger == Trigger.SURVEY_ANSWERED:
        return {"cells": _strings(data.get("cells"), f"{path}.cells", errors, CELLS)}
    if trigger == Trigger.TIER_CHANGED:
        return _tier_change(shop, data, path, errors)
    if trigger == Trigger.DORMANT:
        clean = {}
        if data.get("days") not in (None, ""):
            clean["days"] = _int(data.get("days"), f"{path}.days", errors, 1, 3650)
        if data.get("multiple") not in (None, ""):
            try:
                multiple = float(data["multiple"])
            except (TypeError, ValueError):
                multiple = 0.0
            if not 1.0 <= multiple <= 10.0:
                errors.add(f"{path}.multiple", "a number from 1 to 10")
            clean["multiple"] = multiple
            clean["min_days"] = _int(
                data.get("min_days"), f"{path}.min_days", errors, 0, 3650, default=30
            )
        if data.get("max_days") not in (None, ""):
            clean["max_days"] = _int(data.get("max_days"), f"{path}.max_days", errors, 1, 36500)
        if "days" not in clean and "multiple" not in clean:
            errors.add(
                f"{path}.days",
                "give a number of days, or a multiple of the customer's own interval",
            )
        return clean
    if trigger == Trigger.DUE_TO_REORDER:
        return {
            "days_ahead": _int(
                data.get("days_ahead"), f"{path}.days_ahead", errors, 0, 30, default=0
            ),
            "product_ids": _ids(
                shop, Product, data.get("product_ids"), f"{path}.product_ids", errors
            ),
        }
    if trigger == Trigger.COUPON_EXPIRING:
        return {
            "hours_before": _int(
                data.get("hours_before"), f"{path}.hours_before", errors, 1, 720, default=24
            ),
            "offer_ids": _ids(
                shop, CouponOffer, data.get("offer_ids"), f"{path}.offer_ids", errors
            ),
        }
    return {}


def exit_rules(shop: Shop, data: Any, errors: _Errors) -> list[dict[str, Any]]:
    if data in (None, ""):
        return []
    if not isinstance(data, list) or len(data) > 10:
        errors.add("exit_rules", "a list of at most 10 rules")
        return []
    clean = []
    for i, rule in enumerate(data):
        path = f"exit_rules[{i}]"
        if isinstance(rule, str):
            rule = {"rule": rule}
        if not isinstance(rule, dict) or rule.get("rule") not in services.EXIT_RULES:
            errors.add(path, f"a rule, one of {list(services.EXIT_RULES)}")
            continue
        item: dict[str, Any] = {"rule": rule["rule"]}
        if rule["rule"] == "ordered":
            item.update(_order_filters(shop, rule, path, errors))
        clean.append(item)
    return clean


def step_fields(shop: Shop, trigger: str, data: Any, index: int, errors: _Errors) -> dict[str, Any]:
    path = f"steps[{index}]"
    if not isinstance(data, dict):
        errors.add(path, "an object")
        return {}
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > 120:
        errors.add(f"{path}.name", "a text of at most 120 characters")
        name = ""
    at_time = data.get("at_time") or None
    if at_time is not None and (not isinstance(at_time, str) or not HHMM.match(at_time)):
        errors.add(f"{path}.at_time", "a time HH:MM (shop time zone)")
        at_time = None
    hours = _int(data.get("delay_hours"), f"{path}.delay_hours", errors, 0, 23, default=0)
    if at_time and hours:
        errors.add(f"{path}.delay_hours", "a step sent at a set time counts whole days only")
    source = data.get("delay_source") or None
    if source not in (None, "cancellation"):
        errors.add(f"{path}.delay_source", "empty, or 'cancellation'")
        source = None
    if source == "cancellation" and trigger != Trigger.SUBSCRIPTION_CANCELLED:
        errors.add(
            f"{path}.delay_source", "reason-based timing needs the subscription-cancelled trigger"
        )
    offer_id = data.get("coupon_offer_id") or None
    if offer_id is not None:
        offers = _ids(shop, CouponOffer, [offer_id], f"{path}.coupon_offer_id", errors)
        offer_id = offers[0] if offers else None
    try:
        message = messages.check_message(data.get("message"), path=f"{path}.message")
    except DomainError as error:
        errors.add(
            str(error.details.get("path") or f"{path}.message"), error.message.split(": ", 1)[-1]
        )
        message = {}
    return {
        "id": data.get("id") if isinstance(data.get("id"), int) else None,
        "name": name.strip(),
        "delay_days": _int(data.get("delay_days"), f"{path}.delay_days", errors, 0, 365, default=0),
        "delay_hours": hours,
        "delay_from": _choice(
            data.get("delay_from"), f"{path}.delay_from", errors, ("entry", "previous"), "entry"
        ),
        "at_time": at_time,
        "delay_source": source,
        "message": message,
        "coupon_offer_id": offer_id,
    }


def validate(shop: Shop, data: Any, *, existing: Scenario | None = None) -> dict[str, Any]:
    """A clean copy of a scenario as the editor sends it, or InvalidScenario."""
    if not isinstance(data, dict):
        raise InvalidScenario("send a JSON object")
    errors = _Errors()
    current = existing
    name = data.get("name", current.name if current else None)
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        errors.add("name", "required, at most 255 characters")
        name = ""
    description = data.get("description", current.description if current else "") or ""
    if not isinstance(description, str) or len(description) > 2000:
        errors.add("description", "a text of at most 2000 characters")
        description = ""
    trigger = data.get("trigger", current.trigger if current else None)
    if trigger not in {t.value for t in Trigger}:
        errors.add("trigger", f"one of {[t.value for t in Trigger]}")
        trigger = Trigger.MANUAL.value
    params = trigger_params(
        shop, trigger, data.get("trigger_params", current.trigger_params if current else {}), errors
    )
    segment_id = data.get("segment_id", current.segment_id if current else None) or None
    if segment_id is not None:
        found = _ids(shop, Segment, [segment_id], "segment_id", errors)
        segment_id = found[0] if found else None
    definition = data.get("entry_definition", current.entry_definition if current else {}) or {}
    if definition:
        try:
            definition = filters.validate(definition)
        except DomainError as error:
            errors.add("entry_definition", error.message)
            definition = {}
    holdout = _int(
        data.get("holdout_percent", current.holdout_percent if current else 0),
        "holdout_percent",
        errors,
        0,
        90,
        default=0,
    )
    window = _int(
        data.get("conversion_window_days", current.conversion_window_days if current else 14),
        "conversion_window_days",
        errors,
        1,
        90,
        default=14,
    )
    once = _bool(
        data.get("once_per_person", current.once_per_person if current else False),
        "once_per_person",
        errors,
    )
    rules = exit_rules(shop, data.get("exit_rules", current.exit_rules if current else []), errors)
    steps_data = data.get("steps")
    steps: list[dict[str, Any]] | None = None
    if steps_data is not None:
        if not isinstance(steps_data, list) or len(steps_data) > MAX_STEPS:
            errors.add("steps", f"a list of at most {MAX_STEPS} steps")
        else:
            steps = [step_fields(shop, trigger, s, i, errors) for i, s in enumerate(steps_data)]
            known = {s.id for s in current.steps} if current else set()
            for i, s in enumerate(steps):
                if s["id"] is not None and s["id"] not in known:
                    errors.add(f"steps[{i}].id", "not a step of this scenario")
    errors.raise_if_any()
    return {
        "name": name.strip(),
        "description": description,
        "trigger": trigger,
        "trigger_params": params,
        "segment_id": segment_id,
        "entry_definition": definition,
        "holdout_percent": holdout,
        "conversion_window_days": window,
        "once_per_person": once,
        "exit_rules": rules,
        "steps": steps,
    }


# Writing --------------------------------------------------------------------------------------


def list_scenarios(shop: Shop) -> Sequence[Scenario]:
    return db.session.scalars(Scenario.for_shop(shop).order_by(Scenario.id.desc())).all()


def get_scenario(shop: Shop, scenario_id: int) -> Scenario:
    scenario = db.session.scalar(Scenario.for_shop(shop).where(Scenario.id == scenario_id))
    if scenario is None:
        raise NotFound(f"scenario {scenario_id} not found")
    return scenario


def create_scenario(
    shop: Shop, data: Any, *, template_key: str | None = None, now: datetime
) -> Scenario:
    clean = validate(shop, data)
    scenario = Scenario(
        shop_id=shop.id, holdout_salt=secrets.token_hex(8), template_key=template_key
    )
    _apply(shop, scenario, clean)
    db.session.add(scenario)
    db.session.flush()
    return scenario


def update_scenario(shop: Shop, scenario: Scenario, data: Any, *, now: datetime) -> Scenario:
    """Change a scenario; steps already scheduled keep their time (the next ones follow the new
    delays). Deleted steps' scheduled messages are cancelled when they come due."""
    clean = validate(shop, data, existing=scenario)
    if scenario.status == ScenarioStatus.ACTIVE and clean["steps"] == []:
        raise InvalidScenario(
            "an active scenario needs at least one step", fields={"steps": "add a step"}
        )
    _apply(shop, scenario, clean)
    db.session.flush()
    return scenario


def _apply(shop: Shop, scenario: Scenario, clean: dict[str, Any]) -> None:
    for name in (
        "name",
        "description",
        "trigger",
        "trigger_params",
        "segment_id",
        "entry_definition",
        "holdout_percent",
        "conversion_window_days",
        "once_per_person",
        "exit_rules",
    ):
        setattr(scenario, name, clean[name])
    if clean["steps"] is None:
        return
    existing = {s.id: s for s in scenario.steps}
    kept: list[Step] = []
    for position, fields in enumerate(clean["steps"], start=1):
        step = existing.get(fields["id"]) if fields["id"] else None
        if step is None:
            step = Step(shop_id=shop.id)
        for name in (
            "name",
            "delay_days",
            "delay_hours",
            "delay_from",
            "at_time",
            "delay_source",
            "message",
            "coupon_offer_id",
        ):
            setattr(step, name, fields[name])
        step.position = position
        kept.append(step)
    scenario.steps = kept


def set_status(shop: Shop, scenario: Scenario, status: str, *, now: datetime) -> Scenario:
    """Activate or pause. Activating needs at least one step."""
    if status not in (ScenarioStatus.ACTIVE, ScenarioStatus.PAUSED):
        raise InvalidScenario("status: 'active' or 'paused'", fields={"status": "active or paused"})
    if status == ScenarioStatus.ACTIVE:
        if not scenario.steps:
            raise InvalidScenario(
                "add a step before switching the scenario on", fields={"steps": "add a step"}
            )
        scenario.activated_at = scenario.activated_at or now
        scenario.paused_at = None
    else:
        scenario.paused_at = now
    scenario.status = status
    db.session.flush()
    return scenario


def delete_scenario(shop: Shop, scenario: Scenario) -> None:
    """Delete a scenario nobody entered yet; one with enrollments keeps its history (pause it)."""
    entered = db.session.scalar(
        select(func.count()).select_from(Enrollment).where(Enrollment.scenario_id == scenario.id)
    )
    if entered:
        raise ScenarioInUse(
            "people entered this scenario; pause it instead, so its report stays",
            enrollments=entered,
        )
    db.session.delete(scenario)
    db.session.flush()


def get_enrollment(shop: Shop, enrollment_id: int) -> Enrollment:
    enrollment = db.session.scalar(Enrollment.for_shop(shop).where(Enrollment.id == enrollment_id))
    if enrollment is None:
        raise NotFound(f"enrollment {enrollment_id} not found")
    return enrollment


def remove_enrollment(shop: Shop, enrollment: Enrollment, *, now: datetime) -> Enrollment:
    """The merchant takes a person out: nothing more is sent. Removing twice changes nothing."""
    if enrollment.state == EnrollmentState.ACTIVE:
        services.end(shop, [enrollment], reason=ExitReason.REMOVED, now=now)
    return enrollment


def get_scheduled(shop: Shop, scheduled_id: int) -> ScheduledMessage:
    row = db.session.scalar(
        ScheduledMessage.for_shop(shop).where(ScheduledMessage.id == scheduled_id)
    )
    if row is None:
        raise NotFound(f"scheduled message {scheduled_id} not found")
    return row


def cancel_scheduled(shop: Shop, row: ScheduledMessage, *, now: datetime) -> ScheduledMessage:
    """Skip one scheduled step for its person; the following step is scheduled as usual."""
    if row.status != ScheduledStatus.SCHEDULED:
        raise Conflict(f"this message is {row.status}, not scheduled", status=row.status)
    row.status = ScheduledStatus.CANCELLED
    row.error = "cancelled by the merchant"
    row.claim = None
    db.session.flush()
    scheduling.advance(shop, row, now=now)
    db.session.flush()
    return row
