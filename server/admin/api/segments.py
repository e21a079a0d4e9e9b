"""/api/admin/segments: the filter builder's fields and values, live counts of a definition
being edited, a sample of its members, and saved segments with live counts.

The parent blueprint authenticated the session token (g.shop). Every id in a path is looked up
within g.shop, so another shop's id is a 404. A bad definition or name is a 400 whose
`details.fields` names the part that is wrong ("definition.conditions[1].value").
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from server.campaigns import broadcasts
from server.campaigns import services as scenarios
from server.campaigns.cancellation import REASONS
from server.campaigns.cancellation import SURVEY as CANCELLATION_SURVEY
from server.db import commit, utcnow
from server.errors import BadRequest, DomainError
from server.i18n import current_locale
from server.segments import filters, services
from server.segments import nine_segments as nine
from server.segments.models import Segment

bp = Blueprint("segments", __name__, url_prefix="/segments")


class InvalidSegmentInput(BadRequest):
    code = "invalid_segment"


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidSegmentInput("expected a JSON object body", fields={"": "a JSON object"})
    return data


def _checked(call: Any, *args: Any, default_path: str = "definition", **kwargs: Any) -> Any:
    """Run a segments service; its validation errors become a 400 naming the field."""
    try:
        return call(*args, **kwargs)
    except DomainError as error:
        if error.status not in (400, 422):
            raise
        path = str(error.details.get("path") or default_path)
        raise InvalidSegmentInput(error.message, fields={path: error.message}) from None


def _definition(data: dict[str, Any]) -> dict[str, Any]:
    if "definition" not in data:
        raise InvalidSegmentInput("definition: required", fields={"definition": "required"})
    clean: dict[str, Any] = _checked(filters.validate, data["definition"])
    return clean


def _counts(definition: dict[str, Any]) -> dict[str, int]:
    now = utcnow()
    return {
        "count": services.count(g.shop, definition, now=now),
        "reachable": services.count_reachable(g.shop, definition, now=now),
    }


def _segment_out(segment: Segment, counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "definition": segment.definition,
        "last_count": segment.last_count,
        "last_counted_at": segment.last_counted_at.isoformat() if segment.last_counted_at else None,
        **(counts or {}),
    }


@bp.get("/fields")
def fields() -> dict[str, Any]:
    """Every field the builder offers, with its operators and the values to pick from."""
    locale = current_locale()
    options = services.options(g.shop)
    specs = [
        {
            "field": name,
            "kind": spec.kind,
            "ops": list(spec.ops),
            "needs": spec.needs,
            "choices": list(spec.choices),
            "minimum": spec.minimum,
            "maximum": spec.maximum,
        }
        for name, spec in filters.FIELDS.items()
    ]
    surveys = [
        {
            "survey": nine.SURVEY,
            "question": question,
            "answers": list(nine.ANSWERS[question]),
        }
        for question in nine.QUESTIONS
    ] + [{"survey": CANCELLATION_SURVEY, "question": "reason", "answers": list(REASONS)}]
    return {
        "fields": specs,
        "cells": [{"value": c, "label": nine.cell_label(c, locale)} for c in nine.CELLS],
        "surveys": surveys,
        "currency": g.shop.currency,
        "timezone": g.shop.timezone,
        **options,
    }


@bp.post("/count")
def count() -> dict[str, Any]:
    """Live counts of a definition being edited: members, and LINE friends who can be sent to."""
    definition = _definition(_json())
    return _counts(definition)


@bp.post("/sample")
def sample() -> dict[str, Any]:
    definition = _definition(_json())
    return {"members": services.sample(g.shop, definition, now=utcnow(), limit=20)}


@bp.get("")
def list_segments() -> dict[str, Any]:
    """Saved segments with their live counts (each remembered as `last_count`)."""
    now = utcnow()
    out = []
    for segment in services.list_segments(g.shop):
        services.refresh_count(g.shop, segment, now=now)
        reachable = services.count_reachable(g.shop, segment.definition, now=now)
        out.append(
            _segment_out(segment, {"count": segment.last_count or 0, "reachable": reachable})
        )
    commit()
    return {"segments": out}


@bp.post("")
def create() -> tuple[dict[str, Any], int]:
    data = _json()
    definition = _definition(data)
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise InvalidSegmentInput("description: a text", fields={"description": "a text"})
    segment = _checked(
        services.create_segment,
        g.shop,
        name=data.get("name") if isinstance(data.get("name"), str) else "",
        definition=definition,
        description=description,
        default_path="name",
    )
    services.refresh_count(g.shop, segment, now=utcnow())
    commit()
    return _segment_out(segment, _counts(segment.definition)), 201


@bp.get("/<int:segment_id>")
def show(segment_id: int) -> dict[str, Any]:
    segment = services.get_segment(g.shop, segment_id)
    return _segment_out(segment, _counts(segment.definition))


@bp.put("/<int:segment_id>")
def update(segment_id: int) -> dict[str, Any]:
    segment = services.get_segment(g.shop, segment_id)
    data = _json()
    definition = _definition(data) if "definition" in data else None
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidSegmentInput("name: a text", fields={"name": "a text"})
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidSegmentInput("description: a text", fields={"description": "a text"})
    _checked(
        services.update_segment,
        g.shop,
        segment,
        name=name,
        definition=definition,
        description=description,
        default_path="name",
    )
    services.refresh_count(g.shop, segment, now=utcnow())
    commit()
    return _segment_out(segment, _counts(segment.definition))


@bp.delete("/<int:segment_id>")
def delete(segment_id: int) -> tuple[str, int]:
    segment = services.get_segment(g.shop, segment_id)
    in_use = scenarios.segment_in_use(g.shop, segment.id) or broadcasts.segment_in_use(
        g.shop, segment.id
    )
    services.delete_segment(g.shop, segment, in_use=in_use)
    commit()
    return "", 204
