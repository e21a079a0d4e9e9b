"""Training a shop from its orders, serving what was stored, refreshing after an order, and
that one shop's model never touches another shop's customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.commerce.models import Customer, Product
from server.db import commit, db
from server.errors import NotFound
from server.recommendations import services, serving
from server.recommendations.models import (
    CustomerRecommendation,
    RecommendationModel,
    ReorderPrediction,
)
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.line import LineUserFactory
from tests.factories.membership import MemberFactory, TierFactory
from tests.factories.recommendations import bought, sellable
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def linked(shop: Shop) -> Customer:
    customer = CustomerFactory(shop=shop)
    LineUserFactory(shop=shop, customer_id=customer.id)
    return customer


def catalogue(shop: Shop) -> dict[str, Product]:
    return {
        "aojiru": sellable(shop, "青汁", usage_days=30),
        "lactic": sellable(shop, "乳酸菌"),
        "collagen": sellable(shop, "コラーゲン"),
        "shaker": sellable(shop, "シェイカー", consumable=False),
        "tea": sellable(shop, "ルイボスティー"),
    }


def history(shop: Shop, p: dict[str, Product]) -> dict[str, Customer]:
    """Regulars of 青汁 (every ~30 days), who also buy 乳酸菌; a shaker bought with the first
    order; ルイボスティー is this month's best seller among newcomers."""
    people = {}
    for n in range(6):
        regular = linked(shop)
        for k in range(3):
            items = [p["aojiru"], p["lactic"]] + ([p["shaker"]] if k == 0 else [])
            bought(regular, items, at=NOW - timedelta(days=95 - 30 * k + n))
        people[f"regular{n}"] = regular
    for n in range(8):
        bought(linked(shop), p["tea"], at=NOW - timedelta(days=3 + n))
    newcomer = linked(shop)
    bought(newcomer, p["aojiru"], at=NOW - timedelta(days=10))
    people["newcomer"] = newcomer
    return people


def stored(shop: Shop, customer: Customer) -> list[dict[str, object]]:
    row = db.session.scalar(
        select(CustomerRecommendation.items).where(
            CustomerRecommendation.shop_id == shop.id,
            CustomerRecommendation.customer_id == customer.id,
        )
    )
    return list(row or [])


def test_training_stores_reorders_discoveries_and_reasons(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)

    model = services.train_shop(shop, now=NOW)
    commit()

    assert model.algorithm == "hybrid"
    assert model.customers == 15
    assert model.artifact
    regular = people["regular0"]
    recs = serving.recommendations_for(shop, regular, now=NOW)
    by_product = {r.product_id: r for r in recs}
    assert by_product[p["aojiru"].id].kind == "reorder"
    assert by_product[p["aojiru"].id].reason.startswith("前回のご購入から約")
    assert p["shaker"].id not in by_product  # owned, not a consumable
    newcomer = serving.recommendations_for(shop, people["newcomer"], lang="en", now=NOW)
    lactic = next(r for r in newcomer if r.product_id == p["lactic"].id)
    assert lactic.kind == "discovery"
    assert lactic.reason == "Popular with customers who bought 青汁"
    assert model.popular["all"][0] == p["tea"].id


def test_run_out_dates_follow_each_customers_cycle_and_the_products(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)

    services.train_shop(shop, now=NOW)

    rows = {
        (r.customer_id, r.product_id): r
        for r in db.session.scalars(ReorderPrediction.for_shop(shop))
    }
    regular = rows[(people["regular0"].id, p["aojiru"].id)]
    assert regular.cycle_days == pytest.approx(30.0, abs=0.5)
    assert regular.due_at == regular.last_purchased_at + timedelta(days=regular.cycle_days)
    # Bought once: the product's cycle (its buyers' and the merchant's 30 days).
    newcomer = rows[(people["newcomer"].id, p["aojiru"].id)]
    assert newcomer.cycle_days == pytest.approx(30.0, abs=0.5)
    assert (people["regular0"].id, p["shaker"].id) not in rows  # never bought again by anyone
    assert people["regular0"].id in serving.due_to_reorder(shop, now=NOW)
    assert people["newcomer"].id not in serving.due_to_reorder(shop, now=NOW)
    assert people["newcomer"].id in serving.due_to_reorder(shop, now=NOW, within=timedelta(days=25))


def test_an_order_refreshes_that_customers_list_and_run_out_date(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)
    services.train_shop(shop, now=NOW)
    newcomer = people["newcomer"]
    before = db.session.scalar(
        select(ReorderPrediction.due_at).where(ReorderPrediction.customer_id == newcomer.id)
    )

    order = bought(newcomer, [p["aojiru"], p["collagen"]], at=NOW + timedelta(days=1))
    services.on_order(shop, order, now=NOW)
    commit()  # the refresh task runs after the commit (huey immediate mode in tests)

    after = db.session.scalar(
        select(ReorderPrediction.due_at).where(
            ReorderPrediction.customer_id == newcomer.id,
            ReorderPrediction.product_id == p["aojiru"].id,
        )
    )
    assert after is not None
    assert before is not None
    assert after > before
    kinds = {e["p"]: e["k"] for e in stored(shop, newcomer)}
    assert kinds[p["collagen"].id] == "reorder"


def test_refreshing_gives_the_list_training_gave(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)
    services.train_shop(shop, now=NOW)
    trained = {name: stored(shop, c) for name, c in people.items()}

    for customer in people.values():
        services.refresh_customer(shop, customer, now=NOW)

    assert {name: stored(shop, c) for name, c in people.items()} == trained


