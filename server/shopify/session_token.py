"""Shopify session tokens (App Bridge ID tokens): HS256 JWTs signed with the app's API secret.

https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens
The token says which shop (`dest`) and which staff member (`sub`) is calling; `aud` must be our
API key and `iss` must be the same shop's admin URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from server.errors import Unauthorized

from .domains import shop_from_url

LEEWAY_SECONDS = 10  # Shopify's libraries allow this much clock skew
RETRY_HEADER = {"X-Shopify-Retry-Invalid-Session-Request": "1"}


class InvalidSessionToken(Unauthorized):
    code = "invalid_session_token"
    # App Bridge fetches a fresh token and retries once when it sees this header.
    headers = RETRY_HEADER


@dataclass(frozen=True)
class SessionToken:
    shop: str  # x.myshopify.com
    user_id: str | None  # the staff member (`sub`); None for some online-less contexts
    session_id: str | None
    claims: dict[str, Any]


def decode(token: str, *, api_key: str, api_secrets: Sequence[str]) -> SessionToken:
    """Verify a session token signed with one of `api_secrets` (the current secret and, while
    it is rotated, the old one). Raises InvalidSessionToken (401, retry header) on any problem."""
    claims = _verified_claims(token, api_key, api_secrets)
    shop = shop_from_url(str(claims.get("dest", "")))
    issuer_shop = shop_from_url(str(claims.get("iss", "")).removesuffix("/admin"))
    if shop is None or issuer_shop != shop:
        raise InvalidSessionToken("session token iss and dest do not name the same shop")
    sub = claims.get("sub")
    return SessionToken(
        shop=shop, user_id=str(sub) if sub else None, session_id=claims.get("sid"), claims=claims
    )


def _verified_claims(token: str, api_key: str, api_secrets: Sequence[str]) -> dict[str, Any]:
    for position, secret in enumerate(api_secrets):
        try:
            return dict(
                jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],  # never taken from the token's own header
                    audience=api_key,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "nbf", "iss", "dest", "aud"]},
                )
            )
        except jwt.InvalidSignatureError as error:
            if position + 1 == len(api_secrets):
                raise InvalidSessionToken("invalid session token: bad signature") from error
        except jwt.ExpiredSignatureError as error:
            raise InvalidSessionToken("session token expired") from error
        except jwt.InvalidTokenError as error:
            raise InvalidSessionToken(f"invalid session token: {error}") from error
    raise InvalidSessionToken("no secret to verify the session token with")


def encode(claims: dict[str, Any], *, api_secret: str) -> str:
    """Sign claims the way Shopify does; the demo sign-in and the tests use it."""
    return jwt.encode(claims, api_secret, algorithm="HS256")
