"""LINE Login (OAuth 2.0 + OpenID Connect) through authlib, one client per shop's channel.

LINE signs web-login ID tokens with HS256 and the channel secret, while its discovery document
advertises ES256 only; authlib would refuse them, so the client is registered by hand with the
secret as an `oct` JWK and HS256 as the only algorithm (PROTOCOLS.md §4.4). authlib checks the
signature, `iss`, `aud` (our channel id), `exp` and the `nonce` it generated. PKCE (S256) and
a single-use state: the state lives in the database (`LoginState`) and is deleted on first use,
so a replayed callback finds nothing even with an old session cookie.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app
from sqlalchemy import delete, select

from server.db import db, utcnow
from server.http import DEFAULT_TIMEOUT
from server.line.models import LineChannel

from .models import LoginState

ISSUER = "https://access.line.me"
STATE_TTL = timedelta(minutes=10)
LEEWAY_SECONDS = 30


class DatabaseStateCache:
    """authlib's `cache` interface (get / set / delete) over the login_states table."""

    def get(self, key: str) -> str | None:
        row = db.session.scalar(select(LoginState).where(LoginState.key == key))
        if row is None or row.expires_at <= utcnow():
            return None
        return row.value

    def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        now = utcnow()
        db.session.execute(delete(LoginState).where(LoginState.expires_at < now))
        db.session.execute(delete(LoginState).where(LoginState.key == key))
        db.session.add(LoginState(key=key, value=value, expires_at=now + STATE_TTL))
        db.session.flush()

    def delete(self, key: str) -> None:
        db.session.execute(delete(LoginState).where(LoginState.key == key))
        db.session.flush()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_for(channel: LineChannel) -> FlaskOAuth2App:
    secret = channel.login_channel_secret or ""
    login_base = str(current_app.config["LINE_LOGIN_BASE_URL"]).rstrip("/")
    api_base = str(current_app.config["LINE_API_BASE_URL"]).rstrip("/")
    integration = FlaskIntegration("line", cache=DatabaseStateCache())
    integration.expires_in = int(STATE_TTL.total_seconds())
    return FlaskOAuth2App(
        integration,
        name="line",
        client_id=channel.login_channel_id,
        client_secret=secret,
        authorize_url=f"{login_base}/oauth2/v2.1/authorize",
        access_token_url=f"{api_base}/oauth2/v2.1/token",
        issuer=ISSUER,
        id_token_signing_alg_values_supported=["HS256"],
        # Never served anywhere: the channel secret is the HS256 key of web-login ID tokens.
        jwks={
            "keys": [
                {"kty": "oct", "alg": "HS256", "use": "sig", "k": _b64url(secret.encode("utf-8"))}
            ]
        },
        client_kwargs={
            "scope": "openid profile",
            "token_endpoint_auth_method": "client_secret_post",
            "code_challenge_method": "S256",
            "default_timeout": tuple(
                current_app.config.get("LINE_HTTP_TIMEOUT") or DEFAULT_TIMEOUT
            ),
        },
    )


def authorization(channel: LineChannel, redirect_uri: str) -> dict[str, Any]:
    """Start LINE Login: returns authlib's data (url, state, nonce, code_verifier) after
    saving it under the state. `bot_prompt=aggressive` offers to befriend the account."""
    client = client_for(channel)
    data: dict[str, Any] = client.create_authorization_url(redirect_uri, bot_prompt="aggressive")
    client.save_authorize_data(redirect_uri=redirect_uri, **data)
    return data


def verified_claims(channel: LineChannel) -> dict[str, Any]:
    """Exchange the callback's code and return the verified ID token claims. Raises authlib or
    joserfc errors for a bad state, code, signature, algorithm, issuer, audience, expiry or
    nonce."""
    client = client_for(channel)
    token = client.authorize_access_token(
        claims_options={"iss": {"essential": True, "values": [ISSUER]}},
        leeway=LEEWAY_SECONDS,
    )
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise ValueError("LINE returned no verified ID token")
    return dict(json.loads(json.dumps(dict(claims))))
