from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.commerce.models import Customer
from server.db import db, utcnow
from server.line.models import LineChannel, LineUser
from server.line.services import find_line_user
from server.linking import services as linking
from server.linking.models import LinkIncentiveGrant, LinkOutcome, LinkRequest, LoginState
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.fakes.line_api import LineStandIn
from tests.line import helpers
from tests.line.helpers import post_webhook

USER = "U" + "a" * 32


@pytest.fixture
def channel(shop: Shop, line_api: LineStandIn) -> LineChannel:
    channel = LineChannelFactory(shop=shop, link_incentive_points=100)
    line_api.add_login_channel(channel.login_channel_id or "", channel.login_channel_secret or "")
    return channel


@pytest.fixture
def customer(shop: Shop) -> Customer:
    return CustomerFactory(shop=shop)


@pytest.fixture
def listened(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {"link": [], "incentive": [], "unlink": []}

    def on_link(shop: Shop, line_user: LineUser, customer: Customer, *, now: Any) -> None:
        calls["link"].append((line_user.line_user_id, customer.id))

    def on_incentive(
        shop: Shop, line_user: LineUser, customer: Customer, *, points: int, now: Any
    ) -> None:
        calls["incentive"].append((customer.id, points))

    def on_unlink(shop: Shop, line_user: LineUser, customer: Customer, *, now: Any) -> None:
        calls["unlink"].append((line_user.line_user_id, customer.id))

    monkeypatch.setattr(linking, "LINK_LISTENERS", (on_link,))
    monkeypatch.setattr(linking, "LINK_INCENTIVE_LISTENERS", (on_incentive,))
    monkeypatch.setattr(linking, "UNLINK_LISTENERS", (on_unlink,))
    return calls


def line_user(shop: Shop, user_id: str = USER) -> LineUser:
    user = find_line_user(shop, user_id)
    assert user is not None
    db.session.refresh(user)
    return user


def request_link_token(
    client: FlaskClient, channel: LineChannel, line_api: LineStandIn, user_id: str = USER
) -> str:
    post_webhook(client, channel, [helpers.postback(user_id, "action=link")])
    action = line_api.replies()[-1].json["messages"][0]["template"]["actions"][0]
    return parse_qs(urlsplit(action["uri"]).query)["linkToken"][0]


def dialog_nonce(url: str) -> str:
    return parse_qs(urlsplit(url).query)["nonce"][0]


# Messaging API account link ----------------------------------------------------------------------


def test_the_account_link_flow_links_once_and_grants_the_incentive_once(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    link_token = request_link_token(client, channel, line_api)

    url = linking.begin_account_link(shop, customer, link_token, now=utcnow())
    db.session.commit()

    parts = urlsplit(url)
    assert parts.path == "/dialog/bot/accountLink"
    query = parse_qs(parts.query)
    assert query["linkToken"] == [link_token]
    nonce = query["nonce"][0]
    assert 10 <= len(nonce) <= 255

    post_webhook(client, channel, [helpers.account_link(USER, nonce)])

    user = line_user(shop)
    assert user.customer_id == customer.id
    assert listened["link"] == [(USER, customer.id)]
    assert listened["incentive"] == [(customer.id, 100)]
    confirmation = line_api.replies()[-1].json["messages"][0]["text"]
    assert "100ポイント" in confirmation
    assert "いつでも解除" in confirmation


def test_a_reused_nonce_changes_nothing(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    link_token = request_link_token(client, channel, line_api)
    nonce = dialog_nonce(linking.begin_account_link(shop, customer, link_token, now=utcnow()))
    db.session.commit()
    post_webhook(client, channel, [helpers.account_link(USER, nonce)])
    linking.unlink(shop, line_user(shop), by="merchant", now=utcnow())
    db.session.commit()

    post_webhook(client, channel, [helpers.account_link(USER, nonce)])  # a new event, same nonce

    assert line_user(shop).customer_id is None
    assert len(listened["link"]) == 1
    assert "有効期限" in line_api.replies()[-1].json["messages"][0]["text"]


def test_an_unknown_nonce_is_refused(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    post_webhook(client, channel, [helpers.account_link(USER, "forged-nonce-0123456789")])

    assert line_user(shop).customer_id is None
    assert "有効期限" in line_api.replies()[-1].json["messages"][0]["text"]


def test_a_failed_account_link_closes_the_nonce_without_a_user(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    link_token = request_link_token(client, channel, line_api)
    nonce = dialog_nonce(linking.begin_account_link(shop, customer, link_token, now=utcnow()))
    db.session.commit()
    replies_before = len(line_api.replies())

    post_webhook(client, channel, [helpers.account_link(None, nonce, result="failed")])

    request = db.session.scalar(select(LinkRequest).where(LinkRequest.token == nonce))
    assert request is not None
    db.session.refresh(request)
    assert request.outcome == LinkOutcome.FAILED
    assert line_user(shop).customer_id is None
    assert len(line_api.replies()) == replies_before  # no source, no reply token: nobody to tell

    post_webhook(client, channel, [helpers.account_link(USER, nonce)])  # and it stays closed
    assert line_user(shop).customer_id is None


def test_an_expired_link_token_is_refused_at_the_storefront(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    link_token = request_link_token(client, channel, line_api)

    with pytest.raises(linking.LinkExpired):
        linking.begin_account_link(shop, customer, link_token, now=utcnow() + timedelta(minutes=11))
    with pytest.raises(linking.LinkExpired):
        linking.begin_account_link(shop, customer, "never-issued", now=utcnow())


def test_another_shops_link_token_is_unknown_here(
    client: FlaskClient, shop: Shop, channel: LineChannel, line_api: LineStandIn
) -> None:
    link_token = request_link_token(client, channel, line_api)
    other_shop_customer = CustomerFactory()

    with pytest.raises(linking.LinkExpired):
        linking.begin_account_link(
            other_shop_customer.shop
            if hasattr(other_shop_customer, "shop")
            else db.session.get(Shop, other_shop_customer.shop_id),
            other_shop_customer,
            link_token,
            now=utcnow(),
        )


def test_a_line_user_linked_to_another_customer_is_refused(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    first = CustomerFactory(shop=shop)
    LineUserFactory(shop=shop, line_user_id=USER, customer_id=first.id, linked_at=utcnow())
    post_webhook(client, channel, [helpers.postback(USER, "action=link")])

    # Already linked: the postback says so, and issues no link token.
    assert line_api.requests(f"/v2/bot/user/{USER}/linkToken") == []
    assert "すでに" in line_api.replies()[-1].json["messages"][0]["text"]
    user = line_user(shop)
    assert linking.check_link(shop, user, customer) == LinkOutcome.LINE_USER_TAKEN
    assert linking.link(shop, user, customer, method=linking.LinkMethod.LOGIN, now=utcnow()) == (
        LinkOutcome.LINE_USER_TAKEN
    )
    assert line_user(shop).customer_id == first.id


def test_a_customer_linked_to_another_line_user_is_refused(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    LineUserFactory(shop=shop, customer_id=customer.id, linked_at=utcnow())
    link_token = request_link_token(client, channel, line_api)

    with pytest.raises(linking.LinkRefused) as refused:
        linking.begin_account_link(shop, customer, link_token, now=utcnow())
    assert refused.value.outcome == LinkOutcome.CUSTOMER_TAKEN
    assert line_user(shop).customer_id is None


def test_a_conflict_that_arises_before_linebacks_is_caught_at_completion(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    link_token = request_link_token(client, channel, line_api)
    nonce = dialog_nonce(linking.begin_account_link(shop, customer, link_token, now=utcnow()))
    LineUserFactory(shop=shop, customer_id=customer.id, linked_at=utcnow())  # meanwhile
    db.session.commit()

    post_webhook(client, channel, [helpers.account_link(USER, nonce)])

    assert line_user(shop).customer_id is None
    assert "別のLINEアカウント" in line_api.replies()[-1].json["messages"][0]["text"]


def test_linking_the_same_pair_again_changes_nothing(
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    user = LineUserFactory(shop=shop, line_user_id=USER)
    assert linking.link(shop, user, customer, method=linking.LinkMethod.LOGIN, now=utcnow()) == (
        LinkOutcome.LINKED
    )
    assert linking.link(shop, user, customer, method=linking.LinkMethod.LOGIN, now=utcnow()) == (
        LinkOutcome.ALREADY_LINKED
    )
    assert len(listened["link"]) == 1


def test_the_incentive_is_granted_once_per_customer_ever(
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    first, second = LineUserFactory(shop=shop), LineUserFactory(shop=shop)
    now = utcnow()
    linking.link(shop, first, customer, method=linking.LinkMethod.LOGIN, now=now)
    linking.unlink(shop, first, by="customer", now=now)
    linking.link(shop, second, customer, method=linking.LinkMethod.LOGIN, now=now)
    linking.unlink(shop, second, by="merchant", now=now)
    linking.link(shop, first, customer, method=linking.LinkMethod.LOGIN, now=now)

    assert listened["incentive"] == [(customer.id, 100)]
    assert len(listened["link"]) == 3
    assert len(listened["unlink"]) == 2
    grants = db.session.scalar(select(func.count()).select_from(LinkIncentiveGrant))
    assert grants == 1


def test_unlinking_from_the_chat_asks_first(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    LineUserFactory(shop=shop, line_user_id=USER, customer_id=customer.id, linked_at=utcnow())

    post_webhook(client, channel, [helpers.postback(USER, "action=unlink")])
    assert line_user(shop).customer_id == customer.id
    confirm = line_api.replies()[-1].json["messages"][0]["template"]
    assert confirm["type"] == "confirm"
    assert confirm["actions"][0]["data"] == "action=unlink&confirm=1"

    post_webhook(client, channel, [helpers.postback(USER, "action=unlink&confirm=1")])

    assert line_user(shop).customer_id is None
    assert listened["unlink"] == [(USER, customer.id)]
    assert "解除しました" in line_api.delivered_texts()[-1]


# LINE Login ------------------------------------------------------------------------------------


def start_login(client: FlaskClient, shop: Shop, customer: Customer) -> str:
    ticket = linking.start_login(shop, customer, now=utcnow())
    db.session.commit()
    response = client.get(f"/line/login/start?ticket={ticket}")
    assert response.status_code == 302
    return str(response.headers["Location"])


def test_line_login_links_the_customer_with_pkce_state_nonce_and_bot_prompt(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    listened: dict[str, list[Any]],
) -> None:
    authorize = start_login(client, shop, customer)

    parts = urlsplit(authorize)
    assert parts.path == "/oauth2/v2.1/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == channel.login_channel_id
    assert query["redirect_uri"] == "https://kizuna.test/line/login/callback"
    assert set(query["scope"].split()) == {"openid", "profile"}
    assert query["bot_prompt"] == "aggressive"
    assert query["code_challenge_method"] == "S256"
    assert query["state"]
    assert query["nonce"]
    assert query["code_challenge"]

    callback = line_api.authorize(authorize, user_id=USER)
    response = client.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code == 200
    assert 'data-outcome="linked"' in response.text
    assert line_user(shop).customer_id == customer.id
    [token_request] = line_api.requests("/oauth2/v2.1/token")
    assert token_request.form["client_secret"] == channel.login_channel_secret
    assert token_request.form["code_verifier"]
    assert "authorization" not in token_request.headers
    assert listened["incentive"] == [(customer.id, 100)]


def test_a_replayed_callback_is_refused(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)
    path = callback.replace("https://kizuna.test", "")
    assert client.get(path).status_code == 200

    replay = client.get(path)

    assert replay.status_code == 400
    assert 'data-outcome="expired"' in replay.text
    assert db.session.scalar(select(func.count()).select_from(LoginState)) == 0


def test_a_state_from_another_browser_session_is_refused(
    client: FlaskClient,
    app: Any,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)

    stranger = app.test_client()  # no session cookie from /line/login/start
    response = stranger.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code == 400
    assert find_line_user(shop, USER) is None


def test_a_login_ticket_works_once(
    client: FlaskClient, shop: Shop, channel: LineChannel, customer: Customer
) -> None:
    ticket = linking.start_login(shop, customer, now=utcnow())
    db.session.commit()
    assert client.get(f"/line/login/start?ticket={ticket}").status_code == 302

    again = client.get(f"/line/login/start?ticket={ticket}")

    assert again.status_code == 400
    assert 'data-outcome="expired"' in again.text


@pytest.mark.parametrize(
    "forgery",
    ["expired", "another_channel", "wrong_nonce", "wrong_issuer", "wrong_key", "hs512", "none"],
)
def test_id_tokens_that_do_not_verify_link_nothing(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
    forgery: str,
) -> None:
    now = int(time.time())
    if forgery == "expired":
        line_api.id_token_claims = {"exp": now - 600, "iat": now - 4200}
    elif forgery == "another_channel":
        line_api.id_token_claims = {"aud": "1999999999"}
    elif forgery == "wrong_nonce":
        line_api.id_token_claims = {"nonce": "not-the-nonce-we-sent"}
    elif forgery == "wrong_issuer":
        line_api.id_token_claims = {"iss": "https://evil.example"}
    elif forgery == "wrong_key":
        line_api.id_token_key = "f" * 32
    elif forgery == "hs512":
        line_api.id_token_algorithm = "HS512"
    elif forgery == "none":
        line_api.id_token_algorithm = "none"
        line_api.id_token_key = ""

    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)
    response = client.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code == 400
    assert 'data-outcome="invalid"' in response.text
    assert find_line_user(shop, USER) is None


def test_an_es256_token_is_refused_for_web_login(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    line_api.id_token_algorithm = "ES256"
    line_api.id_token_key = key  # type: ignore[assignment]

    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)
    response = client.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code == 400
    assert find_line_user(shop, USER) is None


def test_cancelling_at_line_is_a_clear_page(
    client: FlaskClient, shop: Shop, channel: LineChannel, customer: Customer
) -> None:
    state = parse_qs(urlsplit(start_login(client, shop, customer)).query)["state"][0]

    response = client.get(f"/line/login/callback?error=access_denied&state={state}")

    assert response.status_code == 400
    assert 'data-outcome="cancelled"' in response.text


def test_line_login_for_a_line_user_linked_elsewhere_shows_the_conflict(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    first = CustomerFactory(shop=shop)
    LineUserFactory(shop=shop, line_user_id=USER, customer_id=first.id, linked_at=utcnow())

    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)
    response = client.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code == 409
    assert 'data-outcome="line_user_taken"' in response.text
    assert line_user(shop).customer_id == first.id


def test_the_result_page_speaks_english_to_english_browsers(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)
    response = client.get(
        callback.replace("https://kizuna.test", ""), headers={"Accept-Language": "en-US,en;q=0.9"}
    )
    assert "Linked" in response.text


def test_an_unknown_state_is_refused(client: FlaskClient) -> None:
    response = client.get("/line/login/callback?code=x&state=nope")
    assert response.status_code == 400


def test_a_token_endpoint_outage_is_a_clear_page_not_a_500(
    client: FlaskClient,
    shop: Shop,
    channel: LineChannel,
    customer: Customer,
    line_api: LineStandIn,
) -> None:
    line_api.time_out("/oauth2/v2.1/token")
    callback = line_api.authorize(start_login(client, shop, customer), user_id=USER)

    response = client.get(callback.replace("https://kizuna.test", ""))

    assert response.status_code in (400, 503)
    assert find_line_user(shop, USER) is None
