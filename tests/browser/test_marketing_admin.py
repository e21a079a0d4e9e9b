"""Segments and broadcasts in a real browser (demo sign-in, ja and en): the builder's live count
against the database's own count, a field error, saving; composing a broadcast with a variable
and the LINE preview, its recipients, sending it and reading the results with the lift report;
scheduling one for later and cancelling it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, text

from server.campaigns import broadcast_results, broadcasts
from server.campaigns.models import BroadcastRecipient
from server.commerce.models import Order
from server.db import db
from server.line.models import Delivery, DeliveryContent
from server.segments import services as segments
from server.shops.models import Shop
from tests.browser.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {
        "sign_in": "デモショップを開く",
        "add": "条件を追加",
        "save_segment": "セグメントを保存",
        "new": "新しい配信を作成",
        "name_var": "お名前",
        "sample_name": "山田 花子",
        "schedule": "予約する",
        "save": "下書きを保存",
        "cancel": "予約をキャンセル",
        "later": "日時を指定",
        "required": "required",
        "lift": "本当の効果",
    },
    "en": {
        "sign_in": "Open the demo shop",
        "add": "Add condition",
        "save_segment": "Save segment",
        "new": "New broadcast",
        "name_var": "Name",
        "sample_name": "Hanako Yamada",
        "schedule": "Schedule",
        "save": "Save draft",
        "cancel": "Cancel",
        "later": "At a time",
        "required": "required",
        "lift": "Incremental lift",
    },
}


@pytest.fixture(scope="module", autouse=True)
def _statistics(live_server: LiveServer) -> None:
    """PostgreSQL plans the segment queries from table statistics; autovacuum gathers them
    after a bulk load in production, so gather them here too (fresh tables have none)."""
    with live_server.app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.commit()
            db.session.execute(text("ANALYZE"))
            db.session.commit()


def demo_shop(live_server: LiveServer) -> Shop:
    shop = db.session.scalar(select(Shop).where(Shop.is_demo.is_(True)))
    assert shop is not None
    return shop


def count_in_db(live_server: LiveServer, definition: dict[str, Any]) -> tuple[int, int]:
    with live_server.app.app_context():
        shop = demo_shop(live_server)
        now = datetime.now(UTC)
        return (
            segments.count(shop, definition, now=now),
            segments.count_reachable(shop, definition, now=now),
        )


def follow_links_and_order(
    page: Page, live_server: LiveServer, broadcast_id: int, *, clicks: int, orders: int
) -> int:
    """What recipients do in LINE: open the tracked link they got, and buy."""
    with live_server.app.app_context():
        shop = demo_shop(live_server)
        rows = db.session.execute(
            select(BroadcastRecipient.customer_id, DeliveryContent.messages)
            .join(Delivery, Delivery.id == BroadcastRecipient.delivery_id)
            .join(DeliveryContent, DeliveryContent.id == Delivery.content_id)
            .where(
                BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.customer_id.is_not(None),
                # people of their own: another run's orders must not count here
                BroadcastRecipient.customer_id.not_in(
                    select(Order.customer_id).where(Order.name.like("#B%"))
                ),
            )
            .order_by(BroadcastRecipient.id)
            .limit(clicks)
        ).all()
        assert len(rows) == clicks
        shop_id = shop.id
        db.session.commit()  # end the read: the server writes the clicks meanwhile (SQLite)
        for _, messages in rows:
            link = messages[0]["text"].rsplit(" ", 1)[1]
            assert link.startswith("https://kizuna.test/r/")
            response = page.request.get(
                live_server.url + link.removeprefix("https://kizuna.test"), max_redirects=0
            )
            assert response.status == 302
            assert response.headers["location"] == (
                "https://kizuna-demo.myshopify.com/collections/new"
            )
        now = datetime.now(UTC)
        for index, (customer_id, _) in enumerate(rows[:orders]):
            db.session.add(
                Order(
                    shop_id=shop_id,
                    shopify_id=9_900_000_000 + broadcast_id * 100 + index,
                    customer_id=customer_id,
                    name=f"#B{broadcast_id}-{index}",
                    total_price=4800,
                    subtotal_price=4800,
                    processed_at=now + timedelta(minutes=1),
                )
            )
        db.session.commit()
        return orders


def sign_in(page: Page, live_server: LiveServer, lang: str) -> None:
    page.goto(f"{live_server.url}/?locale={lang}")
    page.get_by_role("button", name=TEXT[lang]["sign_in"]).click()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_merchant_builds_a_segment_with_a_live_count(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    text = TEXT[lang]
    sign_in(page, live_server, lang)
    page.goto(f"{live_server.url}/segments?locale={lang}")
    root = page.locator("#kz-segments[data-ready=true]")
    expect(root).to_be_attached()

    everyone, everyone_reach = count_in_db(live_server, segments.EVERYONE)
    expect(root).to_have_attribute("data-count", str(everyone))
    expect(root).to_have_attribute("data-reachable", str(everyone_reach))

    page.get_by_role("button", name=text["add"]).first.click()
    row = page.locator("[data-condition]").first
    row.locator("[data-role=op]").select_option("gte")
    row.locator("[data-role=value]").fill("3")
    repeaters = {"match": "all", "conditions": [{"field": "order_count", "op": "gte", "value": 3}]}
    count, reach = count_in_db(live_server, repeaters)
    assert count < everyone
    expect(root).to_have_attribute("data-count", str(count))
    expect(root).to_have_attribute("data-reachable", str(reach))
    expect(page.locator("[data-live-count]")).to_contain_text(f"{count:,}")
    expect(page.locator("figure.chart rect.bar")).to_have_count(2)

    # A second condition on customer tags with no tag yet: the row says what is wrong.
    page.get_by_role("button", name=text["add"]).first.click()
    second = page.locator("[data-condition]").nth(1)
    second.locator("[data-role=field]").select_option("customer_tag")
    expect(second).to_have_attribute("aria-invalid", "true")
    expect(second.locator(".field-error")).to_contain_text("non-empty")
    second.locator("[data-role=remove]").click()
    expect(root).to_have_attribute("data-count", str(count))

    page.locator("[name=name]").fill(f"リピーター3回以上 ({lang})")
    page.get_by_role("button", name=text["save_segment"]).click()
    saved = page.locator("[data-segment]", has_text=f"リピーター3回以上 ({lang})")
    expect(saved).to_be_visible()
    expect(saved.locator("[data-count]")).to_have_attribute("data-count", str(count))
    screenshot(page, f"admin_segments_{lang}")
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_merchant_composes_previews_sends_and_reads_the_results(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    text = TEXT[lang]
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, lang)
    page.goto(f"{live_server.url}/broadcasts?locale={lang}")
    page.get_by_role("link", name=text["new"]).click()
    root = page.locator("#kz-broadcasts[data-ready=true]")
    expect(root).to_be_attached()

    # Saving without a name: the field says so.
    page.locator("[name='message.text']").fill("新作のご案内です")
    page.get_by_role("button", name=text["save"]).click()
    expect(page.locator("[data-field=name] .field-error")).to_contain_text(text["required"])

    page.locator("[name=name]").fill(f"新作のご案内 ({lang})")
    box = page.locator("[name='message.text']")
    box.fill("")
    box.focus()
    page.locator("[data-variable=name]").click()
    box.press("End")
    box.type("さん、新作のご案内です https://kizuna-demo.myshopify.com/collections/new")
    expect(box).to_have_value(
        "{name}さん、新作のご案内です https://kizuna-demo.myshopify.com/collections/new"
    )
    phone = page.locator("[data-preview=broadcast]")
    expect(phone.locator(".line-bubble.text")).to_have_text(
        f"{text['sample_name']}さん、新作のご案内です https://kizuna-demo.myshopify.com/collections/new"
    )

    page.locator("[name=holdout_percent]").fill("20")
    everyone, reach = count_in_db(live_server, segments.EVERYONE)
    estimate = page.locator("[data-estimate]")
    expect(estimate.locator("[data-tile=members] .value")).to_have_text(f"{everyone:,}")
    expect(estimate.locator("[data-tile=reachable] .value")).to_have_text(f"{reach:,}")
    expect(estimate.locator("[data-tile=holdout] .value")).to_have_text(f"{round(reach * 0.2):,}")
    expect(estimate.locator("[data-outbox]")).to_be_visible()  # the demo shop records, not sends
    screenshot(page, f"admin_broadcast_compose_{lang}")

    page.get_by_role("button", name=text["schedule"]).click()  # "now" is selected: confirm, send
    results = page.locator("[data-results=sent]")
    expect(results).to_be_visible(timeout=15_000)
    with live_server.app.app_context():
        shop = demo_shop(live_server)
        sent = broadcasts.list_broadcasts(shop)[0]
        assert sent.name == f"新作のご案内 ({lang})"
        counts = broadcast_results.delivery_counts(shop, sent)
        assert sent.recipients_count is not None
        assert sent.recipients_count + (sent.holdout_count or 0) == reach
    # Quiet hours or the frequency cap may hold some back for later; none are lost.
    tiles = page.locator("[data-results] .mk-tiles")
    expect(tiles.locator("[data-tile=recipients] .value")).to_have_text(
        f"{sent.recipients_count:,}"
    )
    assert counts["delivered"] + counts["pending"] == sent.recipients_count

    # Five linked recipients open their own link; three of them order the next day.
    buyers = follow_links_and_order(page, live_server, sent.id, clicks=5, orders=3)
    page.reload()
    expect(page.locator("[data-results=sent]")).to_be_visible()
    expect(tiles.locator("[data-tile=unique_clicks] .value")).to_have_text("5")
    expect(tiles.locator("[data-tile=orders] .value")).to_have_text("3")
    expect(tiles.locator("[data-tile=revenue] .value")).to_contain_text(f"{3 * 4800:,}")
    assert buyers == 3
    expect(page.locator("[data-chart=revenue] rect.bar")).to_have_count(8)
    expect(page.get_by_role("heading", name=text["lift"])).to_be_visible()
    expect(page.locator("[data-lift] tr[data-group=holdout]")).to_be_visible()
    expect(page.locator("[data-chart=interval] circle.point")).to_be_attached()
    expect(page.locator("[data-preview=sent] .line-bubble.text")).to_contain_text(
        "さん、新作のご案内です"
    )
    screenshot(page, f"admin_broadcast_results_{lang}")

    page.goto(f"{live_server.url}/broadcasts?locale={lang}")
    expect(page.locator("tr[data-broadcast]", has_text=f"新作のご案内 ({lang})")).to_be_visible()
    screenshot(page, f"admin_broadcasts_{lang}")
    assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_broadcast_scheduled_for_later_can_be_cancelled(
    page: Page, live_server: LiveServer, lang: str
) -> None:
    text = TEXT[lang]
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, lang)
    page.goto(f"{live_server.url}/broadcasts/0?locale={lang}")
    expect(page.locator("#kz-broadcasts[data-ready=true]")).to_be_attached()
    page.locator("[name=name]").fill(f"来月のお知らせ ({lang})")
    page.locator("[name=type]").select_option("flex")
    page.locator("[name='message.title']").fill("来月のお知らせ")
    page.locator("[name='message.body']").fill("新しい定期便プランが始まります")
    page.locator("[name='message.button_label']").fill("詳しく見る")
    page.locator("[name='message.button_url']").fill("https://hanamaru-demo.myshopify.com/")
    expect(page.locator("[data-preview=broadcast] .fx-bubble .fx-button")).to_have_text(
        "詳しく見る"
    )
    page.get_by_label(text["later"]).check()
    day = datetime.now(UTC) + timedelta(days=30)
    page.locator("[name=send_at]").fill(day.strftime("%Y-%m-%dT10:00"))
    page.get_by_role("button", name=text["schedule"]).click()
    notice = page.locator("[data-scheduled]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(str(day.day))
    screenshot(page, f"admin_broadcast_scheduled_{lang}")

    page.get_by_role("button", name=text["cancel"]).click()
    expect(page.locator("#kz-broadcasts[data-status=cancelled]")).to_be_attached()
    assert page.js_errors == []  # type: ignore[attr-defined]
