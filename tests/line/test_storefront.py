"""The storefront link page through the App Proxy, and both linking paths from it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from server.commerce.models import Customer
from server.db import db
from server.line.models import LineChannel
from server.line.services import find_line_user
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.line.helpers import post_webhook, storefront

USER = "U" + "a" * 32


@pytest.fixture
def channel(shop: Shop, line_api: LineStandIn) -> LineChannel:
    channel = LineChannelFactory(shop=shop)
    line_api.add_login_channel(channel.login_channel_id or "", channel.login_channel_secret or "")
    db.session.commit()
    return channel


@pytest.fixture
def customer(shop: Shop) -> Customer:
    customer = CustomerFactory(shop=shop)
    db.session.commit()
    return customer


def test_an_anonymous_visitor_is_sent_to_the_store_login_and_back(
    client: FlaskClient, shop: Shop, channel: LineChannel
) -> None:
    response = storefront(client, shop.domain, "/link", query=[("linkToken", "abc+/=")])

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/account/login?return_url=")
    back = unquote(location.split("return_url=", 1)[1])
    assert back == "/apps/kizuna/link?linkToken=abc%2B%2F%3D"


def test_a_forged_proxy_request_is_refused(client: FlaskClient, shop: Shop) -> None:
    response = client.get(f"/proxy/link?shop={shop.domain}&logged_in_customer_id=1&signature=0")
    assert response.status_code == 401


def test_a_signed_in_customer_is_offered_line_login_with_the_unlink_note(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    page = storefront(client, shop.domain, "/link", customer=str(customer.shopify_id))

    assert page.status_code == 200
    assert page.mimetype == "application/liquid"
    assert "LINEでログインして連携" in page.text
    assert "いつでも解除" in page.text
    start = re.search(r'href="([^"]+/line/login/start\?ticket=[^"]+)"', page.text)
    assert start is not None

    # The rest happens on our own domain (the proxy cannot carry cookies).
    authorize = client.get(start.group(1).replace("https://kizuna.test", ""))
    assert authorize.status_code == 302
    callback = line_api.authorize(authorize.headers["Location"], user_id=USER)
    result = client.get(callback.replace("https://kizuna.test", ""))

    assert 'data-outcome="linked"' in result.text
    user = find_line_user(shop, USER)
    assert user is not None
    assert user.customer_id == customer.id


def test_a_customer_not_synced_yet_gets_a_placeholder_row(
    client: FlaskClient, shop: Shop, channel: LineChannel
) -> None:
    page = storefront(client, shop.domain, "/link", customer="7777777777")

    assert page.status_code == 200
    assert (
        db.session.scalar(
            select(Customer).where(Customer.shop_id == shop.id, Customer.shopify_id == 7777777777)
        )
        is not None
    )


def test_the_account_link_button_from_the_chat_completes_the_link(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    post_webhook(client, channel, [helpers.postback(USER, "action=link")])
    button = line_api.replies()[-1].json["messages"][0]["template"]["actions"][0]["uri"]
    link_token = parse_qs(urlsplit(button).query)["linkToken"][0]

    response = storefront(
        client,
        shop.domain,
        "/link",
        customer=str(customer.shopify_id),
        query=[("linkToken", link_token)],
    )

    assert response.status_code == 302
    dialog = urlsplit(response.headers["Location"])
    assert dialog.path == "/dialog/bot/accountLink"
    nonce = parse_qs(dialog.query)["nonce"][0]

    post_webhook(client, channel, [helpers.account_link(USER, nonce)])

    user = find_line_user(shop, USER)
    assert user is not None
    db.session.refresh(user)
    assert user.customer_id == customer.id

    again = storefront(
        client,
        shop.domain,
        "/link",
        customer=str(customer.shopify_id),
        query=[("linkToken", link_token)],
    )
    assert again.status_code == 400  # the link token was used
    assert "有効期限" in again.text


def test_a_link_token_for_a_customer_already_linked_elsewhere_shows_the_conflict(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    LineUserFactory(shop=shop, customer_id=customer.id)
    db.session.commit()
    post_webhook(client, channel, [helpers.postback(USER, "action=link")])
    button = line_api.replies()[-1].json["messages"][0]["template"]["actions"][0]["uri"]
    link_token = parse_qs(urlsplit(button).query)["linkToken"][0]

    response = storefront(
        client,
        shop.domain,
        "/link",
        customer=str(customer.shopify_id),
        query=[("linkToken", link_token)],
    )

    assert response.status_code == 409
    assert "別のLINEアカウントと連携" in response.text


def test_a_linked_customer_can_unlink_from_the_store_and_forms_cannot_be_forged(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    friend = LineUserFactory(shop=shop, line_user_id=USER, customer_id=customer.id)
    db.session.commit()

    page = storefront(client, shop.domain, "/link", customer=str(customer.shopify_id))
    assert "LINEと連携済みです" in page.text
    token = re.search(r'name="token" value="([0-9a-f]+)"', page.text)
    assert token is not None

    forged = storefront(
        client,
        shop.domain,
        "/link/unlink",
        customer=str(customer.shopify_id),
        method="POST",
        form={"token": "0" * 64},
    )
    assert forged.status_code == 403
    other = CustomerFactory(shop=shop)
    db.session.commit()
    stolen = storefront(
        client,
        shop.domain,
        "/link/unlink",
        customer=str(other.shopify_id),
        method="POST",
        form={"token": token.group(1)},
    )
    assert stolen.status_code == 403
    db.session.refresh(friend)
    assert friend.customer_id == customer.id

    done = storefront(
        client,
        shop.domain,
        "/link/unlink",
        customer=str(customer.shopify_id),
        method="POST",
        form={"token": token.group(1)},
    )

    assert done.status_code == 200
    assert "連携を解除しました" in done.text
    db.session.refresh(friend)
    assert friend.customer_id is None
