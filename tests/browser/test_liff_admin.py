"""The merchant's membership pages in a real browser (demo sign-in): tiers and rules, a coupon
offer with its preview and validation messages, a subscriber post, the members list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {
        "sign_in": "デモショップを開く",
        "tiers": "会員ランク",
        "save_tier": "ランクを保存",
        "preview": "プレビュー",
        "save_offer": "クーポンを保存",
        "required": "タイトル: required",
        "percent": "15%OFF",
        "members": "会員",
        "reach": "公開範囲の会員",
    },
    "en": {
        "sign_in": "Open the demo shop",
        "tiers": "Tiers",
        "save_tier": "Save tier",
        "preview": "Preview",
        "save_offer": "Save offer",
        "required": "Title: required",
        "percent": "15% OFF",
        "members": "Members",
        "reach": "Members in the audience",
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_merchant_sets_up_tiers_coupons_and_posts(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    text = TEXT[lang]
    page.goto(f"{live_server.url}/?locale={lang}")
    page.get_by_role("button", name=text["sign_in"]).click()

    # Tiers and points rules.
    page.goto(f"{live_server.url}/membership?locale={lang}")
    expect(page.locator("#kz-membership[data-ready=true]")).to_be_attached()
    tier_form = page.locator("[data-form=tier]")
    name = f"PLATINUM-{lang}"
    tier_form.locator("[name=name]").fill(name)
    tier_form.locator("[name=threshold]").fill("80000" if lang == "ja" else "90000")
    tier_form.locator("[name=benefits]").fill("限定イベントにご招待")
    tier_form.get_by_role("button", name=text["save_tier"]).click()
    expect(page.locator("tr[data-tier]", has_text=name)).to_be_visible()
    expect(page.locator("figure.chart rect.bar").first).to_be_attached()
    screenshot(page, f"admin_membership_{lang}")

    # A coupon offer: a validation message on the empty title, then a preview and a save.
    page.goto(f"{live_server.url}/coupons?locale={lang}")
    form = page.locator("[data-form=offer]")
    expect(form).to_be_visible()
    form.get_by_role("button", name=text["preview"]).click()
    expect(form.locator("[data-field=title] .field-error")).to_have_text(text["required"])
    expect(form.locator("[name=title]")).to_have_attribute("aria-invalid", "true")
    form.locator("[name=title]").fill(f"LINE限定 15%OFF ({lang})")
    form.locator("[name=value]").fill("15")
    form.locator("[name=minimum_subtotal]").fill("3000")
    form.get_by_role("button", name=text["preview"]).click()
    expect(page.locator("[data-preview=offer] .value")).to_have_text(text["percent"])
    form.get_by_role("button", name=text["save_offer"]).click()
    expect(page.locator("tr[data-offer]", has_text=f"LINE限定 15%OFF ({lang})")).to_be_visible()
    screenshot(page, f"admin_coupons_{lang}")

    # A subscriber post, previewed with its audience.
    page.goto(f"{live_server.url}/subscriber-posts?locale={lang}")
    post = page.locator("[data-form=post]")
    post.locator("[name=title]").fill("定期便だけの使い方ガイド")
    post.locator("[name=body]").fill(
        "朝の一杯から始めましょう。\n\n続けるコツは、無理をしないこと。"
    )
    post.get_by_role("button", name=text["preview"]).click()
    expect(page.locator("[data-preview=post]")).to_contain_text("定期便だけの使い方ガイド")
    expect(page.get_by_text(re.compile(text["reach"]))).to_be_visible()
    screenshot(page, f"admin_subscriber_posts_{lang}")

    # The members list with search.
    page.goto(f"{live_server.url}/members?locale={lang}")
    expect(page.locator("#kz-membership[data-ready=true]")).to_be_attached()
    rows = page.locator("tr[data-member]")
    if rows.count() == 0:  # the demo shop starts without members: enrol the buyers
        page.locator("#kz-membership button.primary").click()
        expect(rows.first).to_be_visible()
    first = rows.first.locator("a").inner_text()
    page.get_by_role("searchbox").fill(first)
    page.get_by_role("searchbox").press("Enter")
    expect(rows).to_have_count(1)
    screenshot(page, f"admin_members_{lang}")
    rows.first.locator("a").click()
    expect(page.locator(".member-name")).to_contain_text(first)
    screenshot(page, f"admin_member_{lang}")
    assert page.js_errors == []  # type: ignore[attr-defined]
