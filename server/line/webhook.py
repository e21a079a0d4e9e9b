"""POST /line/webhook/<channel_key>: the Messaging API webhook of one shop's channel.

Verify the signature over the raw body (before parsing anything), store each event once
(unique on webhookEventId), commit, queue processing, answer 200 in milliseconds (LINE waits
2 s). Missing or wrong signature → 401, unknown channel key → 404, malformed body → 400; a
database outage → 503 so LINE redelivers. Unknown event types are stored and acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request
from sqlalchemy.exc import OperationalError

from server.db import db, run_in_transaction, utcnow
from server.errors import BadRequest, NotFound, Unauthorized, Unavailable
from server.ingest.services import record_event
from server.jobs import enqueue_after_commit

from . import channels
from .models import LineChannel
from .tasks import process_line_event

log = logging.getLogger(__name__)
bp = Blueprint("line_webhook", __name__)

MAX_BODY = 1_000_000


class InvalidSignature(Unauthorized):
    code = "invalid_line_signature"


def signature_valid(secret: str, body: bytes, signature: str) -> bool:
    """base64(HMAC-SHA256(channel secret as UTF-8, raw body)) compared in constant time."""
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


def _verify(channel: LineChannel, body: bytes, signature: str, now: datetime) -> bool:
    if channel.channel_secret and signature_valid(channel.channel_secret, body, signature):
        return True
    rotating = (
        channel.previous_channel_secret
        and channel.previous_secret_expires_at
        and now < channel.previous_secret_expires_at
    )
    return bool(
        rotating and signature_valid(channel.previous_channel_secret or "", body, signature)
    )


@bp.post("/line/webhook/<channel_key>")
def receive(channel_key: str) -> tuple[str, int]:
    try:
        # A read then a write: on SQLite another connection's commit in between is a conflict
        # that a second run resolves, where a 503 might lose the event (redelivery is opt-in).
        return run_in_transaction(lambda: _receive(channel_key))
    except OperationalError:
        db.session.rollback()
        log.warning("LINE webhook: database unavailable; LINE will redeliver")
        raise Unavailable("try again later") from None


def _receive(channel_key: str) -> tuple[str, int]:
    channel = channels.find_by_key(channel_key)
    if channel is None or not channel.channel_secret:
        raise NotFound("no LINE channel at this webhook URL")
    if (request.content_length or 0) > MAX_BODY:
        raise BadRequest("body too large")
    body = request.get_data(cache=True)  # the exact bytes LINE signed
    signature = request.headers.get("X-Line-Signature", "")
    now = utcnow()
    if not signature or not _verify(channel, body, signature, now):
        raise InvalidSignature("missing or invalid X-Line-Signature")
    events = _parse(body)
    for event in events:
        stored = record_event(
            source="line",
            event_id=_event_id(event),
            topic=str(event["type"])[:128],
            payload=event,
            shop_id=channel.shop_id,
            triggered_at=_timestamp(event),
        )
        if stored is not None:  # None: a redelivery we already have
            db.session.flush()
            enqueue_after_commit(process_line_event, stored.id)
    log.info("LINE webhook: shop %s, %d event(s)", channel.shop_id, len(events))
    return "", 200


def _parse(body: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    events = data.get("events")
    if not isinstance(events, list):
        raise BadRequest("the body has no events list")
    if "destination" in data and not isinstance(data["destination"], str):
        raise BadRequest("destination must be a string")
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest(f"event {index} has no type")
        event_id = event.get("webhookEventId")
        if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 64):
            raise BadRequest(f"event {index} has an invalid webhookEventId")
        timestamp = event.get("timestamp")
        if timestamp is not None and (
            not isinstance(timestamp, int) or isinstance(timestamp, bool)
        ):
            raise BadRequest(f"event {index} has an invalid timestamp")
    return events


def _event_id(event: dict[str, Any]) -> str:
    event_id = event.get("webhookEventId")
    if isinstance(event_id, str):
        return event_id
    # Old console verify requests carried events without an id: a digest of the event content
    # still makes a repeat of the same event a no-op.
    canonical = json.dumps(event, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
