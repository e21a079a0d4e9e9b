"""The segment builder offers the subscription status and membership tier fields (ja and en
labels), and the live count of a subscription condition is the database's count."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.test_marketing_admin import TEXT, count_in_db, sign_in

pytestmark = pytest.mark.browser

LABELS = {
    "ja": {
        "field": "定期購入",
        "tier": "会員ランク",
        "paused": "一時停止中",
        "cancelled": "解約済み",
    },
    "en": {
        "field": "Subscription",
        "tier": "Membership tier",
        "paused": "Paused",
        "cancelled": "Cancelled",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_merchant_counts_former_and_paused_subscribers(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    labels = LABELS[lang]
    sign_in(page, live_server, lang)
    page.goto(f"{live_server.url}/segments?locale={lang}")
    root = page.locator("#kz-segments[data-ready=true]")
    expect(root).to_be_attached()

    page.get_by_role("button", name=TEXT[lang]["add"]).first.click()
    row = page.locator("[data-condition]").first
    fields = row.locator("[data-role=field]")
    expect(fields.locator("option[value=membership_tier]")).to_have_text(labels["tier"])
    expect(fields.locator("option[value=subscription_status]")).to_have_text(labels["field"])
    fields.select_option("subscription_status")
    row.get_by_label(labels["cancelled"]).check()  # "active", the first state, stays ticked
    definition = {
        "match": "all",
        "conditions": [
            {"field": "subscription_status", "op": "in", "value": ["active", "cancelled"]}
        ],
    }
    count, reach = count_in_db(live_server, definition)
    assert count > 0
    expect(root).to_have_attribute("data-count", str(count))
    expect(root).to_have_attribute("data-reachable", str(reach))

    row.locator("[data-role=op]").select_option("not_in")
    definition["conditions"][0]["op"] = "not_in"
    count, reach = count_in_db(live_server, definition)
    expect(root).to_have_attribute("data-count", str(count))
    expect(row.get_by_label(labels["paused"])).not_to_be_checked()
    assert page.js_errors == []  # type: ignore[attr-defined]
