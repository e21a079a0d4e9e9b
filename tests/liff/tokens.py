"""Real-format LIFF ID tokens for tests: ES256 JWTs signed by a test key whose JWKS a local
stand-in serves at /oauth2/v2.1/certs, as LINE does (PROTOCOLS.md §4.3, §5.4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

from server.db import db, utcnow
from server.line.models import LineChannel
from server.shops.models import Shop

ISSUER = "https://access.line.me"


@dataclass
class LineKeys:
    private_key: EllipticCurvePrivateKey
    kid: str

    @property
    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key())
        )
        return {**data, "kid": self.kid, "alg": "ES256", "use": "sig"}

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}


def make_keys(kid: str | None = None) -> LineKeys:
    return LineKeys(ec.generate_private_key(ec.SECP256R1()), kid or secrets.token_hex(8))


def mint(
    keys: LineKeys,
    *,
    aud: str,
    sub: str,
    lifetime: timedelta = timedelta(hours=1),
    algorithm: str = "ES256",
    key: Any = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = utcnow()
    payload = {
        "iss": ISSUER,
        "sub": sub,
        "aud": aud,
        "exp": int((now + lifetime).timestamp()),
        "iat": int(now.timestamp()),
        "amr": ["linesso"],
        "name": "はなこ",
        "picture": "https://profile.line-scdn.net/test",
        **claims,
    }
    signing_key = key if key is not None else keys.private_key
    return jwt.encode(
        payload, signing_key, algorithm=algorithm, headers={"kid": keys.kid, **(headers or {})}
    )


def hand_signed_hs256(payload: dict[str, Any], *, secret: bytes, kid: str) -> str:
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = header + b"." + b64(json.dumps(payload).encode())
    signature = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


_counter = iter(range(10_000_000, 99_999_999))


def make_channel(
    shop: Shop, *, liff_id: str | None = None, login_channel_id: str | None = None
) -> LineChannel:
    number = next(_counter)
    channel = LineChannel(
        shop_id=shop.id,
        channel_key=secrets.token_urlsafe(16),
        channel_id=f"2{number}",
        login_channel_id=login_channel_id or f"1{number}",
        login_channel_secret="0123456789abcdef0123456789abcdef",
        liff_id=liff_id or f"1{number}-{secrets.token_hex(4)}",
        bot_basic_id="@kizuna",
    )
    db.session.add(channel)
    db.session.flush()
    return channel
