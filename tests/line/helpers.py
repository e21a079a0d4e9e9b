"""Helpers for LINE tests: signed webhook requests and LINE event objects, shaped as the
Messaging API sends them (webhook.yml; PROTOCOLS.md §1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from flask.testing import FlaskClient

from server.line.models import LineChannel

BOT_USER_ID = "U" + "b" * 32


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_body(events: list[dict[str, Any]], destination: str = BOT_USER_ID) -> bytes:
    return json.dumps({"destination": destination, "events": events}, ensure_ascii=False).encode()


def post_webhook(
    client: FlaskClient,
    channel: LineChannel,
    events: list[dict[str, Any]],
    *,
    body: bytes | None = None,
    signature: str | None = None,
) -> Any:
    """POST events to the channel's webhook, signed with its secret (or the given signature)."""
    raw = body if body is not None else webhook_body(events)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Line-Signature": signature
        if signature is not None
        else sign(channel.channel_secret or "", raw),
    }
    return client.post(f"/line/webhook/{channel.channel_key}", data=raw, headers=headers)


def ulid() -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "01" + "".join(secrets.choice(alphabet) for _ in range(24))


def event(
    kind: str,
    user_id: str,
    *,
    reply_token: str | None = "auto",  # noqa: S107 - "auto" = a fresh random token
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": ulid(),
        "deliveryContext": {"isRedelivery": redelivery},
        **fields,
    }
    if reply_token == "auto":
        reply_token = secrets.token_hex(16)
    if reply_token is not None:
        e["replyToken"] = reply_token
    return e


def follow(user_id: str, *, unblocked: bool = False, **kw: Any) -> dict[str, Any]:
    return event("follow", user_id, follow={"isUnblocked": unblocked}, **kw)


def unfollow(user_id: str, **kw: Any) -> dict[str, Any]:
    return event("unfollow", user_id, reply_token=None, **kw)


def text_message(user_id: str, text: str, **kw: Any) -> dict[str, Any]:
    message = {
        "id": str(secrets.randbelow(10**18)),
        "type": "text",
        "text": text,
        "quoteToken": secrets.token_urlsafe(12),
    }
    return event("message", user_id, message=message, **kw)


def sticker_message(user_id: str, **kw: Any) -> dict[str, Any]:
    message = {
        "id": str(secrets.randbelow(10**18)),
        "type": "sticker",
        "packageId": "446",
        "stickerId": "1988",
        "stickerResourceType": "STATIC",
        "quoteToken": secrets.token_urlsafe(12),
    }
    return event("message", user_id, message=message, **kw)


def postback(user_id: str, data: str, **kw: Any) -> dict[str, Any]:
    return event("postback", user_id, postback={"data": data}, **kw)


def account_link(user_id: str | None, nonce: str, *, result: str = "ok") -> dict[str, Any]:
    e = event(
        "accountLink",
        user_id or "U" + "0" * 32,
        reply_token="auto" if result == "ok" else None,
        link={"result": result, "nonce": nonce},
    )
    if result != "ok":
        e.pop("source")  # LINE omits the source of a failed link
    return e


def proxy_signature(params: list[tuple[str, str]], secret: str) -> str:
    """Shopify's App Proxy signature: hex HMAC-SHA256 of the sorted `k=v` strings (repeated
    keys' values joined by commas), concatenated without separators."""
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def storefront(
    client: FlaskClient,
    shop_domain: str,
    path: str,
    *,
    customer: str = "",
    query: list[tuple[str, str]] | None = None,
    method: str = "GET",
    form: dict[str, str] | None = None,
) -> Any:
    """A storefront request through Shopify's App Proxy (/apps/kizuna/... → /proxy/...)."""
    from urllib.parse import urlencode

    from tests.conftest import API_SECRET

    params = [
        ("shop", shop_domain),
        ("logged_in_customer_id", customer),
        ("path_prefix", "/apps/kizuna"),
        ("timestamp", str(int(time.time()))),
        *(query or []),
    ]
    params.append(("signature", proxy_signature(params, API_SECRET)))
    return client.open(f"/proxy{path}?{urlencode(params)}", method=method, data=form)
