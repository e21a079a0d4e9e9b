"""The subscription status and membership tier fields select the people worked out by hand, and
the subscription states agree with `subscription_status` (the rule the rest of the app uses)
for every customer.

Subscriber tag: 定期. Lapse window: 45 days (the default).

    A   active contract                                        → active
    B   paused contract                                        → paused
    C   paused contract and an active one                      → active
    D   cancelled contract                                     → cancelled
    E   carries the subscriber tag                             → active
    F   the subscriber tag was removed                         → cancelled
    G   subscription order 10 days ago                         → active
    H   subscription order 100 days ago (lapsed)               → cancelled
    I   subscription order 10 days ago, cancelled              → cancelled
    J   paused contract and the subscriber tag                 → paused (the contract says more)
    K   subscription order 20 days ago, contract ended since   → cancelled
    L   one-off order only                                     → never
    M   nothing at all                                         → never
    N   subscription order 10 days ago, a later one cancelled  → cancelled
    O   a cancelled subscription order, a later live one       → active
    P   subscription order 10 days ago, the tag removed before → active
    Q   subscription order 10 days ago, a contract ended before → active
    R   paused contract and a subscription order 5 days ago    → paused
    S   subscription order 20 days ago, the tag removed since  → cancelled
    friend not linked: no customer, in no subscription state and no tier
    another shop's customer with an active contract: never counted

Tiers: Bronze < Silver < Gold. A is Silver, B Gold, G Silver, L a member below every tier.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.commerce import subscriptions
from server.commerce.models import Customer, SubscriptionContract
from server.db import db
from server.segments import services
from server.shops.models import Shop
from tests.conftest import AdminClient
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.line import LineUserFactory
from tests.factories.membership import MemberFactory, TierFactory
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)
EXPECTED = {
    "active": {"A", "C", "E", "G", "O", "P", "Q"},
    "paused": {"B", "J", "R"},
    "cancelled": {"D", "F", "H", "I", "K", "N", "S"},
    "never": {"L", "M"},
}

_contract_ids = iter(range(8_000_000, 9_000_000))


def _contract(customer: Customer, status: str, **extra: Any) -> None:
    db.session.add(
        SubscriptionContract(
            shop_id=customer.shop_id,
            shopify_id=next(_contract_ids),
            customer_id=customer.id,
            status=status,
            shopify_created_at=NOW - timedelta(days=200),
            shopify_updated_at=NOW - timedelta(days=5),
            **extra,
        )
    )


def _order(customer: Customer, days: int, **extra: Any) -> None:
    OrderFactory(customer=customer, processed_at=NOW - timedelta(days=days), **extra)


@pytest.fixture
def people(app_ctx: None) -> tuple[Shop, dict[str, Customer], dict[str, int]]:
    shop = ShopFactory(settings={"subscriber_tags": ["定期"]})
    c = {name: CustomerFactory(shop=shop) for name in "ABCDEFGHIJKLMNOPQRS"}
    _contract(c["A"], "active")
    _contract(c["B"], "paused")
    _contract(c["C"], "paused")
    _contract(c["C"], "active")
    _contract(c["D"], "cancelled", ended_at=NOW - timedelta(days=5))
    c["E"].tags = ["定期"]
    c["E"].subscription_tag_since = NOW - timedelta(days=90)
    c["F"].subscription_tag_since = NOW - timedelta(days=90)
    c["F"].subscription_tag_ended_at = NOW - timedelta(days=3)
    _order(c["G"], 10, is_subscription=True)
    _order(c["H"], 100, is_subscription=True)
    _order(c["I"], 10, is_subscription=True, cancelled_at=NOW - timedelta(days=9))
    _contract(c["J"], "paused")
    c["J"].tags = ["定期"]
    c["J"].subscription_tag_since = NOW - timedelta(days=90)
    _order(c["K"], 20, is_subscription=True)
    _contract(c["K"], "cancelled", ended_at=NOW - timedelta(days=2))
    _order(c["L"], 10)
    _order(c["N"], 10, is_subscription=True)
    _order(c["N"], 5, is_subscription=True, cancelled_at=NOW - timedelta(days=4))
    _order(c["O"], 30, is_subscription=True, cancelled_at=NOW - timedelta(days=29))
    _order(c["O"], 10, is_subscription=True)
    _order(c["P"], 10, is_subscription=True)
    c["P"].subscription_tag_since = NOW - timedelta(days=90)
    c["P"].subscription_tag_ended_at = NOW - timedelta(days=20)
    _order(c["Q"], 10, is_subscription=True)
    _contract(c["Q"], "cancelled", ended_at=NOW - timedelta(days=30))
    _contract(c["R"], "paused")
    _order(c["R"], 5, is_subscription=True)
    _order(c["S"], 20, is_subscription=True)
    c["S"].subscription_tag_since = NOW - timedelta(days=90)
    c["S"].subscription_tag_ended_at = NOW - timedelta(days=3)
    LineUserFactory(shop=shop, customer_id=None)  # a friend alone
    other = ShopFactory(settings={"subscriber_tags": ["定期"]})
    _contract(CustomerFactory(shop=other), "active")

    bronze, silver, gold = (
        TierFactory(shop=shop, name=name, threshold=threshold)
        for name, threshold in (("Bronze", 5_000), ("Silver", 20_000), ("Gold", 50_000))
    )
    MemberFactory(customer=c["A"], tier_id=silver.id)
    MemberFactory(customer=c["B"], tier_id=gold.id)
    MemberFactory(customer=c["G"], tier_id=silver.id)
    MemberFactory(customer=c["L"], tier_id=None)
    TierFactory(shop=other, name="Silver", threshold=20_000)
    db.session.flush()
    return shop, c, {"bronze": bronze.id, "silver": silver.id, "gold": gold.id}


def _members(shop: Shop, customers: dict[str, Customer], condition: dict[str, Any]) -> set[str]:
    definition = {"match": "all", "conditions": [condition]}
    rows = db.session.execute(services.member_query(shop, definition, now=NOW)).all()
    assert services.count(shop, definition, now=NOW) == len(rows)
    names = {customer.id: name for name, customer in customers.items()}
    assert all(row.customer_id in names for row in rows), rows  # no friend alone, no other shop
    return {names[row.customer_id] for row in rows}


@pytest.mark.parametrize("state", subscriptions.STATES)
def test_each_subscription_state_selects_the_hand_counted_customers(
    people: tuple[Shop, dict[str, Customer], dict[str, int]], state: str
) -> None:
    shop, customers, _tiers = people
    found = _members(
        shop, customers, {"field": "subscription_status", "op": "in", "value": [state]}
    )
    assert found == EXPECTED[state]
    by_rule = {
        name
        for name, customer in customers.items()
        if subscriptions.subscription_status(shop, customer, now=NOW).state == state
    }
    assert found == by_rule


def test_one_persons_subscription_state_matches_the_whole_shops(
    people: tuple[Shop, dict[str, Customer], dict[str, int]],
) -> None:
    # `matches` (an enrollment's check) reads one customer's orders and contracts only.
    shop, customers, _tiers = people
    for state, names in EXPECTED.items():
        definition = {
            "match": "all",
            "conditions": [{"field": "subscription_status", "op": "in", "value": [state]}],
        }
        matched = {
            name
            for name, customer in customers.items()
            if services.matches(
                shop, definition, customer_id=customer.id, line_user_id=None, now=NOW
            )
        }
        assert matched == names, state


def test_subscription_states_combine_and_negate(
    people: tuple[Shop, dict[str, Customer], dict[str, int]],
) -> None:
    shop, customers, _tiers = people
    either = {"field": "subscription_status", "op": "in", "value": ["paused", "cancelled"]}
    assert _members(shop, customers, either) == EXPECTED["paused"] | EXPECTED["cancelled"]
    not_active = {"field": "subscription_status", "op": "not_in", "value": ["active"]}
    assert _members(shop, customers, not_active) == set(customers) - EXPECTED["active"]


def test_membership_tier_selects_the_members_in_those_tiers(
    people: tuple[Shop, dict[str, Customer], dict[str, int]],
) -> None:
    shop, customers, tiers = people

    def tier(op: str, *names: str) -> set[str]:
        condition = {"field": "membership_tier", "op": op, "value": [tiers[n] for n in names]}
        return _members(shop, customers, condition)

    assert tier("in", "silver") == {"A", "G"}
    assert tier("in", "silver", "gold") == {"A", "B", "G"}
    assert tier("in", "bronze") == set()
    # Not in a tier: everyone else, members below every tier and non-members included.
    assert tier("not_in", "silver", "gold") == set(customers) - {"A", "B", "G"}


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({"field": "subscription_status", "op": "in", "value": ["gone"]}, "value[0]"),
        ({"field": "subscription_status", "op": "is", "value": ["active"]}, "op"),
        ({"field": "membership_tier", "op": "in", "value": ["gold"]}, "value[0]"),
        ({"field": "membership_tier", "op": "in", "value": []}, "value"),
    ],
)
def test_a_bad_subscription_or_tier_condition_is_a_400_naming_it(
    admin: AdminClient, condition: dict[str, Any], path: str
) -> None:
    shop = ShopFactory()
    response = admin.post(
        "/api/admin/segments/count",
        shop=shop,
        json={"definition": {"match": "all", "conditions": [condition]}},
    )
    assert response.status_code == 400
    assert list(response.json["details"]["fields"]) == [f"definition.conditions[0].{path}"]


def test_the_builder_offers_the_shops_tiers_lowest_first(
    admin: AdminClient, people: tuple[Shop, dict[str, Customer], dict[str, int]]
) -> None:
    shop, _customers, tiers = people
    answer = admin.get("/api/admin/segments/fields", shop=shop).json
    assert answer["tiers"] == [
        {"id": tiers["bronze"], "name": "Bronze"},
        {"id": tiers["silver"], "name": "Silver"},
        {"id": tiers["gold"], "name": "Gold"},
    ]
    fields = {f["field"]: f for f in answer["fields"]}
    assert fields["subscription_status"]["choices"] == ["active", "paused", "cancelled", "never"]
    assert fields["membership_tier"]["kind"] == "tier"
