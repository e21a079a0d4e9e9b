"""LIFF ID tokens: ES256 JWTs signed with LINE's keys, verified here against a cached JWKS.

LIFF issues ES256 ID tokens (key from `{LINE_API_BASE_URL}/oauth2/v2.1/certs`, chosen by the
header's `kid`); HS256 belongs to web login and is refused here, as is every other algorithm
(https://developers.line.biz/en/docs/line-login/verify-id-token/). The shop is the one whose
LINE Login channel id is the token's `aud`, cross-checked with the LIFF app the request came
through. Never trust the token's claims before the signature is checked: the unverified `aud`
only picks which channel's rules to check the token against.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from sqlalchemy import select

from server import http
from server.db import db
from server.errors import Unauthorized, Unavailable
from server.line.models import LineChannel
from server.shops.models import Shop

log = logging.getLogger(__name__)

ISSUER = "https://access.line.me"
ALGORITHM = "ES256"
LEEWAY_SECONDS = 10
JWKS_TTL = 3600.0  # LINE rotates keys rarely; an unknown kid triggers an earlier refresh
MIN_REFRESH_INTERVAL = 60.0  # a flood of unknown kids cannot hammer LINE's key endpoint
USER_ID = re.compile(r"^U[0-9a-f]{32}$")
LIFF_ID = re.compile(r"^[0-9]{6,20}-[A-Za-z0-9]{4,32}$")


class InvalidIdToken(Unauthorized):
    code = "invalid_id_token"


@dataclass
class _KeySet:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = 0.0


_key_sets: dict[str, _KeySet] = {}
_lock = threading.Lock()


def clear_key_cache() -> None:
    with _lock:
        _key_sets.clear()


@dataclass(frozen=True)
class VerifiedToken:
    channel: LineChannel
    shop: Shop
    user_id: str
    claims: dict[str, Any]


def verify(token: str, *, liff_id: str | None) -> VerifiedToken:
    """Check a LIFF ID token and find the shop's channel it belongs to.

    Raises InvalidIdToken (401) for a malformed, wrongly signed, expired, foreign-channel or
    wrong-algorithm token, and Unavailable (503) when LINE's keys cannot be fetched.
    """
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise InvalidIdToken("the ID token is not a JWT") from error
    if header.get("alg") != ALGORITHM:
        raise InvalidIdToken(f"LIFF ID tokens are {ALGORITHM}; got {header.get('alg')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidIdToken("the ID token names no key (kid)")
    if not liff_id or not LIFF_ID.match(liff_id):
        raise InvalidIdToken("the request does not say which LIFF app it came from")
    audience = unverified.get("aud")
    if isinstance(audience, list):
        audience = audience[0] if len(audience) == 1 else None
    if not isinstance(audience, str) or not audience:
        raise InvalidIdToken("the ID token has no audience")
    found = db.session.execute(
        select(LineChannel, Shop)
        .join(Shop, Shop.id == LineChannel.shop_id)
        .where(LineChannel.login_channel_id == audience, LineChannel.liff_id == liff_id)
    ).first()
    if found is None:
        raise InvalidIdToken("the ID token is not for this LIFF app's channel")
    channel, shop = found
    key = signing_key(kid)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=channel.login_channel_id,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidIdToken("the ID token has expired") from error
    except jwt.InvalidAudienceError as error:
        raise InvalidIdToken("the ID token is for another channel") from error
    except jwt.InvalidIssuerError as error:
        raise InvalidIdToken("the ID token was not issued by LINE") from error
    except jwt.PyJWTError as error:
        raise InvalidIdToken(f"the ID token is invalid ({type(error).__name__})") from error
    user_id = claims.get("sub")
    if not isinstance(user_id, str) or not USER_ID.match(user_id):
        raise InvalidIdToken("the ID token's subject is not a LINE user id")
    return VerifiedToken(channel=channel, shop=shop, user_id=user_id, claims=claims)


def signing_key(kid: str) -> jwt.PyJWK:
    """LINE's public key `kid`, from the cached JWKS (fetched again when stale or unknown)."""
    url = http.base_url("LINE_API_BASE_URL") + "/oauth2/v2.1/certs"
    now = time.monotonic()
    with _lock:
        cached = _key_sets.get(url)
        fresh = cached is not None and now - cached.fetched_at < JWKS_TTL
        if cached is not None and fresh and kid in cached.keys:
            return cached.keys[kid]
        recently = cached is not None and now - cached.fetched_at < MIN_REFRESH_INTERVAL
    if recently:
        raise InvalidIdToken("the ID token is signed with an unknown key")
    try:
        keys = _fetch(url)
    except (http.RequestException, ValueError) as error:
        log.warning("LINE JWKS unreachable: %s", type(error).__name__)
        if cached is not None and kid in cached.keys:
            return cached.keys[kid]  # a stale key beats refusing every customer
        raise Unavailable("LINE's signing keys cannot be fetched; try again shortly") from error
    with _lock:
        _key_sets[url] = _KeySet(keys=keys, fetched_at=time.monotonic())
    if kid not in keys:
        raise InvalidIdToken("the ID token is signed with an unknown key")
    return keys[kid]


def _fetch(url: str) -> dict[str, jwt.PyJWK]:
    response = http.request("GET", url, timeout=(3.05, 5.0))
    response.raise_for_status()
    document = json.loads(response.content)
    keys: dict[str, jwt.PyJWK] = {}
    for data in document.get("keys", []):
        if data.get("kty") != "EC" or data.get("crv") != "P-256" or not data.get("kid"):
            continue
        try:
            keys[str(data["kid"])] = jwt.PyJWK(data, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            log.warning("skipping an unusable key in LINE's JWKS")
    return keys
