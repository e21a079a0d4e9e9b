"""POST /webhooks/shopify: every topic, compliance topics included.

Verify → store → commit → enqueue → 200, in milliseconds; the work happens in the worker
(tasks.process_shopify_event). https://shopify.dev/docs/apps/build/webhooks
- the HMAC (base64 HMAC-SHA256 of the raw body, X-Shopify-Hmac-Sha256) is checked by Shopify's
  own package before the body is parsed, with the old secret too while one is being rotated
  (credentials.py): missing → 400, wrong → 401 (the compliance topics require 401), non-POST → 405;
- the event is stored unique on X-Shopify-Webhook-Id, so a redelivery is a no-op; the event id,
  topic, API version and triggered-at are kept;
- missing headers or a body that is not a JSON object → 400, nothing stored;
- an unknown shop → 200 (Shopify must not retry), stored without a shop and not run;
- the database unreachable → 503, so Shopify retries later and nothing is lost.
Payloads are never logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.db import commit, db
from server.errors import BadRequest, DomainError, Unauthorized, Unavailable
from server.ingest.services import insert_event
from server.jobs import enqueue_after_commit
from server.shops.models import Shop

from . import credentials
from .domains import valid_shop_domain
from .payloads import PayloadError, parse_time

log = logging.getLogger(__name__)

bp = Blueprint("shopify_webhooks", __name__)

REQUIRED_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id")


class InvalidWebhookSignature(Unauthorized):
    code = "invalid_webhook_signature"


class MalformedWebhook(BadRequest):
    code = "malformed_webhook"


@bp.post("/webhooks/shopify")
def receive() -> tuple[str, int]:
    raw = request.get_data(cache=True)  # the HMAC covers exactly these bytes
    _verify(raw)
    headers = request.headers
    missing = [name for name in REQUIRED_HEADERS if not headers.get(name)]
    if missing:
        raise MalformedWebhook(f"missing headers: {', '.join(missing)}")
    domain = headers["X-Shopify-Shop-Domain"].lower()
    if not valid_shop_domain(domain):
        raise MalformedWebhook("X-Shopify-Shop-Domain is not a myshopify.com domain")
    payload = _json_object(raw)
    try:
        triggered_at = parse_time(headers.get("X-Shopify-Triggered-At"))
    except PayloadError:
        triggered_at = None
    topic = headers["X-Shopify-Topic"]
    try:
        stored = insert_event(
            source="shopify",
            event_id=headers["X-Shopify-Webhook-Id"][:128],
            topic=topic[:128],
            payload=payload,
            shop_id=select(Shop.id).where(Shop.domain == domain).scalar_subquery(),
            api_version=headers.get("X-Shopify-API-Version"),
            triggered_at=triggered_at,
            correlation_id=(headers.get("X-Shopify-Event-Id") or None),
        )
        if stored is not None and stored[1] is not None:
            from .tasks import process_shopify_event

            enqueue_after_commit(process_shopify_event, stored[0])
        commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("webhook %s not stored: database unavailable (%s)", topic, type(error).__name__)
        raise Unavailable("database unavailable; Shopify will retry") from error
    if stored is not None and stored[1] is None:
        log.info("webhook %s for unknown shop %s kept, not run", topic, domain)
    return "", 200


def _verify(raw: bytes) -> None:
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedWebhook("the body is not UTF-8 JSON") from error
    result = credentials.sdk().verify_webhook_req(
        {
            "method": request.method,
            "headers": dict(request.headers),
            "url": request.url,
            "body": body,
        }
    )
    if result.ok:
        return
    status = result.response.status
    if status == 401:
        raise InvalidWebhookSignature("the X-Shopify-Hmac-Sha256 signature does not match")
    refused: DomainError = MalformedWebhook(f"webhook refused: {result.log.code}")
    refused.status = status
    raise refused


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError as error:
        raise MalformedWebhook("the body is not JSON") from error
    if not isinstance(payload, dict):
        raise MalformedWebhook("the body is not a JSON object")
    return payload
