"""The one client of the LINE Messaging API (line-bot-sdk v3, `linebot.v3` only).

Every call passes an explicit timeout (the SDK has none by default, PROTOCOLS.md §8 gotcha 1)
and the host comes from LINE_API_BASE_URL, so tests and benchmarks point it at a stand-in.
One ApiClient (one urllib3 pool, keep-alive) per access token and host, reused across calls
and threads; results are read from `*_with_http_info` return values, never `last_response`.

Sends (push, multicast, reply) wait for a token of the channel's bucket for that endpoint
first (LINE limits each channel per endpoint: 2,000 req/s push and reply, 200 req/s multicast,
PROTOCOLS.md §2.2), so one process never goes faster than LINE allows.

urllib3 repeats nothing that may have reached LINE: its hidden retries (3 by default, GETs and
PUTs after a read timeout) are off except for connection failures, where the request never left.
Retrying is the caller's decision (the delivery pipeline retries sends with the same retry key).

Errors: `LineApiError` (LINE answered with a non-2xx status) and `LineUnreachable` (timeout or
connection failure: the request may or may not have reached LINE).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import urllib3
from flask import current_app
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    SetWebhookEndpointRequest,
    TestWebhookEndpointRequest,
)
from linebot.v3.oauth import ApiClient as OAuthApiClient
from linebot.v3.oauth import ApiException as OAuthApiException
from linebot.v3.oauth import ChannelAccessToken
from linebot.v3.oauth import Configuration as OAuthConfiguration

from server.http import DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

POOL_SIZE = 64  # concurrent sends per process (see delivery.SEND_THREADS)
# LINE's per-channel limits (requests per second) for the send endpoints, PROTOCOLS.md §2.2.
# A bucket runs at 90% of the limit with a burst of 5% of it, so no one-second window holds
# more than 95% of what LINE allows. LINE_RATE_LIMITS overrides these (tests, other plans).
LINE_RATE_LIMITS: Mapping[str, float] = {"push": 2000.0, "reply": 2000.0, "multicast": 200.0}
RATE_SHARE = 0.9
BURST_SHARE = 0.05
# Connection failures (nothing sent) are retried by urllib3; nothing else is.
RETRIES = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0)
DEFAULT_API_BASE_URL = "https://api.line.me"
DATA_API_BASE_URL = "https://api-data.line.me"  # rich menu images and message content


class LineApiError(Exception):
    """LINE answered with an error status. `message` is LINE's own text (never secrets)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"LINE API {status}: {message}")
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class LineUnreachable(Exception):
    """Timeout or connection error: LINE may or may not have received the request."""


@dataclass(frozen=True)
class Target:
    """Where and how to call: resolved in the request/task thread, usable from any thread."""

    access_token: str
    host: str
    data_host: str
    timeout: tuple[float, float]
    rate_limits: Mapping[str, float] = field(default_factory=lambda: LINE_RATE_LIMITS)


@dataclass
class SendResult:
    status: int  # HTTP status; 0 = no answer (timeout / connection error)
    request_id: str | None = None
    accepted_request_id: str | None = None
    sent_messages: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    details: list[Any] = field(default_factory=list)


_clients: dict[tuple[str, str], ApiClient] = {}
_clients_lock = threading.Lock()


def target(access_token: str) -> Target:
    host = str(current_app.config["LINE_API_BASE_URL"]).rstrip("/")
    # The SDK sends every call to Configuration.host when it is set, including the blob API
    # that lives on api-data.line.me in production; stand-ins serve both on one host.
    data_host = DATA_API_BASE_URL if host == DEFAULT_API_BASE_URL else host
    timeout = current_app.config.get("LINE_HTTP_TIMEOUT") or DEFAULT_TIMEOUT
    limits = {**LINE_RATE_LIMITS, **(current_app.config.get("LINE_RATE_LIMITS") or {})}
    return Target(access_token, host, data_host, (float(timeout[0]), float(timeout[1])), limits)


