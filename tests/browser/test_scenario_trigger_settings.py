"""The settings of the "tier changed" and "due to reorder" triggers in the scenario editor, in a
real browser in ja and en: what the merchant picks is what the database holds, and a setting the
server refuses is shown at its control while the saved scenario stays as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from server.campaigns import editing
from server.campaigns.models import Scenario
from server.commerce.models import Product
from server.db import db
from server.membership.models import Tier
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_marketing_admin import demo_shop, sign_in

pytestmark = pytest.mark.browser

SAVED = {"ja": "保存しました", "en": "Saved"}


def draft_with_tiers(live_server: LiveServer, lang: str) -> tuple[int, dict[str, int], int]:
    """A draft scenario, three tiers of the demo shop's own for this run, and a product id."""
    with live_server.app.app_context():
        shop = demo_shop(live_server)
        offset = 1 if lang == "en" else 0
        tiers = {}
        for name, threshold in (("bronze", 11_110), ("silver", 22_220), ("gold", 33_330)):
            tier = Tier(shop_id=shop.id, name=f"KZ-{name}-{lang}", threshold=threshold + offset)
            db.session.add(tier)
            db.session.flush()
            tiers[name] = tier.id
        scenario = editing.create_scenario(
            shop,
            {
                "name": f"ランク・再購入 ({lang})",
                "trigger": "order_paid",
                "steps": [{"delay_days": 1, "message": {"type": "text", "text": "{name}様"}}],
            },
            now=datetime.now(UTC),
        )
        product_id = db.session.scalars(
            select(Product.id).where(Product.shop_id == shop.id).order_by(Product.title).limit(1)
        ).one()
        db.session.commit()
        return scenario.id, tiers, product_id


def saved_trigger(live_server: LiveServer, scenario_id: int) -> tuple[str, dict[str, Any]]:
    with live_server.app.app_context():
        scenario = db.session.get(Scenario, scenario_id)
        assert scenario is not None
        answer = (scenario.trigger, dict(scenario.trigger_params or {}))
        db.session.commit()
        return answer


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_merchant_sets_which_tier_change_and_how_early_before_a_reorder(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    scenario_id, tiers, product_id = draft_with_tiers(live_server, lang)
    sign_in(page, live_server, lang)
    page.goto(f"{live_server.url}/campaigns/{scenario_id}?locale={lang}")
    expect(page.locator("#kz-campaigns[data-ready=true]")).to_be_attached()
    form = page.locator("[data-form=scenario]")
    toast = page.locator("#toast")

    # Tier changed: down, from gold to silver.
    form.locator("select[name=trigger]").select_option("tier_changed")
    direction = form.locator("select[name='trigger_params.direction']")
    expect(direction).to_have_value("up")
    direction.select_option("down")
    from_box = form.locator("[data-field='trigger_params.from_tier_ids']")
    to_box = form.locator("[data-field='trigger_params.tier_ids']")
    expect(from_box).to_contain_text(f"KZ-gold-{lang}")
    from_box.locator(f"input[value='{tiers['gold']}']").check()
    to_box.locator(f"input[value='{tiers['silver']}']").check()
    screenshot(page, f"admin_scenario_tier_trigger_{lang}")
    form.locator("[data-action=save]").click()
    expect(toast).to_have_text(SAVED[lang])
    wanted = {"direction": "down", "tier_ids": [tiers["silver"]], "from_tier_ids": [tiers["gold"]]}
    assert saved_trigger(live_server, scenario_id) == ("tier_changed", wanted)

    # The reloaded editor shows what was saved; "up" from gold to silver can never happen.
    direction = form.locator("select[name='trigger_params.direction']")
    expect(direction).to_have_value("down")
    expect(from_box.locator(f"input[value='{tiers['gold']}']")).to_be_checked()
    direction.select_option("up")
    form.locator("[data-action=save]").click()
    error = to_box.locator(".field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no change from those tiers to these goes up")
    assert saved_trigger(live_server, scenario_id) == ("tier_changed", wanted)

    # Due to reorder: three days before the predicted date, for one product.
    form.locator("select[name=trigger]").select_option("due_to_reorder")
    days = form.locator("input[name='trigger_params.days_ahead']")
    expect(days).to_have_value("0")
    days.fill("3")
    days.press("Tab")
    form.locator("select[name='trigger_params.product_ids']").select_option(str(product_id))
    form.locator("[data-action=save]").click()
    expect(toast).to_have_text(SAVED[lang])
    wanted = {"days_ahead": 3, "product_ids": [product_id]}
    assert saved_trigger(live_server, scenario_id) == ("due_to_reorder", wanted)

    days = form.locator("input[name='trigger_params.days_ahead']")
    expect(days).to_have_value("3")
    days.fill("45")
    days.press("Tab")
    form.locator("[data-action=save]").click()
    error = form.locator("[data-field='trigger_params.days_ahead'] .field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("from 0 to 30")
    expect(days).to_have_attribute("aria-invalid", "true")
    assert saved_trigger(live_server, scenario_id) == ("due_to_reorder", wanted)
    screenshot(page, f"admin_scenario_reorder_trigger_{lang}")
    assert page.js_errors == []  # type: ignore[attr-defined]
