"""A local stand-in for the LINE Platform's HTTP side, following the published contracts.

Request the `line_api` fixture in any test: the app's LINE_API_BASE_URL and LINE_LOGIN_BASE_URL
point at it for the test, retries back off without sleeping, and the read timeout is short.

Every request is validated against ../shared/refs/line-openapi/messaging-api.yml (and
channel-access-token.yml); a request that breaks the spec gets 400 with the violations, as
Prism answers, and the fixture fails the test at teardown unless the test called
`line_api.allow_violations()`.

What it answers (PROTOCOLS.md §2-§6):
- push / multicast / reply. Push and multicast honour `X-Line-Retry-Key` like LINE: the first
  request with a key is accepted, a repeat within 24 h gets 409 with `x-line-accepted-request-id`
  (and, for push, the same `sentMessages`). Reply tokens are single use; `expire_reply_token(t)`
  makes LINE refuse one. `delivered(user_id)` lists what LINE actually accepted for a user:
  the proof that nothing was lost or sent twice.
- bot info, profiles (`profiles[user_id] = {...}`; `unknown_users` answer 404), quota and
  consumption (`quota_limit`, `usage`), link tokens, webhook endpoint set/get/test, rich menus
  (create, image upload, default, per-user link/unlink, bulk link, delete), short-lived channel
  access tokens.
- LINE Login: `/oauth2/v2.1/authorize` (302 back to the redirect URI with a code for
  `login_user`; `authorize(url, user_id=...)` does the same without HTTP), `/oauth2/v2.1/token`
  (checks client id/secret, redirect URI and the PKCE verifier; answers an HS256 ID token signed
  with the channel secret; `id_token_claims` / `id_token_header` / `id_token_key` override what
  it signs, for tests of forged tokens), and `/dialog/bot/accountLink` (recorded).

Failure modes: `fail(path, status, body, times)` answers an error; `time_out(path, times)`
holds the answer past the client's read timeout but still accepts the request (the case retry
keys exist for).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from flask import Flask
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "refs" / "line-openapi"
ISSUER = "https://access.line.me"
# The app's read timeout under this stand-in: far above any real answer's time even on a
# loaded machine (at 0.3 s, answers slowed by load timed out, and urllib3's hidden retry of a
# GET then showed the stand-in one request twice), and a "timed out" answer is held past it.
READ_TIMEOUT = 2.0
TIMEOUT_DELAY = 2.4


@cache
def _spec(name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_DIR / name))


class _SpecRequest(WerkzeugOpenAPIRequest):  # type: ignore[misc]
    """The request as LINE would see it: on api.line.me (or api-data.line.me)."""

    def __init__(self, request: Request, host_url: str) -> None:
        super().__init__(request)
        self._host = host_url

    @property
    def host_url(self) -> str:
        return self._host


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    form: dict[str, str]
    data: bytes
    status: int = 0
    at: float = 0.0  # time.monotonic() when it arrived

    @property
    def retry_key(self) -> str | None:
        return self.headers.get("x-line-retry-key")


@dataclass
class _Planned:
    path: str
    status: int | None  # None = time out (hold the answer, still accept)
    body: dict[str, Any] | None
    times: int


@dataclass
class _Accepted:
    request_id: str
    body: Any
    sent_messages: list[dict[str, str]]
    at: float


@dataclass
class LineStandIn:
    base_url: str
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_users: set[str] = field(default_factory=set)
    rejected_tokens: set[str] = field(default_factory=set)
    bot: dict[str, Any] = field(
        default_factory=lambda: {
            "userId": "U" + "b" * 32,
            "basicId": "@kizuna",
            "displayName": "Kizuna テスト店",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
    )
    quota_limit: int | None = None
    usage: int = 0
    webhook_endpoint: str | None = None
    webhook_test_result: dict[str, Any] = field(
        default_factory=lambda: {
            "success": True,
            "timestamp": "2026-11-23T06:00:00Z",
            "statusCode": 200,
            "reason": "OK",
            "detail": "200",
        }
    )
    rich_menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_menus: dict[str, str] = field(default_factory=dict)
    default_menu: str | None = None
    link_tokens: dict[str, str] = field(default_factory=dict)
    login_channels: dict[str, str] = field(default_factory=dict)
    login_user: str = "U" + "1" * 32
    login_name: str = "山田 花子"
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    id_token_header: dict[str, Any] = field(default_factory=dict)
    id_token_key: str | None = None
    id_token_algorithm: str = "HS256"
    _planned: list[_Planned] = field(default_factory=list)
    _accepted: dict[str, _Accepted] = field(default_factory=dict)
    _delivered: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    _used_reply_tokens: set[str] = field(default_factory=set)
    _expired_reply_tokens: set[str] = field(default_factory=set)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _violations_allowed: bool = False
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(461230966842064897))

    # Test controls ----------------------------------------------------------------------------

    def fail(
        self, path: str, status: int, body: dict[str, Any] | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` requests to `path` with `status` (LINE's error body)."""
        with self._lock:
            self._planned.append(_Planned(path, status, body, times))

    def time_out(self, path: str, times: int = 1) -> None:
        """Accept the next `times` requests to `path` but answer after the client gave up."""
        with self._lock:
            self._planned.append(_Planned(path, None, None, times))

    def expire_reply_token(self, token: str) -> None:
        self._expired_reply_tokens.add(token)

    def allow_violations(self) -> None:
        self._violations_allowed = True

    def add_login_channel(self, channel_id: str, secret: str) -> None:
        self.login_channels[channel_id] = secret

    # What LINE received and accepted ----------------------------------------------------------

    def requests(self, path: str | None = None, method: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if (path is None or c.path == path) and (method is None or c.method == method)
            ]

    def pushes(self) -> list[Call]:
        return self.requests("/v2/bot/message/push")

    def multicasts(self) -> list[Call]:
        return self.requests("/v2/bot/message/multicast")

    def replies(self) -> list[Call]:
        return self.requests("/v2/bot/message/reply")

    def delivered(self, user_id: str | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
        """(api, messages) LINE accepted for delivery, per recipient, in order."""
        with self._lock:
            return [(api, m) for api, to, m in self._delivered if user_id in (None, to)]

    def delivered_texts(self, user_id: str | None = None) -> list[str]:
        return [
            m.get("text", m.get("altText", m["type"]))
            for _, messages in self.delivered(user_id)
            for m in messages
        ]

    # HTTP -------------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        raw = request.get_data()
        body: Any = None
        if request.mimetype == "application/json" and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        call = Call(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body,
            form=dict(request.form.items()) if request.mimetype.endswith("urlencoded") else {},
            data=raw,
            at=time.monotonic(),
        )
        with self._lock:
            self.calls.append(call)
        response = self._answer(request, call)
        call.status = response.status_code
        return response

    def _answer(self, request: Request, call: Call) -> Response:
        path = call.path
        if path.startswith("/oauth2/") or path.startswith("/dialog/"):
            planned = self._take_planned(path)
            if planned is not None and planned.status is not None:
                return _json(planned.body or {"error": "server_error"}, planned.status)
            response = self._login(request, call)
            if planned is not None:
                call.status = response.status_code
                time.sleep(TIMEOUT_DELAY)
            return response
        if path == "/v2/oauth/accessToken":
            problem = self._validate(request, "channel-access-token.yml")
            if problem:
                return problem
            return self._issue_channel_token(call)
        problem = self._validate(request, "messaging-api.yml")
        if problem:
            return problem
        token = call.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or token in self.rejected_tokens:
            return _json(
                {
                    "message": "Authentication failed. Confirm that the access token in the "
                    "authorization header is valid."
                },
                401,
            )
        planned = self._take_planned(path)
        if planned is not None and planned.status is not None:
            return _json(
                planned.body or _default_error(planned.status),
                planned.status,
                {"x-line-request-id": str(uuid.uuid4())},
            )
        response = self._route(call)
        if planned is not None:  # accepted, but the answer comes too late for the client
            call.status = response.status_code
            time.sleep(TIMEOUT_DELAY)
        return response

    def _take_planned(self, path: str) -> _Planned | None:
        with self._lock:
            for item in self._planned:
                if item.path == path and item.times > 0:
                    item.times -= 1
                    if item.times == 0:
                        self._planned.remove(item)
                    return item
        return None

    def _validate(self, request: Request, spec_name: str) -> Response | None:
        spec = _spec(spec_name)
        errors: list[str] = []
        for host in ("https://api.line.me", "https://api-data.line.me"):
            try:
                spec.validate_request(_SpecRequest(request, host))
                return None
            except Exception as error:  # openapi-core raises one class per kind of problem
                detail = error.__cause__ or error
                schema_errors = getattr(detail, "schema_errors", None)
                if schema_errors:
                    errors.append("; ".join(str(e.message)[:200] for e in schema_errors))
                else:
                    errors.append(f"{type(error).__name__}: {str(detail)[:300]}")
                if (
                    "ServerNotFound" not in type(error).__name__
                    and "PathNotFound" not in type(error).__name__
                ):
                    break
        message = f"{request.method} {request.path}: {errors[-1]}"
        with self._lock:
            self.violations.append(message)
        return _json(
            {
                "message": "The request body has 1 error(s)",
                "details": [{"message": errors[-1][:500], "property": "request"}],
            },
            400,
        )

    def _route(self, call: Call) -> Response:
        path, method = call.path, call.method
        if path == "/v2/bot/message/push":
            return self._accept(call, [call.json["to"]], sent_messages=True)
        if path == "/v2/bot/message/multicast":
            return self._accept(call, list(call.json["to"]), sent_messages=False)
        if path == "/v2/bot/message/reply":
            token = call.json["replyToken"]
            with self._lock:
                if token in self._used_reply_tokens or token in self._expired_reply_tokens:
                    return _json({"message": "Invalid reply token"}, 400)
                self._used_reply_tokens.add(token)
                sent = [{"id": str(next(self._ids))} for _ in call.json["messages"]]
                self._delivered.append(("reply", f"reply:{token}", call.json["messages"]))
            return _json({"sentMessages": sent}, 200)
        if path == "/v2/bot/info":
            return _json(self.bot)
        if m := re.fullmatch(r"/v2/bot/profile/(U[0-9a-f]{32})", path):
            user = m.group(1)
            if user in self.unknown_users:
                return _json({"message": "Not found"}, 404)
            return _json(
                self.profiles.get(
                    user,
                    {
                        "userId": user,
                        "displayName": "LINE ユーザー",
                        "language": "ja",
                        "pictureUrl": f"https://profile.line-scdn.net/{user}",
                    },
                )
                | {"userId": user}
            )
        if path == "/v2/bot/message/quota":
            if self.quota_limit is None:
                return _json({"type": "none"})
            return _json({"type": "limited", "value": self.quota_limit})
        if path == "/v2/bot/message/quota/consumption":
            return _json({"totalUsage": self.usage})
        if m := re.fullmatch(r"/v2/bot/user/(U[0-9a-f]{32})/linkToken", path):
            link_token = secrets.token_urlsafe(24)
            self.link_tokens[link_token] = m.group(1)
            return _json({"linkToken": link_token})
        if path == "/v2/bot/channel/webhook/endpoint":
            if method == "PUT":
                self.webhook_endpoint = call.json["endpoint"]
                return _json({})
            return _json({"endpoint": self.webhook_endpoint or "", "active": True})
        if path == "/v2/bot/channel/webhook/test":
            return _json(self.webhook_test_result)
        return self._rich_menu(call)

    def _rich_menu(self, call: Call) -> Response:
        path, method = call.path, call.method
        if path == "/v2/bot/richmenu" and method == "POST":
            menu_id = f"richmenu-{uuid.uuid4().hex}"
            self.rich_menus[menu_id] = {"menu": call.json, "image": None, "content_type": None}
            return _json({"richMenuId": menu_id})
        if m := re.fullmatch(r"/v2/bot/richmenu/([\w-]+)/content", path):
            menu = self.rich_menus.get(m.group(1))
            if menu is None:
                return _json({"message": "Not found"}, 404)
            if menu["image"] is not None:
                return _json({"message": "An image has already been uploaded to the richmenu"}, 400)
            menu["image"] = call.data
            menu["content_type"] = call.headers.get("content-type")
            return _json({})
        if (m := re.fullmatch(r"/v2/bot/richmenu/([\w-]+)", path)) and method == "DELETE":
            self.rich_menus.pop(m.group(1), None)
            return _json({})
        if m := re.fullmatch(r"/v2/bot/user/all/richmenu/([\w-]+)", path):
            if not self._menu_linkable(m.group(1)):
                return _json({"message": "richmenu not found or has no image"}, 400)
            self.default_menu = m.group(1)
            return _json({})
        if m := re.fullmatch(r"/v2/bot/user/(U[0-9a-f]{32})/richmenu/([\w-]+)", path):
            if not self._menu_linkable(m.group(2)):
                return _json({"message": "richmenu not found or has no image"}, 400)
            self.user_menus[m.group(1)] = m.group(2)
            return _json({})
        if m := re.fullmatch(r"/v2/bot/user/(U[0-9a-f]{32})/richmenu", path):
            if method == "DELETE":
                self.user_menus.pop(m.group(1), None)
                return _json({})
            menu_id = self.user_menus.get(m.group(1))
            return _json(
                {"richMenuId": menu_id} if menu_id else {"message": "Not found"},
                200 if menu_id else 404,
            )
        if path == "/v2/bot/richmenu/bulk/link":
            if not self._menu_linkable(call.json["richMenuId"]):
                return _json({"message": "richmenu not found or has no image"}, 400)
            for user in call.json["userIds"]:
                self.user_menus[user] = call.json["richMenuId"]
            return _json({}, 202)
        return _json({"message": f"not implemented in the stand-in: {method} {path}"}, 404)

    def _menu_linkable(self, menu_id: str) -> bool:
        menu = self.rich_menus.get(menu_id)
        return menu is not None and menu["image"] is not None

    def _accept(self, call: Call, recipients: list[str], *, sent_messages: bool) -> Response:
        key = call.retry_key
        with self._lock:
            if key is not None and key in self._accepted:
                before = self._accepted[key]
                body: dict[str, Any] = {"message": "The retry key is already accepted"}
                if sent_messages:
                    body["sentMessages"] = before.sent_messages
                return _json(
                    body,
                    409,
                    {
                        "x-line-request-id": str(uuid.uuid4()),
                        "x-line-accepted-request-id": before.request_id,
                    },
                )
            if self.quota_limit is not None and self.usage + len(recipients) > self.quota_limit:
                return _json({"message": "You have reached your monthly limit."}, 429)
            request_id = str(uuid.uuid4())
            sent = [
                {"id": str(next(self._ids)), "quoteToken": secrets.token_urlsafe(12)}
                for _ in call.json["messages"]
            ]
            if key is not None:
                self._accepted[key] = _Accepted(request_id, call.json, sent, time.time())
            self.usage += len(recipients)
            api = "push" if sent_messages else "multicast"
            for to in recipients:
                self._delivered.append((api, to, call.json["messages"]))
        return _json(
            {"sentMessages": sent} if sent_messages else {}, 200, {"x-line-request-id": request_id}
        )

    def _issue_channel_token(self, call: Call) -> Response:
        form = call.form
        if form.get("grant_type") != "client_credentials" or not form.get("client_secret"):
            return _json({"error": "invalid_request", "error_description": "bad request"}, 400)
        if form.get("client_secret") in self.rejected_tokens:
            return _json({"error": "invalid_client", "error_description": "invalid secret"}, 400)
        return _json(
            {
                "access_token": "issued-" + secrets.token_urlsafe(16),
                "expires_in": 2592000,
                "token_type": "Bearer",
            }
        )

    # LINE Login ----------------------------------------------------------------------------

    def authorize(self, url: str, *, user_id: str | None = None) -> str:
        """What LINE's consent screen does: the callback URL with a fresh code."""
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {**params, "sub": user_id or self.login_user}
        query = urlencode({"code": code, "state": params.get("state", "")})
        return f"{params['redirect_uri']}?{query}"

    def authorize_requests(self) -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(c.data.decode() or "").items()}
            for c in self.requests("/oauth2/v2.1/token")
        ]

    def _login(self, request: Request, call: Call) -> Response:
        if call.path == "/oauth2/v2.1/authorize":
            return Response(status=302, headers={"Location": self.authorize(request.url)})
        if call.path == "/dialog/bot/accountLink":
            return Response("account link dialog", status=200)
        if call.path == "/oauth2/v2.1/token":
            return self._token(call.form)
        return _json({"error": "not_found"}, 404)

    def _token(self, form: dict[str, str]) -> Response:
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            return _json({"error": "invalid_grant", "error_description": "invalid code"}, 400)
        client_id = form.get("client_id", "")
        secret = self.login_channels.get(client_id)
        if secret is None or form.get("client_secret") != secret:
            return _json({"error": "invalid_client", "error_description": "invalid client"}, 400)
        if grant.get("client_id") != client_id or form.get("redirect_uri") != grant.get(
            "redirect_uri"
        ):
            return _json({"error": "invalid_grant", "error_description": "redirect_uri"}, 400)
        challenge = grant.get("code_challenge")
        if challenge:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if digest.rstrip(b"=").decode() != challenge:
                return _json({"error": "invalid_grant", "error_description": "code_verifier"}, 400)
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": grant["sub"],
            "aud": client_id,
            "exp": now + 3600,
            "iat": now,
            "amr": ["linesso"],
            "name": self.login_name,
            "picture": f"https://profile.line-scdn.net/{grant['sub']}",
        }
        if grant.get("nonce"):
            claims["nonce"] = grant["nonce"]
        claims.update(self.id_token_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # forged tokens may use weak keys on purpose
            id_token = jwt.encode(
                claims,
                self.id_token_key if self.id_token_key is not None else secret,
                algorithm=self.id_token_algorithm,
                headers=self.id_token_header or None,
            )
        return _json(
            {
                "access_token": "login-" + secrets.token_urlsafe(16),
                "expires_in": 2592000,
                "id_token": id_token,
                "refresh_token": secrets.token_urlsafe(16),
                "scope": grant.get("scope", "openid profile"),
                "token_type": "Bearer",
            }
        )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _default_error(status: int) -> dict[str, Any]:
    messages = {
        429: "The API rate limit has been exceeded. Try again later.",
        500: "Internal server error",
        400: "The request body has 1 error(s)",
    }
    return {"message": messages.get(status, f"error {status}")}


@pytest.fixture(scope="session")
def _line_server() -> Iterator[HTTPServer]:
    for name in ("messaging-api.yml", "channel-access-token.yml"):
        _spec(name)  # parsed once, before any request could wait for it
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def line_api(
    app: Flask, _line_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LineStandIn]:
    stand_in = LineStandIn(base_url=_line_server.url_for("").rstrip("/"))
    _line_server.clear()
    _line_server.expect_request(re.compile(r"^/.*")).respond_with_handler(stand_in.dispatch)
    monkeypatch.setitem(app.config, "LINE_API_BASE_URL", stand_in.base_url)
    monkeypatch.setitem(app.config, "LINE_LOGIN_BASE_URL", stand_in.base_url)
    monkeypatch.setitem(app.config, "LINE_HTTP_TIMEOUT", (1.0, READ_TIMEOUT))
    monkeypatch.setitem(app.config, "LINE_RETRY_BASE_DELAY", 0.0)
    yield stand_in
    _line_server.clear()
    if stand_in.violations and not stand_in._violations_allowed:
        pytest.fail("requests to LINE broke the OpenAPI spec:\n" + "\n".join(stand_in.violations))
