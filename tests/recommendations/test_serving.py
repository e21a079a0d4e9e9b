"""Serving a stored list: order, kinds, reasons in both languages, the request-time filters,
the cold start, and that one shop never serves another shop's rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import event

from server.db import db
from server.recommendations import serving
from server.recommendations.models import RecommendationSettings
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.membership import MemberFactory, TierFactory
from tests.factories.recommendations import bought, sellable, stored_list, stored_model
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def test_a_stored_list_is_served_in_order_with_a_reason_for_each_kind(shop: Shop) -> None:
    aojiru = sellable(shop, "青汁 30包", price=3980)
    collagen = sellable(shop, "コラーゲン", price=4980)
    shaker = sellable(shop, "シェイカー", price=880, consumable=False)
    customer = CustomerFactory(shop=shop)
    stored_list(
        shop,
        customer,
        [
            {"p": aojiru.id, "k": "reorder", "s": 0.9, "l": "2026-10-21", "d": "2026-11-20"},
            {"p": collagen.id, "k": "discovery", "s": 0.5, "a": aojiru.id},
            {"p": shaker.id, "k": "popular", "s": 0.1},
        ],
        at=NOW,
    )

    recs = serving.recommendations_for(shop, customer, now=NOW)

    assert [r.product_id for r in recs] == [aojiru.id, collagen.id, shaker.id]
    assert [r.kind for r in recs] == ["reorder", "discovery", "popular"]
    assert [r.reason for r in recs] == [
        "前回のご購入から約30日です",
        "青汁 30包をご購入の方に人気",
        "いま人気の商品です",
    ]
    assert recs[0].price == Decimal(3980)
    assert recs[0].currency == "JPY"
    assert recs[0].product_url == f"https://{shop.domain}/products/{aojiru.handle}"
    assert recs[0].image_url == aojiru.image_url
    english = serving.recommendations_for(shop, customer, lang="en", now=NOW)
    assert [r.reason for r in english] == [
        "About 30 days since your last purchase",
        "Popular with customers who bought 青汁 30包",
        "Popular right now",
    ]


def test_a_reorder_far_from_its_run_out_date_is_a_regular_not_a_reminder(shop: Shop) -> None:
    aojiru = sellable(shop, "青汁")
    customer = CustomerFactory(shop=shop)
    stored_list(
        shop,
        customer,
        [{"p": aojiru.id, "k": "reorder", "s": 1.0, "l": "2026-11-15", "d": "2026-12-15"}],
        at=NOW,
    )

    [rec] = serving.recommendations_for(shop, customer, now=NOW)

    assert rec.reason == "いつもご購入いただいている商品です"


def test_unpublished_sold_out_excluded_and_owned_non_consumables_are_filtered_out(
    shop: Shop,
) -> None:
    keep = sellable(shop, "残る商品")
    draft = sellable(shop, "下書き", status="draft")
    deleted = sellable(shop, "削除済み")
    deleted.deleted_at = NOW
    sold_out = sellable(shop, "在庫切れ", available=False)
    excluded = sellable(shop, "除外")
    shaker = sellable(shop, "シェイカー", consumable=False)
    refill = sellable(shop, "詰め替え")  # consumable and owned: stays
    customer = CustomerFactory(shop=shop)
    bought(customer, [shaker, refill], at=NOW - timedelta(days=40))
    db.session.add(RecommendationSettings(shop_id=shop.id, excluded_product_ids=[excluded.id]))
    stored_list(
        shop,
        customer,
        [
            {"p": p.id, "k": "discovery", "s": 1.0}
            for p in (draft, deleted, sold_out, excluded, shaker, refill, keep)
        ],
        at=NOW,
    )

    recs = serving.recommendations_for(shop, customer, now=NOW)

    assert [r.product_id for r in recs] == [refill.id, keep.id]


def test_filtered_gaps_are_filled_from_the_best_sellers_without_repeating(shop: Shop) -> None:
    first, second, third = (sellable(shop, f"人気 {n}") for n in range(3))
    gone = sellable(shop, "在庫切れ", available=False)
    customer = CustomerFactory(shop=shop)
    stored_model(shop, popular={"all": [second.id, gone.id, third.id, first.id]}, at=NOW)
    stored_list(
        shop,
        customer,
        [{"p": first.id, "k": "discovery", "s": 1.0}, {"p": gone.id, "k": "discovery", "s": 0.5}],
        at=NOW,
    )

    recs = serving.recommendations_for(shop, customer, limit=3, now=NOW)

    assert [r.product_id for r in recs] == [first.id, second.id, third.id]
    assert [r.kind for r in recs] == ["discovery", "popular", "popular"]


def test_a_cold_customer_gets_their_tiers_best_sellers_with_the_tier_in_the_reason(
    shop: Shop,
) -> None:
    gold = TierFactory(shop=shop, name="GOLD")
    shop_wide, gold_pick = sellable(shop, "定番"), sellable(shop, "GOLDの定番")
    member = MemberFactory(customer=CustomerFactory(shop=shop), tier_id=gold.id)
    other = CustomerFactory(shop=shop)
    stored_model(shop, popular={"all": [shop_wide.id], str(gold.id): [gold_pick.id]}, at=NOW)

    [for_gold] = serving.recommendations_for(shop, member.customer, now=NOW)
    [for_other] = serving.recommendations_for(shop, other, lang="en", now=NOW)

    assert (for_gold.product_id, for_gold.kind) == (gold_pick.id, "popular")
    assert for_gold.reason == "GOLD会員に人気"
    assert (for_other.product_id, for_other.reason) == (shop_wide.id, "Popular right now")


def test_before_any_training_the_best_sellers_come_from_the_orders(shop: Shop) -> None:
    popular, quiet, cancelled_only = (sellable(shop, t) for t in ("人気", "静か", "取消"))
    for _ in range(3):
        bought(CustomerFactory(shop=shop), popular, at=NOW - timedelta(days=3))
    bought(CustomerFactory(shop=shop), quiet, at=NOW - timedelta(days=3))
    for _ in range(5):
        bought(
            CustomerFactory(shop=shop), cancelled_only, at=NOW - timedelta(days=3), cancelled=True
        )

    recs = serving.recommendations_for(shop, None, now=NOW)

    assert [r.product_id for r in recs] == [popular.id, quiet.id]


def test_another_shops_customer_gets_nothing_of_theirs(shop: Shop) -> None:
    other_shop = ShopFactory()
    theirs = sellable(other_shop, "よその商品")
    stranger = CustomerFactory(shop=other_shop)
    stored_list(other_shop, stranger, [{"p": theirs.id, "k": "discovery", "s": 1.0}], at=NOW)
    stored_model(other_shop, popular={"all": [theirs.id]}, at=NOW)
    mine = sellable(shop, "うちの商品")
    stored_model(shop, popular={"all": [mine.id, theirs.id]}, at=NOW)

    # Asked with this shop, the other shop's customer and product ids lead nowhere.
    recs = serving.recommendations_for(shop, stranger, now=NOW)

    assert [r.product_id for r in recs] == [mine.id]
    assert [r.product_id for r in serving.recommendations_for(other_shop, stranger, now=NOW)] == [
        theirs.id
    ]


def test_limit_is_respected(shop: Shop) -> None:
    products = [sellable(shop, f"商品 {n}") for n in range(12)]
    stored_model(shop, popular={"all": [p.id for p in products]}, at=NOW)

    assert len(serving.recommendations_for(shop, None, limit=10, now=NOW)) == 10
    assert serving.recommendations_for(shop, None, limit=0, now=NOW) == []


def test_a_lookup_is_two_queries_however_long_the_list(shop: Shop) -> None:
    gold = TierFactory(shop=shop, name="GOLD")
    member = MemberFactory(customer=CustomerFactory(shop=shop), tier_id=gold.id)
    products = [sellable(shop, f"商品 {n}") for n in range(25)]
    shaker = sellable(shop, "シェイカー", consumable=False)
    bought(member.customer, [products[0], shaker], at=NOW - timedelta(days=20))
    stored_model(shop, popular={"all": [p.id for p in products], str(gold.id): [shaker.id]}, at=NOW)
    stored_list(
        shop,
        member.customer,
        [{"p": shaker.id, "k": "reorder", "s": 1.0, "l": "2026-10-31"}]
        + [{"p": p.id, "k": "discovery", "s": 0.5, "a": products[0].id} for p in products[1:]],
        at=NOW,
    )
    customer = member.customer
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        recs = serving.recommendations_for(shop, customer, limit=10, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(statements) == 2, statements
    assert [r.product_id for r in recs] == [p.id for p in products[1:11]]  # the shaker is owned
    assert recs[0].reason == "商品 0をご購入の方に人気"


def test_a_lookup_runs_the_same_sql_whatever_the_length_of_the_list(shop: Shop) -> None:
    """Constant SQL is what lets PostgreSQL plan a lookup once per connection (psycopg
    prepares a statement it has seen a few times) instead of once per list length."""
    products = [sellable(shop, f"商品 {n}") for n in range(12)]
    stored_model(shop, popular={"all": [p.id for p in products[:2]]}, at=NOW)
    short, long = CustomerFactory(shop=shop), CustomerFactory(shop=shop)
    stored_list(shop, short, [{"p": products[5].id, "k": "discovery"}], at=NOW)
    stored_list(shop, long, [{"p": p.id, "k": "discovery"} for p in products[2:]], at=NOW)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        few = serving.recommendations_for(shop, short, now=NOW)
        many = serving.recommendations_for(shop, long, now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert [len(few), len(many)] == [3, 10]
    assert len(statements) == 4
    assert statements[:2] == statements[2:]


def test_a_recommendation_says_whether_the_product_has_a_selling_plan(shop: Shop) -> None:
    plain, plan = sellable(shop, "青汁"), sellable(shop, "青汁 定期便")
    plan.subscribable = True
    stored_model(shop, popular={"all": [plain.id, plan.id]}, at=NOW)

    recs = serving.recommendations_for(shop, None, now=NOW)

    assert [(r.product_id, r.subscribable) for r in recs] == [(plain.id, False), (plan.id, True)]