def test_a_customer_whose_orders_were_all_cancelled_loses_the_stored_list(shop: Shop) -> None:
    p = catalogue(shop)
    history(shop, p)
    buyer = linked(shop)
    order = bought(buyer, p["tea"], at=NOW - timedelta(days=2))
    services.train_shop(shop, now=NOW)
    assert stored(shop, buyer)

    order.cancelled_at = NOW
    services.refresh_customer(shop, buyer, now=NOW)

    assert stored(shop, buyer) == []
    assert serving.recommendations_for(shop, buyer, now=NOW)[0].kind == "popular"


def test_before_the_first_training_a_refresh_changes_nothing(shop: Shop) -> None:
    customer = linked(shop)
    bought(customer, sellable(shop, "青汁"), at=NOW)

    services.refresh_customer(shop, customer, now=NOW)

    assert stored(shop, customer) == []


def test_cold_customers_get_their_tiers_best_sellers(shop: Shop) -> None:
    p = catalogue(shop)
    history(shop, p)
    for n in range(40):  # ルイボスティー is the shop's best seller...
        bought(CustomerFactory(shop=shop), p["tea"], at=NOW - timedelta(days=1 + n % 20))
    gold = TierFactory(shop=shop, name="GOLD")
    for n in range(12):  # ...but GOLD members buy コラーゲン
        fan = CustomerFactory(shop=shop)
        MemberFactory(customer=fan, tier_id=gold.id)
        for k in range(3):
            bought(fan, p["collagen"], at=NOW - timedelta(days=2 + n + 7 * k))
    cold_gold = MemberFactory(customer=CustomerFactory(shop=shop), tier_id=gold.id).customer

    model = services.train_shop(shop, now=NOW)
    [first, *_] = serving.recommendations_for(shop, cold_gold, now=NOW)

    assert model.popular["all"][0] == p["tea"].id
    assert model.popular[str(gold.id)][0] == p["collagen"].id
    assert (first.product_id, first.kind, first.reason) == (
        p["collagen"].id,
        "popular",
        "GOLD会員に人気",
    )


def test_one_shops_training_never_touches_another_shops_rows(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)
    other = ShopFactory()
    q = catalogue(other)
    theirs = history(other, q)
    services.train_shop(other, now=NOW)
    their_lists = {name: stored(other, c) for name, c in theirs.items()}
    their_models = db.session.scalars(RecommendationModel.for_shop(other)).all()

    model = services.train_shop(shop, now=NOW)

    assert {name: stored(other, c) for name, c in theirs.items()} == their_lists
    assert db.session.scalars(RecommendationModel.for_shop(other)).all() == their_models
    mine = {e["p"] for c in people.values() for e in stored(shop, c)}
    assert mine
    assert mine <= {x.id for x in p.values()}
    assert model.popular["all"][0] == p["tea"].id
    with pytest.raises(NotFound):
        services.refresh_customer(shop, theirs["regular0"], now=NOW)
    # A refresh of the other shop's customer uses the other shop's model.
    services.refresh_customer(other, theirs["regular0"], now=NOW)
    assert {e["p"] for e in stored(other, theirs["regular0"])} <= {x.id for x in q.values()}


def test_excluded_products_are_never_served_and_a_foreign_id_is_refused(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)
    services.train_shop(shop, now=NOW)

    services.set_excluded_products(shop, [p["lactic"].id])

    shown = serving.recommendations_for(shop, people["newcomer"], limit=10, now=NOW)
    assert p["lactic"].id not in {r.product_id for r in shown}
    foreign = sellable(ShopFactory(), "よその")
    with pytest.raises(NotFound):
        services.set_excluded_products(shop, [foreign.id])


def test_redacting_a_customer_removes_what_was_derived_from_their_orders(shop: Shop) -> None:
    p = catalogue(shop)
    people = history(shop, p)
    services.train_shop(shop, now=NOW)
    regular = people["regular0"]

    services.redact_customer(shop, regular, now=NOW)

    assert stored(shop, regular) == []
    assert not db.session.scalars(
        select(ReorderPrediction).where(ReorderPrediction.customer_id == regular.id)
    ).all()


def test_the_shops_evaluation_chooses_its_production_configuration(shop: Shop) -> None:
    p = catalogue(shop)
    for week in range(14):
        for n in range(6):
            customer = CustomerFactory(shop=shop, shopify_id=9_000_000 + week * 10 + n)
            bought(customer, [p["tea"], p["aojiru"]], at=NOW - timedelta(days=7 * week + n))
            bought(customer, p["lactic"], at=NOW - timedelta(days=7 * week + n - 3))
    regulars = [linked(shop) for _ in range(10)]
    for k, customer in enumerate(regulars):
        for day in range(0, 100, 9):
            bought(
                customer,
                [p["aojiru"], p["collagen"] if k % 2 else p["lactic"]],
                at=NOW - timedelta(days=day),
            )

    report = services.evaluate_shop(shop, now=NOW, algorithms=["popular", "hybrid"])

    settings = services.find_settings(shop)
    assert settings is not None
    assert settings.evaluation is not None
    assert settings.algorithm == report.production
    assert set(settings.params) == {"all", "new"}
    assert set(settings.evaluation["all"]) >= {"popular", "hybrid", "production"}
    assert services.configuration(shop).algorithm == report.production
