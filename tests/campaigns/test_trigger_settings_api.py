"""/api/admin/campaigns: the settings of the "tier changed" and "due to reorder" triggers round
trip through the editor, and a bad setting is a 400 naming it that leaves the scenario as saved."""

from __future__ import annotations

from typing import Any

import pytest

from server.campaigns.models import Scenario
from server.db import db
from server.shops.models import Shop
from tests.campaigns.conftest import make_scenario
from tests.conftest import AdminClient
from tests.factories.commerce import ProductFactory
from tests.factories.membership import TierFactory
from tests.factories.shops import ShopFactory

BASE = "/api/admin/campaigns"


@pytest.fixture
def setup(shop: Shop) -> dict[str, Any]:
    other = ShopFactory()
    ids = {
        "bronze": TierFactory(shop=shop, name="BRONZE", threshold=5_000).id,
        "silver": TierFactory(shop=shop, name="SILVER", threshold=20_000).id,
        "gold": TierFactory(shop=shop, name="GOLD", threshold=50_000).id,
        "other_tier": TierFactory(shop=other, name="SILVER", threshold=20_000).id,
        "product": ProductFactory(shop=shop, title="化粧水").id,
        "other_product": ProductFactory(shop=other, title="化粧水").id,
    }
    scenario = make_scenario(shop, active=False, trigger="tier_changed")
    ids["scenario"] = scenario.id
    return ids


def put(admin: AdminClient, shop: Shop, scenario_id: int, trigger: str, params: Any) -> Any:
    return admin.put(
        f"{BASE}/scenarios/{scenario_id}",
        shop=shop,
        json={"trigger": trigger, "trigger_params": params},
    )


def saved(scenario_id: int) -> tuple[str, dict[str, Any]]:
    db.session.expire_all()
    scenario = db.session.get(Scenario, scenario_id)
    assert scenario is not None
    return scenario.trigger, scenario.trigger_params


def test_tier_change_settings_round_trip(
    admin: AdminClient, shop: Shop, setup: dict[str, Any]
) -> None:
    params = {"direction": "down", "from_tier_ids": [setup["gold"]], "tier_ids": [setup["silver"]]}
    response = put(admin, shop, setup["scenario"], "tier_changed", params)
    assert response.status_code == 200, response.json
    assert response.json["trigger_params"] == params
    again = admin.get(f"{BASE}/scenarios/{setup['scenario']}", shop=shop).json
    assert again["trigger_params"] == params
    assert saved(setup["scenario"]) == ("tier_changed", params)
    # Nothing ticked means any tier; the direction defaults to up.
    response = put(admin, shop, setup["scenario"], "tier_changed", {})
    assert response.json["trigger_params"] == {"direction": "up", "tier_ids": []}


def test_due_to_reorder_settings_round_trip(
    admin: AdminClient, shop: Shop, setup: dict[str, Any]
) -> None:
    params = {"days_ahead": 3, "product_ids": [setup["product"]]}
    response = put(admin, shop, setup["scenario"], "due_to_reorder", params)
    assert response.status_code == 200, response.json
    assert response.json["trigger_params"] == params
    assert saved(setup["scenario"]) == ("due_to_reorder", params)
    response = put(admin, shop, setup["scenario"], "due_to_reorder", {})
    assert response.json["trigger_params"] == {"days_ahead": 0, "product_ids": []}


@pytest.mark.parametrize(
    ("trigger", "params", "field"),
    [
        ("tier_changed", {"direction": "sideways"}, "trigger_params.direction"),
        ("tier_changed", {"tier_ids": ["gold"]}, "trigger_params.tier_ids"),
        ("tier_changed", {"tier_ids": "{gold}"}, "trigger_params.tier_ids"),
        ("tier_changed", {"tier_ids": ["{other_tier}"]}, "trigger_params.tier_ids"),
        ("tier_changed", {"from_tier_ids": [999_999]}, "trigger_params.from_tier_ids"),
        # Up from GOLD to SILVER, or from SILVER to SILVER: nobody could ever enter.
        (
            "tier_changed",
            {"direction": "up", "from_tier_ids": ["{gold}"], "tier_ids": ["{silver}"]},
            "trigger_params.tier_ids",
        ),
        (
            "tier_changed",
            {"direction": "any", "from_tier_ids": ["{silver}"], "tier_ids": ["{silver}"]},
            "trigger_params.tier_ids",
        ),
        ("tier_changed", ["up"], "trigger_params"),
        ("due_to_reorder", {"days_ahead": 31}, "trigger_params.days_ahead"),
        ("due_to_reorder", {"days_ahead": -1}, "trigger_params.days_ahead"),
        ("due_to_reorder", {"days_ahead": "soon"}, "trigger_params.days_ahead"),
        ("due_to_reorder", {"product_ids": ["{other_product}"]}, "trigger_params.product_ids"),
        ("due_to_reorder", {"product_ids": [True]}, "trigger_params.product_ids"),
    ],
)
def test_a_bad_setting_is_a_400_naming_it_and_nothing_is_saved(
    admin: AdminClient,
    shop: Shop,
    setup: dict[str, Any],
    trigger: str,
    params: Any,
    field: str,
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return setup[value[1:-1]]
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = saved(setup["scenario"])
    response = put(admin, shop, setup["scenario"], trigger, fill(params))
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_scenario"
    assert list(response.json["details"]["fields"]) == [field], response.json
    assert saved(setup["scenario"]) == before
