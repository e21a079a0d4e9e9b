"""The demo admin in a real browser: local sign-in, then home with live numbers and a chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "button", "heading", "customers_label"),
    [
        ("ja", "デモショップを開く", "ようこそ", "顧客"),
        ("en", "Open the demo shop", "Welcome", "Customers"),
    ],
)
def test_the_demo_admin_opens_with_its_numbers_and_sales_chart(
    page: Page,
    live_server: LiveServer,
    locale: str,
    button: str,
    heading: str,
    customers_label: str,
) -> None:
    page.goto(f"{live_server.url}/?locale={locale}")

    expect(page.locator(".demo-banner")).to_be_visible()  # clearly marked as demo
    page.get_by_role("button", name=button).click()
    page.goto(f"{live_server.url}/?locale={locale}")

    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    customers = page.locator('[data-stat="customers"]')
    expect(customers).to_have_text("300")
    expect(page.get_by_text(customers_label, exact=True)).to_be_visible()
    bars = page.locator("#sales-chart rect.bar")
    expect(bars).to_have_count(12)
    screenshot(page, f"admin-home-{locale}")
    assert page.js_errors == []  # type: ignore[attr-defined]