class TokenBucket:
    """`rate` requests per second with bursts of up to `capacity`, shared by threads.

    `acquire` reserves the next slot and sleeps until it comes (the balance may go negative),
    so waiting threads are served in turn and none spins.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)
        return wait


_buckets: dict[tuple[str, str, str, float], TokenBucket] = {}
# The clock and sleep new buckets use; a test replaces them to count requests against the
# limiter's own time instead of the wall clock of a loaded machine.
bucket_clock: Callable[[], float] = time.monotonic
bucket_sleep: Callable[[float], None] = time.sleep


def bucket(t: Target, api: str) -> TokenBucket:
    """The process-wide bucket of one channel (access token) and endpoint."""
    limit = float(t.rate_limits[api])
    key = (t.access_token, t.host, api, limit)
    found = _buckets.get(key)
    if found is None:
        with _clients_lock:
            found = _buckets.get(key)
            if found is None:
                found = _buckets[key] = TokenBucket(
                    limit * RATE_SHARE,
                    limit * BURST_SHARE,
                    clock=bucket_clock,
                    sleep=bucket_sleep,
                )
    return found


def api_client(access_token: str, host: str) -> ApiClient:
    key = (access_token, host)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                config = Configuration(access_token=access_token, host=host)
                config.connection_pool_maxsize = POOL_SIZE
                config.retries = RETRIES
                client = ApiClient(config)
                _clients[key] = client
    return client


def forget_client(access_token: str) -> None:
    """Drop pooled clients (and rate buckets) of a token that was replaced."""
    with _clients_lock:
        for key in [k for k in _clients if k[0] == access_token]:
            _clients.pop(key)
        for bucket_key in [k for k in _buckets if k[0] == access_token]:
            _buckets.pop(bucket_key)


def messaging(t: Target) -> MessagingApi:
    return MessagingApi(api_client(t.access_token, t.host))


def blob(t: Target) -> MessagingApiBlob:
    return MessagingApiBlob(api_client(t.access_token, t.data_host))


def _error(error: Any) -> LineApiError:  # the messaging and oauth ApiExceptions alike
    body = error.body if isinstance(error.body, str) else ""
    message, details = "", []
    try:
        data = json.loads(body) if body else {}
        message = str(data.get("message", ""))
        details = list(data.get("details") or [])
    except (ValueError, AttributeError):
        message = body[:200]
    headers = {k.lower(): v for k, v in (error.headers or {}).items()}
    return LineApiError(
        int(error.status or 0), message or str(error.reason), details=details, headers=headers
    )


def call(t: Target, fn_name: str, *args: Any, blob_api: bool = False, **kwargs: Any) -> Any:
    """Call one SDK operation (`get_bot_info`, ...) with the timeout; map its errors."""
    api = blob(t) if blob_api else messaging(t)
    try:
        return getattr(api, fn_name)(*args, _request_timeout=t.timeout, **kwargs)
    except ApiException as error:
        raise _error(error) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise LineUnreachable(type(error).__name__) from None


# Sending ------------------------------------------------------------------------------------

SEND_PATHS = {
    "push": "/v2/bot/message/push",
    "multicast": "/v2/bot/message/multicast",
    "reply": "/v2/bot/message/reply",
}


def send(t: Target, api: str, body: dict[str, Any], *, retry_key: str | None) -> SendResult:
    """POST one send request; never raises for an HTTP status or a timeout.

    The body is built and validated by the delivery pipeline, so this goes through the SDK's
    ApiClient directly (auth, pooled connection, error mapping) without re-validating every
    message object in pydantic: that halves the CPU per push (benchmarks/delivery.py).
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    bucket(t, api).acquire()  # every attempt counts against LINE's rate limit
    if retry_key is not None:  # push and multicast only; LINE rejects it on reply (400)
        headers["X-Line-Retry-Key"] = retry_key
    client = api_client(t.access_token, t.host)
    try:
        response = client.call_api(
            SEND_PATHS[api],
            "POST",
            header_params=headers,
            body=body,
            response_types_map={},
            auth_settings=["Bearer"],
            _return_http_data_only=False,
            _request_timeout=t.timeout,
        )
    except ApiException as error:
        failure = _error(error)
        data = _json(error.body)
        return SendResult(
            status=failure.status,
            request_id=failure.headers.get("x-line-request-id"),
            accepted_request_id=failure.headers.get("x-line-accepted-request-id"),
            sent_messages=list(data.get("sentMessages") or []),
            message=failure.message,
            details=failure.details,
        )
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return SendResult(status=0, message=f"no answer from LINE ({type(error).__name__})")
    headers_in = {k.lower(): v for k, v in (response.headers or {}).items()}
    data = _json(response.raw_data)
    return SendResult(
        status=response.status_code,
        request_id=headers_in.get("x-line-request-id"),
        sent_messages=list(data.get("sentMessages") or []),
    )


