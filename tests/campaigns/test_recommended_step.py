"""Recommended products in scenario steps: the recipient's own list (as serving returns it) as a
LINE carousel or as text variables, every product link a tracked /r/<token> link for that
friend, delivered to the LINE stand-in; the editor refuses what the carousel cannot show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.campaigns import services
from server.campaigns.models import LinkClick, Scenario, ScheduledStatus, TrackedLink
from server.db import db, utcnow
from server.line import messages as line_messages
from server.recommendations import serving
from server.shops.models import Shop
from tests.campaigns.conftest import (
    NOON_JST,
    Clock,
    Friend,
    Tick,
    make_friend,
    make_scenario,
    scheduled,
)
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory
from tests.factories.recommendations import bought, sellable, stored_list, stored_model
from tests.fakes.line_api import LineStandIn

APP_URL = "https://kizuna.test"
TODAY = NOON_JST.date()


def recommended_step(**message: Any) -> dict[str, Any]:
    return {
        "name": "おすすめ",
        "message": {"type": "flex", "layout": "recommended", **message},
    }


def catalogue(shop: Shop, friend: Friend) -> dict[str, Any]:
    """A stored list with a reorder due, a discovery, a sold-out product; a trained model whose
    best sellers fill the rest."""
    aojiru = sellable(shop, "国産大麦若葉の青汁 30包", price=3980)
    collagen = sellable(shop, "コラーゲンゼリー", price=4980)
    sold_out = sellable(shop, "限定セット", available=False)
    tea = sellable(shop, "ルイボスティー", price=1280)
    assert friend.customer is not None
    stored_list(
        shop,
        friend.customer,
        [
            {
                "p": aojiru.id,
                "k": "reorder",
                "s": 0.9,
                "l": (TODAY - timedelta(days=30)).isoformat(),
                "d": TODAY.isoformat(),
            },
            {"p": sold_out.id, "k": "discovery", "s": 0.7, "a": aojiru.id},
            {"p": collagen.id, "k": "discovery", "s": 0.5, "a": aojiru.id},
        ],
        at=NOON_JST,
    )
    stored_model(shop, popular={"all": [tea.id, aojiru.id]}, at=NOON_JST)
    db.session.commit()
    return {"aojiru": aojiru, "collagen": collagen, "sold_out": sold_out, "tea": tea}


def enter(shop: Shop, scenario: Scenario, friend: Friend) -> None:
    entered = services.enroll(
        shop,
        scenario,
        customer_id=friend.customer.id if friend.customer else None,
        line_user_id=None if friend.customer else friend.line_user.id,
        trigger_key="t",
        now=NOON_JST,
    )
    db.session.commit()
    assert entered is not None


def token_of(uri: str) -> str:
    assert uri.startswith(f"{APP_URL}/r/"), uri
    return uri.removeprefix(f"{APP_URL}/r/")


def test_a_step_sends_the_recipients_own_recommendations_as_a_carousel_with_tracked_links(
    shop: Shop,
    friend: Friend,
    clock: Clock,
    tick: Tick,
    line_api: LineStandIn,
    client: FlaskClient,
) -> None:
    products = catalogue(shop, friend)
    scenario = make_scenario(
        shop, trigger="manual", steps=[recommended_step(title="{name}様へのおすすめです")]
    )
    enter(shop, scenario, friend)
    tick(NOON_JST)

    [(_, sent)] = line_api.delivered(friend.user_id)
    intro, carousel = sent
    assert intro == {
        "type": "text",
        "text": f"{friend.customer.last_name} {friend.customer.first_name}様へのおすすめです",
    }  # type: ignore[union-attr]
    assert line_messages.validate([carousel])
    expected = serving.recommendations_for(shop, friend.customer, lang="ja", now=NOON_JST)
    bubbles = carousel["contents"]["contents"]
    assert [[c["text"] for c in b["body"]["contents"]] for b in bubbles] == [
        ["そろそろ買い替え", "国産大麦若葉の青汁 30包", "¥3,980", "前回のご購入から約30日です"],
        [
            "あなたへのおすすめ",
            "コラーゲンゼリー",
            "¥4,980",
            "国産大麦若葉の青汁 30包をご購入の方に人気",
        ],
        ["人気の商品", "ルイボスティー", "¥1,280", "いま人気の商品です"],
    ]
    assert [b["body"]["contents"][1]["text"] for b in bubbles] == [r.title for r in expected]
    assert products["sold_out"].title not in str(carousel)

    # Each button is the friend's own tracked link to the product page, named after the step.
    uris = [b["footer"]["contents"][0]["action"]["uri"] for b in bubbles]
    assert [b["hero"]["action"]["uri"] for b in bubbles] == uris
    tracked = {
        link.token: link
        for link in db.session.scalars(select(TrackedLink).where(TrackedLink.shop_id == shop.id))
    }
    assert [tracked[token_of(uri)].url for uri in uris] == [r.product_url for r in expected]
    step = scenario.steps[0]
    assert {(link.source_kind, link.source_id, link.line_user_id) for link in tracked.values()} == {
        ("scenario_step", step.id, friend.line_user.id)
    }
    response = client.get(f"/r/{token_of(uris[1])}")
    assert response.status_code == 302
    assert response.headers["Location"] == expected[1].product_url
    [click] = db.session.scalars(select(LinkClick)).all()
    assert (click.link_id, click.line_user_id) == (
        tracked[token_of(uris[1])].id,
        friend.line_user.id,
    )
    assert [row.status for row in scheduled(scenario)] == [ScheduledStatus.SENT]


def test_text_variables_name_the_recommendations_in_the_friends_language(
    shop: Shop, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    friend = make_friend(shop, language="en")
    catalogue(shop, friend)
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[
            {
                "name": "text",
                "message": {
                    "type": "text",
                    "text": "Picked for you: {recommended_products} {recommended_url}",
                },
            },
            recommended_step(),
        ],
    )
    friend.channel.frequency_cap = 0
    enter(shop, scenario, friend)
    tick(NOON_JST)
    tick(NOON_JST + timedelta(minutes=1))

    [(_, [text]), (_, [carousel])] = line_api.delivered(friend.user_id)
    prefix = "Picked for you: 国産大麦若葉の青汁 30包, コラーゲンゼリー, ルイボスティー "
    assert text["text"].startswith(prefix)
    link = db.session.scalar(
        select(TrackedLink).where(TrackedLink.token == token_of(text["text"].removeprefix(prefix)))
    )
    assert link is not None
    assert (
        link.url == serving.recommendations_for(shop, friend.customer, now=NOON_JST)[0].product_url
    )
    first = carousel["contents"]["contents"][0]["body"]["contents"]
    assert [c["text"] for c in first] == [
        "Time to reorder",
        "国産大麦若葉の青汁 30包",
        "¥3,980",
        "About 30 days since your last purchase",
    ]


def test_a_friend_who_has_not_linked_gets_the_best_sellers(
    shop: Shop, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    linked = make_friend(shop)
    products = catalogue(shop, linked)
    stranger = make_friend(shop, linked=False)
    scenario = make_scenario(shop, trigger="manual", steps=[recommended_step()])
    enter(shop, scenario, stranger)
    tick(NOON_JST)

    [(_, [carousel])] = line_api.delivered(stranger.user_id)
    titles = [b["body"]["contents"][1]["text"] for b in carousel["contents"]["contents"]]
    assert titles == [products["tea"].title, products["aojiru"].title]


def test_a_shop_with_nothing_to_show_marks_the_step_failed_and_goes_on(
    shop: Shop, friend: Friend, clock: Clock, tick: Tick, line_api: LineStandIn
) -> None:
    sellable(shop, "売り切れ", available=False)
    scenario = make_scenario(
        shop,
        trigger="manual",
        steps=[recommended_step(), {"name": "次", "message": {"type": "text", "text": "次"}}],
    )
    friend.channel.frequency_cap = 0
    enter(shop, scenario, friend)
    tick(NOON_JST)
    tick(NOON_JST + timedelta(minutes=1))

    rows = scheduled(scenario)
    assert [r.status for r in rows] == [ScheduledStatus.FAILED, ScheduledStatus.SENT]
    assert rows[0].error == "there is nothing to recommend"
    assert line_api.delivered_texts(friend.user_id) == ["次"]


def test_the_editor_refuses_what_the_carousel_cannot_show_and_previews_it(
    admin: AdminClient, shop: Shop
) -> None:
    tea = sellable(shop, "ルイボスティー", price=1280)
    bought(CustomerFactory(shop=shop), tea, at=utcnow() - timedelta(days=3))  # a best seller
    db.session.commit()
    base = {"name": "おすすめ", "trigger": "manual"}
    for message, field in (
        (
            {"button_label": "見る", "button_url": "https://x.test/"},
            "steps[0].message.button_label",
        ),
        ({"image_url": "https://cdn.shopify.com/a.jpg"}, "steps[0].message.image_url"),
        ({"title": "{recommended_product}"}, "steps[0].message.title"),
    ):
        response = admin.post(
            "/api/admin/campaigns/scenarios",
            shop=shop,
            json={**base, "steps": [recommended_step(**message)]},
        )
        assert response.status_code == 400, response.json
        assert field in response.json["details"]["fields"], response.json
    assert db.session.scalar(select(func.count()).select_from(Scenario)) == 0

    options = admin.get("/api/admin/campaigns/options", shop=shop).json
    assert "recommended" in options["layouts"]
    assert {"recommended_products", "recommended_url"} <= set(options["variables"])
    preview = admin.post(
        "/api/admin/campaigns/preview",
        shop=shop,
        json={**base, "steps": [recommended_step(body="{recommended_products}")]},
    )
    assert preview.status_code == 200, preview.json
    [step] = preview.json["steps"]
    intro, carousel = step["messages"]
    assert intro == {"type": "text", "text": "ルイボスティー"}
    assert carousel["contents"]["contents"][0]["body"]["contents"][1]["text"] == "ルイボスティー"
    created = admin.post(
        "/api/admin/campaigns/scenarios",
        shop=shop,
        json={**base, "steps": [recommended_step(title="おすすめ")]},
    )
    assert created.status_code == 201, created.json
    assert created.json["steps"][0]["message"] == {
        "type": "flex",
        "layout": "recommended",
        "title": "おすすめ",
        "body": "",
    }


def test_a_broadcast_of_recommendations_is_personal_to_each_friend(
    shop: Shop, clock: Clock, line_api: LineStandIn
) -> None:
    from server.campaigns import broadcasts

    regular = make_friend(shop)
    products = catalogue(shop, regular)
    newcomer = make_friend(shop, linked=False)
    broadcast = broadcasts.create_broadcast(
        shop,
        {"name": "おすすめ", "message": {"type": "flex", "layout": "recommended"}},
        now=NOON_JST,
    )
    broadcasts.schedule(shop, broadcast, now=NOON_JST)
    db.session.commit()

    assert line_api.multicasts() == []  # one push per friend: each gets their own list

    def titles(friend: Friend) -> list[str]:
        [(_, [carousel])] = line_api.delivered(friend.user_id)
        return [b["body"]["contents"][1]["text"] for b in carousel["contents"]["contents"]]

    assert titles(regular) == [
        r.title for r in serving.recommendations_for(shop, regular.customer, now=NOON_JST)
    ]
    assert titles(newcomer) == [products["tea"].title, products["aojiru"].title]
    assert titles(regular) != titles(newcomer)
