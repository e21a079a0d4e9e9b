"""The admin shell in a real browser (demo mode): the onboarding checklist with live status, and
Settings (history import, subscriber rules, privacy requests) in Japanese and English."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

WORDS = {
    "ja": {
        "open": "デモショップを開く",
        "checklist": "はじめに",
        "done": "完了",
        "todo": "未完了",
        "settings": "設定",
        "history": "Shopifyのデータ",
        "subscribers": "定期購入者の判定",
        "privacy": "個人データの請求",
        "none": "請求はまだありません。",
        "save": "保存",
        "saved": "保存しました",
        "active": "現在の定期購入者",
    },
    "en": {
        "open": "Open the demo shop",
        "checklist": "Getting started",
        "done": "Done",
        "todo": "To do",
        "settings": "Settings",
        "history": "Shopify data",
        "subscribers": "Who counts as a subscriber",
        "privacy": "Privacy requests",
        "none": "No requests so far.",
        "save": "Save",
        "saved": "Saved",
        "active": "Active subscribers now",
    },
}


def sign_in(page: Page, live_server: LiveServer, locale: str) -> None:
    page.goto(f"{live_server.url}/?locale={locale}")
    page.get_by_role("button", name=WORDS[locale]["open"]).click()
    page.goto(f"{live_server.url}/?locale={locale}")


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_home_shows_the_onboarding_checklist_with_live_status(
    page: Page, live_server: LiveServer, locale: str
) -> None:
    words = WORDS[locale]
    sign_in(page, live_server, locale)

    checklist = page.locator("#checklist")
    expect(checklist.get_by_role("heading", name=words["checklist"])).to_be_visible()
    steps = checklist.locator(".step")
    expect(steps).to_have_count(5)
    history = checklist.locator('[data-step="history"]')
    expect(history).to_have_attribute("data-state", "done")  # the demo's data is seeded
    expect(history.locator(".step-status")).to_have_text(words["done"])
    expect(checklist.locator('[data-step="theme_block"] .step-status')).to_have_text(words["todo"])
    expect(checklist.locator("[data-summary]")).to_contain_text("/ 5")
    screenshot(page, f"admin-checklist-{locale}")
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_settings_shows_history_subscribers_and_privacy_and_saves(
    page: Page, live_server: LiveServer, locale: str
) -> None:
    words = WORDS[locale]
    sign_in(page, live_server, locale)
    page.get_by_role("link", name=words["settings"], exact=True).first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(words["settings"])
    expect(page.get_by_role("heading", name=words["history"])).to_be_visible()
    expect(page.get_by_role("heading", name=words["privacy"])).to_be_visible()
    expect(page.get_by_text(words["none"])).to_be_visible()
    subscribers = page.locator("#subscribers")
    expect(subscribers.get_by_role("heading", name=words["subscribers"])).to_be_visible()
    tag = subscribers.get_by_role("checkbox", name="定期購入")  # the demo's subscriber tag
    expect(tag).to_be_checked()
    expect(subscribers.locator("[data-active]")).to_contain_text(words["active"])

    subscribers.locator('input[name="lapse_days"]').fill("60")
    subscribers.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#toast")).to_have_text(words["saved"])
    page.reload()
    expect(subscribers.locator('input[name="lapse_days"]')).to_have_value("60")
    screenshot(page, f"admin-settings-{locale}")
    assert page.js_errors == []  # type: ignore[attr-defined]
