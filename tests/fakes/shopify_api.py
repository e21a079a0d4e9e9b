"""A local stand-in for Shopify's HTTP side, following the documented contracts.

Request the `shopify_api` fixture in any test; the app's SHOPIFY_API_BASE_URL points at it for
the test (`http://127.0.0.1:<port>/{shop}`, so each shop has its own path prefix).

What it answers (../shared/refs/shopify/PROTOCOLS.md §1, §7):

- `POST /{shop}/admin/oauth/access_token` — form or JSON, like Shopify:
  * token exchange (`grant_type=urn:ietf:params:oauth:grant-type:token-exchange`): the
    `subject_token` must be a session token signed with the app secret, `aud` = the API key and
    `dest` = this shop, else 400 `{"error": "invalid_subject_token"}`;
  * refresh (`grant_type=refresh_token`): single-use refresh tokens; a reused one is 400
    `{"error": "invalid_grant"}` (unless `refresh_retry_window` seconds allow a retry, as
    Shopify documents);
  * authorization code (`code`, from `issue_authorization_code(shop)`), one use;
  * bad client credentials: 400 `{"error": "invalid_client"}`.
  Expiring offline tokens (`expiring=1`) come back as `{"access_token", "scope", "expires_in":
  3600, "refresh_token", "refresh_token_expires_in": 7776000}`.
- `POST /{shop}/admin/api/{version}/graphql.json` — needs `X-Shopify-Access-Token` (401 with
  Shopify's message otherwise); every document is parsed and validated against the Admin schema
  (../shared/refs/shopify/schema.graphql) and an invalid one gets GraphQL `errors`, as Shopify does.
  Answers come from `on_graphql(name, handler_or_json)`, matched by operation name first, then by
  root field. A handler gets `(variables, call)` and returns either a full body (with `data`
  and/or `errors`) or just the `data` object. Each answer carries `extensions.cost`.
- `GET /files/<name>` — JSONL files registered with `serve_jsonl(lines)` (bulk operation results).

`enable_bulk_operations({"orders": [...], ...})` answers bulkOperationRunQuery, currentBulkOperation
and the *Count queries the way Shopify's bulk API does, with the given JSONL objects.

Tokens: `connect(shop)` gives a shop a valid expiring token pair (what install does). By default
any `shpat_` token that the stand-in has not revoked is accepted, so tests that only need
GraphQL answers work with ShopFactory's tokens; `strict_tokens = True` accepts only tokens this
stand-in issued and that have not expired.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from flask import Flask
from graphql import (
    DocumentNode,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
    validate_schema,
)
from graphql.error import GraphQLError
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from server.db import utcnow

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "refs" / "shopify" / "schema.graphql"
ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 7_776_000
INVALID_TOKEN_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)

Handler = Callable[[dict[str, Any], "GraphQLCall"], dict[str, Any]]


@cache
def admin_schema() -> GraphQLSchema:
    """The 2025-04 Admin GraphQL schema (built once per process: ~3 MB of SDL).

    graphql-core 3.3 refuses Shopify's SDL for one quirk only: implementations that deprecate a
    field their interface does not (e.g. `Customer.hasTimelineComment`). That does not affect
    whether a document is valid, so exactly those schema errors are accepted; any other
    schema error still fails.
    """
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    problems = [
        e.message
        for e in validate_schema(schema)
        if not re.fullmatch(
            r"Interface field \S+ is not deprecated, so implementation field \S+ must not be "
            r"deprecated\.",
            e.message,
        )
    ]
    if problems:
        raise TypeError("; ".join(problems))
    schema._validation_errors = []  # checked above
    return schema


def validate_document(query: str) -> list[GraphQLError]:
    try:
        document = parse(query)
    except GraphQLError as error:
        return [error]
    return list(validate(admin_schema(), document))


@dataclass
class GraphQLCall:
    shop: str
    query: str
    variables: dict[str, Any]
    operation_name: str | None
    root_fields: list[str]
    document: DocumentNode | None
    access_token: str | None
    api_version: str
    errors: list[str] = field(default_factory=list)


@dataclass
class TokenRequest:
    shop: str
    grant_type: str
    params: dict[str, Any]
    content_type: str
    status: int = 200


@dataclass
class IssuedToken:
    shop: str
    expires_at: datetime | None


@dataclass
class IssuedRefresh:
    shop: str
    expires_at: datetime
    used_at: datetime | None = None
    answer: dict[str, Any] | None = None


class ShopifyStandIn:
    def __init__(self, server: HTTPServer, app: Flask) -> None:
        self.server = server
        self.app = app
        self.handlers: dict[str, Handler] = {}
        self.graphql_calls: list[GraphQLCall] = []
        self.token_requests: list[TokenRequest] = []
        self.access_tokens: dict[str, IssuedToken] = {}
        self.refresh_tokens: dict[str, IssuedRefresh] = {}
        self.codes: dict[str, str] = {}
        self.revoked_shops: set[str] = set()
        self.files: dict[str, bytes] = {}
        self.strict_tokens = False
        self.refresh_retry_window = 0.0
        self.scopes = str(app.config["SHOPIFY_SCOPES"])  # Shopify grants what the app requests
        self.graphql_failures: list[tuple[int, dict[str, str]]] = []
        self.token_failures: list[int] = []
        self.token_delay = 0.0  # seconds the token endpoint takes (to widen races in tests)
        # Seconds each next token answer spends in transit after Shopify acted on the request
        # (a refresh token rotated, its answer slow to arrive).
        self.token_answer_delays: list[float] = []
        self.sleeps: list[float] = []  # waits the GraphQL client asked for (not spent)
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    # -- configuration ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/") + "/{shop}"

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def on_graphql(self, name: str, answer: Handler | dict[str, Any]) -> None:
        """Answer the operation called `name` (or with root field `name`) with `answer`."""
        self.handlers[name] = answer if callable(answer) else (lambda _v, _c, a=answer: a)

    def calls(self, name: str | None = None) -> list[GraphQLCall]:
        """GraphQL requests received; only those whose operation or root field is `name`."""
        return [
            c
            for c in self.graphql_calls
            if name is None or c.operation_name == name or name in c.root_fields
        ]

    def fail_graphql(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """The next GraphQL requests get these HTTP statuses (e.g. 503) before normal answers."""
        self.graphql_failures.extend((s, headers or {}) for s in statuses)

    def fail_token_endpoint(self, *statuses: int) -> None:
        self.token_failures.extend(statuses)

    def issue_authorization_code(self, shop: str) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = shop
        return code

    def revoke(self, shop: str) -> None:
        """Uninstall on Shopify's side: every token of the shop stops working."""
        self.revoked_shops.add(shop)

    def connect(self, shop: Any, *, expires_in: int = ACCESS_TOKEN_LIFETIME) -> dict[str, Any]:
        """Give `shop` (a Shop row) a fresh expiring token pair issued by this stand-in."""
        from server.db import db

        answer = self._issue(shop.domain, expiring=True, expires_in=expires_in)
        now = utcnow()
        shop.access_token = answer["access_token"]
        shop.access_token_expires_at = now + timedelta(seconds=answer["expires_in"])
        shop.refresh_token = answer["refresh_token"]
        shop.refresh_token_expires_at = now + timedelta(seconds=REFRESH_TOKEN_LIFETIME)
        shop.scopes = answer["scope"]
        db.session.flush()
        return answer

    def serve_jsonl(self, lines: Iterable[dict[str, Any] | str]) -> str:
        name = f"{uuid.uuid4().hex}.jsonl"
        self.files[name] = "".join(
            (line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
            for line in lines
        ).encode()
        return self.url(f"/files/{name}")

    def enable_bulk_operations(
        self, results: dict[str, list[dict[str, Any]]], *, polls_until_done: int = 1
    ) -> None:
        """Emulate the bulk query API over `results` (root connection name → JSONL objects).

        bulkOperationRunQuery starts an operation over the root connection its inner query
        names; currentBulkOperation answers RUNNING `polls_until_done - 1` times, then COMPLETED
        with a URL to the JSONL. `productsCount`/`customersCount`/`ordersCount` count the root
        objects (lines without `__parentId`).
        """
        state: dict[str, Any] = {"current": None}

        def roots(kind: str) -> list[dict[str, Any]]:
            return [o for o in results.get(kind, []) if "__parentId" not in o]

        def run(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            inner = variables.get("query") or call.query
            kind = next(
                (
                    k
                    for k in ("products", "customers", "orders")
                    if f"{k}(" in inner or f"{k} {{" in inner
                ),
                None,
            )
            if kind is None:
                kind = re.search(r"\{\s*(\w+)", inner).group(1)  # type: ignore[union-attr]
            op_id = f"gid://shopify/BulkOperation/{next(self._counter)}"
            state["current"] = {"id": op_id, "kind": kind, "polls": 0}
            return {
                "bulkOperationRunQuery": {
                    "bulkOperation": {"id": op_id, "status": "CREATED"},
                    "userErrors": [],
                }
            }

        def current(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            op = state["current"]
            if op is None:
                return {"currentBulkOperation": None}
            op["polls"] += 1
            lines = results.get(op["kind"], [])
            if op["polls"] < polls_until_done:
                return {
                    "currentBulkOperation": {
                        "id": op["id"],
                        "status": "RUNNING",
                        "errorCode": None,
                        "objectCount": str(len(lines) // 2),
                        "rootObjectCount": "0",
                        "fileSize": None,
                        "url": None,
                        "partialDataUrl": None,
                    }
                }
            if "url" not in op:
                op["url"] = self.serve_jsonl(lines)
            return {
                "currentBulkOperation": {
                    "id": op["id"],
                    "status": "COMPLETED",
                    "errorCode": None,
                    "objectCount": str(len(lines)),
                    "rootObjectCount": str(len(roots(op["kind"]))),
                    "fileSize": str(len(self.files[op["url"].rsplit("/", 1)[1]])),
                    "url": op["url"],
                    "partialDataUrl": None,
                }
            }

        def counts(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            return {
                f"{kind}Count": {"count": len(roots(kind)), "precision": "EXACT"}
                for kind in ("products", "customers", "orders")
                if f"{kind}Count" in call.root_fields
            }

        self.on_graphql("bulkOperationRunQuery", run)
        self.on_graphql("currentBulkOperation", current)
        for kind in ("products", "customers", "orders"):
            self.on_graphql(f"{kind}Count", counts)

    def serve_collections(self, collections: dict[int, dict[str, Any]]) -> None:
        """Answer `collections` and `collection(id:)` over `collections` (id → {"title",
        "handle", "smart", "products": [product ids]}), paginated by `first`/`after` as the
        Admin API does (opaque cursors; `collection` is null for an unknown id). Edit the dict
        to change what Shopify has."""

        def first(call: GraphQLCall, field: str) -> int:
            match = re.search(rf"{field}\(first:\s*(\d+)", call.query)
            return int(match.group(1)) if match else 50

        def page(
            items: list[Any], size: int, after: str | None
        ) -> tuple[list[Any], dict[str, Any]]:
            start = int(after.removeprefix("cursor:")) if after else 0
            chunk = items[start : start + size]
            end = start + len(chunk)
            info = {
                "hasNextPage": end < len(items),
                "endCursor": f"cursor:{end}" if chunk else None,
            }
            return chunk, info

        def listing(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            nodes, info = page(
                sorted(collections), first(call, "collections"), variables.get("after")
            )
            return {
                "collections": {
                    "pageInfo": info,
                    "nodes": [{"id": f"gid://shopify/Collection/{i}"} for i in nodes],
                }
            }

        def one(variables: dict[str, Any], call: GraphQLCall) -> dict[str, Any]:
            collection_id = int(str(variables["id"]).rsplit("/", 1)[1])
            c = collections.get(collection_id)
            if c is None:
                return {"collection": None}
            products, info = page(
                list(c["products"]), first(call, "products"), variables.get("after")
            )
            return {
                "collection": {
                    "id": f"gid://shopify/Collection/{collection_id}",
                    "title": c["title"],
                    "handle": c.get("handle", f"collection-{collection_id}"),
                    "updatedAt": "2026-11-30T01:00:00Z",
                    "ruleSet": {"appliedDisjunctively": False} if c.get("smart") else None,
                    "products": {
                        "pageInfo": info,
                        "nodes": [{"id": f"gid://shopify/Product/{p}"} for p in products],
                    },
                }
            }

        self.on_graphql("collections", listing)
        self.on_graphql("collection", one)

    # -- HTTP ------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/files/"):
            body = self.files.get(path.removeprefix("/files/"))
            if body is None:
                return Response("not found", status=404)
            return Response(body, content_type="application/jsonl")
        match = re.fullmatch(r"/([^/]+)/admin/oauth/access_token", path)
        if match and request.method == "POST":
            return self._token(match.group(1), request)
        match = re.fullmatch(r"/([^/]+)/admin/api/([^/]+)/graphql\.json", path)
        if match and request.method == "POST":
            return self._graphql(match.group(1), match.group(2), request)
        return Response(
            json.dumps({"errors": "Not Found"}), status=404, content_type="application/json"
        )

    def _token(self, shop: str, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "")
        raw = request.get_data(as_text=True)
        if content_type.startswith("application/json"):
            params: dict[str, Any] = json.loads(raw or "{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw).items()}
        grant_type = str(
            params.get("grant_type") or ("authorization_code" if "code" in params else "")
        )
        if self.token_delay:
            time.sleep(self.token_delay)
        record = TokenRequest(
            shop=shop, grant_type=grant_type, params=params, content_type=content_type
        )
        with self._lock:
            self.token_requests.append(record)
            if self.token_failures:
                record.status = self.token_failures.pop(0)
                return Response("", status=record.status)
            status, answer = self._grant(shop, grant_type, params)
            in_transit = self.token_answer_delays.pop(0) if self.token_answer_delays else 0.0
        record.status = status
        time.sleep(in_transit)
        return Response(json.dumps(answer), status=status, content_type="application/json")

    def _grant(
        self, shop: str, grant_type: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        config = self.app.config
        if (
            params.get("client_id") != config["SHOPIFY_API_KEY"]
            or params.get("client_secret") != config["SHOPIFY_API_SECRET"]
        ):
            return 400, {"error": "invalid_client"}
        expiring = str(params.get("expiring", "0")) in ("1", "true", "True")
        if grant_type == "urn:ietf:params:oauth:grant-type:token-exchange":
            claims = _issued_session_token(str(params.get("subject_token", "")), config)
            if claims is None:
                return 400, {"error": "invalid_subject_token"}
            if claims.get("dest") != f"https://{shop}":
                return 400, {"error": "invalid_subject_token"}
            if params.get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token":
                return 400, {"error": "invalid_request"}
            self.revoked_shops.discard(shop)
            return 200, self._issue(shop, expiring=expiring)
        if grant_type == "refresh_token":
            token = self.refresh_tokens.get(str(params.get("refresh_token", "")))
            now = utcnow()
            if (
                token is None
                or token.shop != shop
                or token.expires_at <= now
                or shop in self.revoked_shops
            ):
                return 400, {"error": "invalid_grant"}
            if token.used_at is not None:
                if (
                    token.answer
                    and (now - token.used_at).total_seconds() <= self.refresh_retry_window
                ):
                    return 200, token.answer
                return 400, {"error": "invalid_grant"}
            token.used_at = now
            token.answer = self._issue(shop, expiring=True)
            return 200, token.answer
        if grant_type == "authorization_code":
            if self.codes.pop(str(params.get("code", "")), None) != shop:
                return 400, {"error": "invalid_grant"}
            self.revoked_shops.discard(shop)
            return 200, self._issue(shop, expiring=expiring)
        return 400, {"error": "unsupported_grant_type"}

    def _issue(
        self, shop: str, *, expiring: bool, expires_in: int = ACCESS_TOKEN_LIFETIME
    ) -> dict[str, Any]:
        now = utcnow()
        access = f"shpat_{secrets.token_hex(16)}"
        if not expiring:
            self.access_tokens[access] = IssuedToken(shop=shop, expires_at=None)
            return {"access_token": access, "scope": self.scopes}
        refresh = f"shprt_{secrets.token_hex(16)}"
        self.access_tokens[access] = IssuedToken(
            shop=shop, expires_at=now + timedelta(seconds=expires_in)
        )
        self.refresh_tokens[refresh] = IssuedRefresh(
            shop=shop, expires_at=now + timedelta(seconds=REFRESH_TOKEN_LIFETIME)
        )
        return {
            "access_token": access,
            "scope": self.scopes,
            "expires_in": expires_in,
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
        }

    def _token_valid(self, shop: str, token: str | None) -> bool:
        if not token or shop in self.revoked_shops:
            return False
        issued = self.access_tokens.get(token)
        if issued is not None:
            return issued.shop == shop and (
                issued.expires_at is None or issued.expires_at > utcnow()
            )
        return not self.strict_tokens and token.startswith("shpat_")

    def _graphql(self, shop: str, version: str, request: Request) -> Response:
        token = request.headers.get("X-Shopify-Access-Token")
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return Response(
                json.dumps({"errors": "Bad Request"}), status=400, content_type="application/json"
            )
        query = str(body.get("query", ""))
        call = GraphQLCall(
            shop=shop,
            query=query,
            variables=body.get("variables") or {},
            operation_name=None,
            root_fields=[],
            document=None,
            access_token=token,
            api_version=version,
        )
        try:
            call.document = parse(query)
            operation = next(
                d for d in call.document.definitions if isinstance(d, OperationDefinitionNode)
            )
            call.operation_name = operation.name.value if operation.name else None
            call.root_fields = [s.name.value for s in operation.selection_set.selections]  # type: ignore[attr-defined]
        except (GraphQLError, StopIteration) as error:
            call.errors = [str(error)]
        with self._lock:
            self.graphql_calls.append(call)
            failure = self.graphql_failures.pop(0) if self.graphql_failures else None
        if not self._token_valid(shop, token):
            return Response(
                json.dumps({"errors": INVALID_TOKEN_MESSAGE}),
                status=401,
                content_type="application/json",
            )
        if failure is not None:
            return Response(
                json.dumps({"errors": "Internal error"}),
                status=failure[0],
                headers=failure[1],
                content_type="application/json",
            )
        if not call.errors:
            call.errors = [e.message for e in validate_document(query)]
        if call.errors:
            return self._json({"errors": [{"message": m} for m in call.errors]})
        handler = self.handlers.get(call.operation_name or "") or next(
            (self.handlers[f] for f in call.root_fields if f in self.handlers), None
        )
        if handler is None:
            wanted = call.operation_name or call.root_fields
            return self._json({"errors": [{"message": f"the stand-in has no answer for {wanted}"}]})
        answer = handler(call.variables, call)
        payload = answer if ("data" in answer or "errors" in answer) else {"data": answer}
        payload.setdefault("extensions", {"cost": default_cost()})
        return self._json(payload)

    @staticmethod
    def _json(payload: dict[str, Any]) -> Response:
        return Response(json.dumps(payload), status=200, content_type="application/json")


def default_cost(requested: int = 10, available: float = 1990.0) -> dict[str, Any]:
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": requested,
        "throttleStatus": {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": available,
            "restoreRate": 100.0,
        },
    }


def throttled_answer(requested: int = 500, available: float = 100.0) -> dict[str, Any]:
    """Shopify's answer when the bucket cannot pay for the query (HTTP 200, THROTTLED)."""
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": {"cost": default_cost(requested, available) | {"actualQueryCost": None}},
    }


@pytest.fixture(scope="session")
def _shopify_server() -> Iterator[HTTPServer]:
    admin_schema()  # built before the first request, not while a client waits for an answer
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def shopify_api(
    app: Flask, _shopify_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ShopifyStandIn]:
    from server.shopify import client

    stand_in = ShopifyStandIn(_shopify_server, app)
    _shopify_server.clear()
    _shopify_server.expect_request(re.compile(r"^/.*")).respond_with_handler(stand_in.dispatch)
    monkeypatch.setitem(app.config, "SHOPIFY_API_BASE_URL", stand_in.base_url)
    monkeypatch.setattr(client, "sleep", stand_in.sleeps.append)
    client._buckets.clear()
    yield stand_in
    client._buckets.clear()
    _shopify_server.clear()


def _issued_session_token(token: str, config: Any) -> dict[str, Any] | None:
    """The claims of a session token Shopify issued: during a secret rotation it may still be
    signed with the old secret, which Shopify knows too."""
    for secret in (config["SHOPIFY_API_SECRET"], config.get("SHOPIFY_API_SECRET_OLD")):
        if not secret:
            continue
        try:
            return dict(
                jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    audience=config["SHOPIFY_API_KEY"],
                    leeway=10,
                )
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError:
            return None
    return None
