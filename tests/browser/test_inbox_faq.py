"""The FAQ bot page in a real browser: add an entry, then ask the bot and see its scores."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {
        "sign_in": "デモショップを開く",
        "save": "保存",
        "try": "試す",
        "answers": "ボットが回答します",
    },
    "en": {
        "sign_in": "Open the demo shop",
        "save": "Save",
        "try": "Try",
        "answers": "The bot answers",
    },
}


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_a_merchant_adds_an_faq_entry_and_tries_the_bot(
    page: Page, live_server: LiveServer, locale: str
) -> None:
    t = TEXT[locale]
    page.goto(f"{live_server.url}/demo/sign-in?locale={locale}")
    page.get_by_role("button", name=t["sign_in"]).click()
    page.goto(f"{live_server.url}/inbox/faq?locale={locale}")

    topic = f"ペット同伴{locale}"
    page.locator("#faq-questions").fill(f"{topic}で来店できますか\n{topic}は可能ですか")
    page.locator("#faq-answer").fill("<b>はい</b>、小型犬なら大丈夫です。")
    page.locator("#faq-quick").fill("地図 | https://example.jp/map")
    page.locator("#faq-form").get_by_role("button", name=t["save"]).click()
    row = page.locator("#faq-rows tr").filter(has_text=topic)
    expect(row).to_have_count(1)
    expect(row.locator(".answer")).to_have_text("<b>はい</b>、小型犬なら大丈夫です。")  # as text
    assert row.locator(".answer b").count() == 0

    page.locator("#try-question").fill(f"{topic}できる？")
    page.get_by_role("button", name=t["try"]).click()
    expect(page.locator("#try-verdict")).to_contain_text(t["answers"])
    expect(page.locator("#try-chart rect.bar").first).to_be_visible()
    expect(page.locator("#try-chart .threshold")).to_have_count(1)

    # A saved reply added here is offered in the inbox's reply box.
    page.locator("#saved-title").fill(f"お詫び{locale}")
    page.locator("#saved-body").fill("ご不便をおかけしました。")
    page.locator("#saved-form").get_by_role("button").click()
    expect(page.locator("#saved-rows li").filter(has_text=f"お詫び{locale}")).to_have_count(1)
    screenshot(page, f"inbox-faq-{locale}")
    page.goto(f"{live_server.url}/inbox?locale={locale}")
    expect(page.locator("#saved-replies option").filter(has_text=f"お詫び{locale}")).to_have_count(
        1
    )
    assert page.js_errors == []  # type: ignore[attr-defined]