def _json(raw: Any) -> dict[str, Any]:
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# Channel and account operations ---------------------------------------------------------------


def bot_info(t: Target) -> dict[str, Any]:
    info = call(t, "get_bot_info")
    return {
        "user_id": info.user_id,
        "basic_id": info.basic_id,
        "display_name": info.display_name,
        "picture_url": info.picture_url,
    }


def profile(t: Target, user_id: str) -> dict[str, Any]:
    p = call(t, "get_profile", user_id)
    return {
        "display_name": p.display_name,
        "picture_url": p.picture_url,
        "language": p.language,
    }


def quota(t: Target) -> tuple[int | None, int]:
    """(monthly limit or None for no limit, messages used this month so far)."""
    q = call(t, "get_message_quota")
    used = call(t, "get_message_quota_consumption")
    limit = int(q.value) if q.type == "limited" and q.value is not None else None
    return limit, int(used.total_usage or 0)


def issue_link_token(t: Target, user_id: str) -> str:
    return str(call(t, "issue_link_token", user_id).link_token)


def set_webhook_endpoint(t: Target, url: str) -> None:
    call(t, "set_webhook_endpoint", SetWebhookEndpointRequest(endpoint=url))


def test_webhook_endpoint(t: Target, url: str | None) -> dict[str, Any]:
    r = call(t, "test_webhook_endpoint", TestWebhookEndpointRequest(endpoint=url))
    return {
        "success": bool(r.success),
        "status_code": r.status_code,
        "reason": r.reason,
        "detail": r.detail,
        "timestamp": r.timestamp.isoformat() if r.timestamp else None,
    }


def create_rich_menu(t: Target, menu: dict[str, Any]) -> str:
    return str(call(t, "create_rich_menu", RichMenuRequest.from_dict(menu)).rich_menu_id)


def upload_rich_menu_image(t: Target, rich_menu_id: str, image: bytes, content_type: str) -> None:
    # The SDK sets no Content-Type for this upload (and ignores _content_type): pass it here.
    call(
        t,
        "set_rich_menu_image",
        rich_menu_id,
        image,
        blob_api=True,
        _headers={"Content-Type": content_type},
    )


def delete_rich_menu(t: Target, rich_menu_id: str) -> None:
    call(t, "delete_rich_menu", rich_menu_id)


def set_default_rich_menu(t: Target, rich_menu_id: str) -> None:
    call(t, "set_default_rich_menu", rich_menu_id)


def link_rich_menu(t: Target, user_id: str, rich_menu_id: str) -> None:
    call(t, "link_rich_menu_id_to_user", user_id, rich_menu_id)


def link_rich_menu_bulk(t: Target, user_ids: list[str], rich_menu_id: str) -> None:
    call(
        t,
        "link_rich_menu_id_to_users",
        RichMenuBulkLinkRequest(rich_menu_id=rich_menu_id, user_ids=user_ids),
    )


def unlink_rich_menu(t: Target, user_id: str) -> None:
    call(t, "unlink_rich_menu_id_from_user", user_id)


def issue_channel_token(
    channel_id: str, channel_secret: str, *, now: datetime
) -> tuple[str, datetime]:
    """A short-lived (30-day) channel access token from the channel id and secret."""
    host = str(current_app.config["LINE_API_BASE_URL"]).rstrip("/")
    timeout = current_app.config.get("LINE_HTTP_TIMEOUT") or DEFAULT_TIMEOUT
    oauth_config = OAuthConfiguration(host=host)
    oauth_config.retries = RETRIES
    with OAuthApiClient(oauth_config) as oauth_client:
        try:
            r = ChannelAccessToken(oauth_client).issue_channel_token(
                "client_credentials", channel_id, channel_secret, _request_timeout=tuple(timeout)
            )
        except OAuthApiException as error:
            raise _error(error) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise LineUnreachable(type(error).__name__) from None
    return str(r.access_token), now + timedelta(seconds=int(r.expires_in))
