"""Every /api/liff request carries a LIFF ID token: ES256, LINE's key, this channel, not expired."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pytest_httpserver import HTTPServer

from server.db import db, utcnow
from server.line.models import LineUser
from tests.factories.shops import ShopFactory
from tests.liff.conftest import LiffClient, Visitor, make_visitor
from tests.liff.tokens import LineKeys, hand_signed_hs256, make_channel, make_keys, mint


def certs_calls(httpserver: HTTPServer) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == "/oauth2/v2.1/certs")


def test_a_valid_token_opens_the_card(liff: LiffClient, visitor: Visitor) -> None:
    response = liff.get("/api/liff/me", as_visitor=visitor)

    assert response.status_code == 200
    assert response.json["linked"] is True
    assert response.json["member_number"] == visitor.member.member_number


def test_the_keys_are_fetched_once_and_cached(
    liff: LiffClient, visitor: Visitor, httpserver: HTTPServer
) -> None:
    for _ in range(3):
        assert liff.get("/api/liff/me", as_visitor=visitor).status_code == 200

    assert certs_calls(httpserver) == 1


def test_no_token_is_refused(client, visitor: Visitor, line_keys: LineKeys) -> None:
    response = client.get("/api/liff/me", headers={"X-Liff-Id": visitor.channel.liff_id})

    assert response.status_code == 401
    assert response.json["error"] == "invalid_id_token"


def test_an_expired_token_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    token = mint(
        line_keys,
        aud=visitor.channel.login_channel_id,
        sub=visitor.line_user.line_user_id,
        lifetime=timedelta(minutes=-5),
    )

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401
    assert "expired" in response.json["message"]


def test_a_token_for_another_channel_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    token = mint(line_keys, aud="1999999999", sub=visitor.line_user.line_user_id)

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401


def test_another_shops_token_through_this_liff_app_is_refused(
    liff: LiffClient, visitor: Visitor, app_ctx: None
) -> None:
    other = make_visitor(ShopFactory())
    # A genuine token of shop B's channel, sent through shop A's LIFF app.
    response = liff.get("/api/liff/me", as_visitor=other, liff_id=visitor.channel.liff_id)

    assert response.status_code == 401


def test_hs256_signed_with_the_channel_secret_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    # HS256 is web login's algorithm; LIFF tokens are ES256 only.
    token = mint(
        line_keys,
        aud=visitor.channel.login_channel_id,
        sub=visitor.line_user.line_user_id,
        algorithm="HS256",
        key=visitor.channel.login_channel_secret,
    )

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401
    assert "ES256" in response.json["message"]


def test_hs256_signed_with_the_public_key_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    # The classic confusion: the public key's bytes used as an HMAC secret.
    public_pem = line_keys.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # PyJWT itself refuses PEM keys as HMAC secrets, so the forger signs by hand.
    token = hand_signed_hs256(
        {
            "iss": "https://access.line.me",
            "sub": visitor.line_user.line_user_id,
            "aud": visitor.channel.login_channel_id,
            "exp": int((utcnow() + timedelta(hours=1)).timestamp()),
            "iat": int(utcnow().timestamp()),
        },
        secret=public_pem,
        kid=line_keys.kid,
    )

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401


def test_an_unsigned_token_is_refused(liff: LiffClient, visitor: Visitor) -> None:
    token = jwt.encode(
        {
            "iss": "https://access.line.me",
            "sub": visitor.line_user.line_user_id,
            "aud": visitor.channel.login_channel_id,
            "exp": 4102444800,
            "iat": 1,
        },
        key=None,
        algorithm="none",
    )

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401


def test_a_token_signed_by_another_key_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    forger = make_keys(kid=line_keys.kid)  # same kid, different private key
    token = mint(forger, aud=visitor.channel.login_channel_id, sub=visitor.line_user.line_user_id)

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401


def test_a_token_from_another_issuer_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys
) -> None:
    token = mint(
        line_keys,
        aud=visitor.channel.login_channel_id,
        sub=visitor.line_user.line_user_id,
        iss="https://evil.example",
    )

    response = liff.get("/api/liff/me", as_visitor=visitor, token=token)

    assert response.status_code == 401


def test_an_unknown_key_id_is_refused_without_hammering_line(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys, httpserver: HTTPServer
) -> None:
    stranger = make_keys()
    token = mint(stranger, aud=visitor.channel.login_channel_id, sub=visitor.line_user.line_user_id)

    for _ in range(3):
        assert liff.get("/api/liff/me", as_visitor=visitor, token=token).status_code == 401

    assert certs_calls(httpserver) == 1


def test_a_request_without_its_liff_app_is_refused(
    client, visitor: Visitor, liff: LiffClient
) -> None:
    response = client.get(
        "/api/liff/me", headers={"Authorization": f"Bearer {liff.token(visitor)}"}
    )

    assert response.status_code == 401


def test_a_shop_that_uninstalled_is_refused(liff: LiffClient, visitor: Visitor) -> None:
    visitor.shop.uninstalled_at = utcnow()
    db.session.commit()

    assert liff.get("/api/liff/me", as_visitor=visitor).status_code == 401


def test_line_keys_unreachable_is_a_503_not_a_crash(
    liff: LiffClient, visitor: Visitor, httpserver: HTTPServer
) -> None:
    httpserver.clear()
    httpserver.expect_request("/oauth2/v2.1/certs").respond_with_data("down", status=500)

    response = liff.get("/api/liff/me", as_visitor=visitor)

    assert response.status_code == 503
    assert response.json["error"] == "unavailable"


def test_a_first_visit_creates_the_line_user(liff: LiffClient, shop, line_keys: LineKeys) -> None:
    channel = make_channel(shop)
    db.session.commit()
    user_id = "U" + "ab" * 16
    token = mint(line_keys, aud=channel.login_channel_id, sub=user_id, name="新しい人")

    response = liff.client.get(
        "/api/liff/me", headers={"Authorization": f"Bearer {token}", "X-Liff-Id": channel.liff_id}
    )

    assert response.status_code == 200
    assert response.json["linked"] is False
    created = db.session.query(LineUser).filter_by(shop_id=shop.id, line_user_id=user_id).one()
    assert created.display_name == "新しい人"


@pytest.mark.parametrize("sub", ["", "not-a-line-id", "U123"])
def test_a_subject_that_is_not_a_line_user_id_is_refused(
    liff: LiffClient, visitor: Visitor, line_keys: LineKeys, sub: str
) -> None:
    token = mint(line_keys, aud=visitor.channel.login_channel_id, sub=sub)

    assert liff.get("/api/liff/me", as_visitor=visitor, token=token).status_code == 401
