"""Tracked links through the real app: /r/<token> records the click and redirects only to the
shop's own domains."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.campaigns import links
from server.campaigns.links import LinkNotAllowed, check_target, track_url
from server.campaigns.models import LinkClick, TrackedLink
from server.db import db
from server.shops.models import Shop
from tests.factories.line import LineUserFactory
from tests.factories.shops import ShopFactory

APP_URL = "https://kizuna.test"


@pytest.fixture
def store(app_ctx: None) -> Shop:
    return ShopFactory(
        domain="hanamaru.myshopify.com", settings={"storefront_domains": ["hanamaru.jp"]}
    )


def token_of(url: str) -> str:
    assert url.startswith(APP_URL + "/r/")
    return url.removeprefix(APP_URL + "/r/")


def clicks() -> int:
    return db.session.scalar(select(func.count()).select_from(LinkClick)) or 0


def test_a_click_is_recorded_and_redirected_to_the_shop(client: FlaskClient, store: Shop) -> None:
    friend = LineUserFactory(shop=store)
    url = track_url(
        store,
        "https://hanamaru.jp/products/green-tea?variant=1#reviews",
        line_user=friend,
        source_kind="broadcast",
        source_id=7,
    )
    db.session.commit()

    response = client.get(url.removeprefix(APP_URL), headers={"User-Agent": "Mozilla/5.0 Line"})

    assert response.status_code == 302
    assert (
        response.headers["Location"] == "https://hanamaru.jp/products/green-tea?variant=1#reviews"
    )
    assert response.headers["Cache-Control"] == "no-store"
    click = db.session.scalars(select(LinkClick)).one()
    assert click.line_user_id == friend.id
    assert click.shop_id == store.id
    assert not click.bot
    assert click.visitor
    assert "127.0.0.1" not in click.visitor


def test_the_myshopify_domain_and_paths_are_allowed(client: FlaskClient, store: Shop) -> None:
    plain = track_url(store, "HTTPS://Hanamaru.MyShopify.com/cart", source_kind="b", source_id=1)
    path = track_url(store, "/collections/tea", source_kind="b", source_id=1)
    db.session.commit()
    assert client.get(plain.removeprefix(APP_URL)).headers["Location"] == (
        "https://hanamaru.myshopify.com/cart"
    )
    assert client.get(path.removeprefix(APP_URL)).headers["Location"] == (
        "https://hanamaru.jp/collections/tea"
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "https://hanamaru.jp.evil.example/",
        "https://evil.example/?next=https://hanamaru.jp/",
        "https://hanamaru.jp@evil.example/",
        "https://user:pass@hanamaru.jp/",
        "https://evil.example\\@hanamaru.jp/",
        "https://evil.example\\.hanamaru.jp/",
        "//evil.example/",
        "///evil.example/",
        "javascript:alert(1)//hanamaru.jp",
        "data:text/html,<script>alert(1)</script>",
        "ftp://hanamaru.jp/",
        "https://hanamaru.jp:8443/",
        "https://hanamaru%2Ejp.evil.example/",
        "https://evil.example%2F@hanamaru.jp/",
        "https://hanamaru.jp/\r\nSet-Cookie: x=1",
        " https://evil.example",
        "https://xn--hanamaru-evil.example/",
        "https://another-shop.myshopify.com/",
        "",
    ],
)
def test_targets_outside_the_shop_are_refused_when_the_link_is_made(
    store: Shop, target: str
) -> None:
    with pytest.raises(LinkNotAllowed):
        track_url(store, target, source_kind="broadcast", source_id=1)
    assert db.session.scalar(select(func.count()).select_from(TrackedLink)) == 0


def test_a_stored_target_off_the_shop_is_refused_at_redirect(
    client: FlaskClient, store: Shop
) -> None:
    url = track_url(store, "https://hanamaru.jp/sale", source_kind="broadcast", source_id=1)
    link = db.session.scalars(select(TrackedLink)).one()
    link.url = "https://evil.example/sale"  # tampered with in the database
    db.session.commit()

    response = client.get(url.removeprefix(APP_URL))

    assert response.status_code == 422
    assert response.json["error"] == "link_not_allowed"
    assert "Location" not in response.headers
    assert clicks() == 0


def test_a_domain_the_shop_no_longer_has_stops_redirecting(
    client: FlaskClient, store: Shop
) -> None:
    url = track_url(store, "https://hanamaru.jp/sale", source_kind="broadcast", source_id=1)
    store.settings = {"storefront_domains": ["hanamaru-new.jp"]}
    db.session.commit()
    assert client.get(url.removeprefix(APP_URL)).status_code == 422
    assert check_target(store, "https://hanamaru-new.jp/x") == "https://hanamaru-new.jp/x"


@pytest.mark.parametrize("token", ["nope", "A" * 22, "A" * 200, "%2e%2e", "..%2f"])
def test_an_unknown_token_is_a_json_404(client: FlaskClient, app_ctx: None, token: str) -> None:
    response = client.get(f"/r/{token}")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"] == "not_found"


def test_tokens_are_unguessable_and_unique(store: Shop) -> None:
    urls = {track_url(store, "/", source_kind="broadcast", source_id=1) for _ in range(200)}
    assert len(urls) == 200
    assert all(len(token_of(u)) >= 22 for u in urls)  # 128 random bits, URL-safe


def test_many_clicks_on_one_link_are_each_recorded(client: FlaskClient, store: Shop) -> None:
    url = track_url(store, "https://hanamaru.jp/", source_kind="broadcast", source_id=3)
    db.session.commit()
    path = url.removeprefix(APP_URL)
    for i in range(60):
        response = client.get(path, headers={"User-Agent": f"browser-{i % 3}"})
        assert response.status_code == 302
    assert clicks() == 60
    visitors = db.session.scalar(select(func.count(func.distinct(LinkClick.visitor))))
    assert visitors == 3


def test_link_preview_fetchers_are_recorded_as_bots(client: FlaskClient, store: Shop) -> None:
    url = track_url(store, "https://hanamaru.jp/", source_kind="broadcast", source_id=3)
    db.session.commit()
    client.get(url.removeprefix(APP_URL), headers={"User-Agent": "facebookexternalhit/1.1"})
    assert db.session.scalars(select(LinkClick)).one().bot


def test_track_many_gives_each_recipient_a_link(store: Shop) -> None:
    friends = [LineUserFactory(shop=store) for _ in range(3)]
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    urls = links.track_many(
        store,
        "https://hanamaru.jp/",
        [f.id for f in friends] + [friends[0].id],
        source_kind="broadcast",
        source_id=9,
        now=now,
    )
    assert set(urls) == {f.id for f in friends}
    assert len(set(urls.values())) == 3
    rows = db.session.scalars(select(TrackedLink).order_by(TrackedLink.id)).all()
    assert [r.line_user_id for r in rows] == [f.id for f in friends]
    assert all(r.created_at == now and r.source_id == 9 for r in rows)
