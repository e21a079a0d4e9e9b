"""`due_to_reorder` (a range over stored run-out dates) and the LINE Flex carousel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from server.db import db
from server.line import messages as line_messages
from server.recommendations import carousel, serving
from server.recommendations.models import ReorderPrediction
from server.recommendations.serving import Recommendation
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory
from tests.factories.recommendations import sellable
from tests.factories.shops import ShopFactory

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def predict(shop: Shop, customer_id: int, product_id: int, due: datetime, **extra: object) -> None:
    db.session.add(
        ReorderPrediction(
            shop_id=shop.id,
            customer_id=customer_id,
            product_id=product_id,
            last_purchased_at=due - timedelta(days=30),
            cycle_days=30.0,
            due_at=due,
            **extra,
        )
    )
    db.session.flush()


def test_due_to_reorder_finds_the_customers_whose_run_out_falls_by_the_horizon(
    shop: Shop,
) -> None:
    aojiru = sellable(shop, "青汁")
    draft = sellable(shop, "下書き", status="draft")
    today, tomorrow, next_week, long_ago, subscriber, unpublished = (
        CustomerFactory(shop=shop) for _ in range(6)
    )
    predict(shop, today.id, aojiru.id, NOW - timedelta(hours=1))
    predict(shop, tomorrow.id, aojiru.id, NOW + timedelta(days=1))
    predict(shop, next_week.id, aojiru.id, NOW + timedelta(days=7))
    predict(shop, long_ago.id, aojiru.id, NOW - timedelta(days=45))
    predict(shop, subscriber.id, aojiru.id, NOW, subscribed=True)
    predict(shop, unpublished.id, draft.id, NOW)
    other_shop = ShopFactory()
    theirs = CustomerFactory(shop=other_shop)
    predict(other_shop, theirs.id, sellable(other_shop, "よそ").id, NOW)

    assert serving.due_to_reorder(shop, now=NOW) == [today.id]
    assert serving.due_to_reorder(shop, now=NOW, within=timedelta(days=2)) == sorted(
        [today.id, tomorrow.id]
    )
    assert serving.due_to_reorder(other_shop, now=NOW) == [theirs.id]


def test_a_customer_due_for_two_products_is_listed_once(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    predict(shop, customer.id, sellable(shop, "A").id, NOW)
    predict(shop, customer.id, sellable(shop, "B").id, NOW - timedelta(days=1))

    assert serving.due_to_reorder(shop, now=NOW) == [customer.id]


def rec(n: int, **changes: object) -> Recommendation:
    values: dict[str, object] = {
        "product_id": n,
        "title": f"国産大麦若葉の青汁 30包 {n}",
        "price": Decimal(3980),
        "image_url": f"https://cdn.shopify.com/s/files/p{n}.jpg",
        "product_url": f"https://shop.example/products/p{n}",
        "kind": "reorder",
        "reason": "前回のご購入から約30日です",
    }
    values.update(changes)
    return Recommendation(**values)  # type: ignore[arg-type]


def test_the_carousel_has_one_bubble_per_product_with_tracked_links(shop: Shop) -> None:
    recs = [rec(n) for n in range(12)]

    message = carousel.carousel_message(
        shop, recs, lang="ja", link=lambda url: f"https://kizuna.test/r/abc?u={url[-3:]}"
    )

    assert line_messages.validate([message]) == [message]
    bubbles = message["contents"]["contents"]
    assert len(bubbles) == 10
    first = bubbles[0]
    texts = [c["text"] for c in first["body"]["contents"]]
    assert texts == [
        "そろそろ買い替え",
        "国産大麦若葉の青汁 30包 0",
        "¥3,980",
        "前回のご購入から約30日です",
    ]
    button = first["footer"]["contents"][0]["action"]
    assert button == {
        "type": "uri",
        "label": "商品を見る",
        "uri": "https://kizuna.test/r/abc?u=/p0",
    }
    assert first["hero"]["url"] == "https://cdn.shopify.com/s/files/p0.jpg"
    assert first["hero"]["action"]["uri"] == button["uri"]
    assert message["altText"].startswith(f"{shop.name}からのおすすめ: 国産大麦若葉の青汁 30包 0、")


def test_the_carousel_in_english_and_without_images(shop: Shop) -> None:
    message = carousel.carousel_message(
        shop, [rec(1, image_url=None, kind="discovery", reason="Popular right now")], lang="en"
    )

    [bubble] = message["contents"]["contents"]
    assert "hero" not in bubble
    assert bubble["body"]["contents"][0]["text"] == "You may also like"
    assert bubble["footer"]["contents"][0]["action"]["label"] == "View product"
    assert message["altText"] == f"Picks for you from {shop.name}: 国産大麦若葉の青汁 30包 1"


def test_long_titles_and_reasons_stay_within_lines_limits(shop: Shop) -> None:
    recs = [rec(n, title="長" * 500, reason="理由" * 300) for n in range(10)]

    message = carousel.carousel_message(shop, recs, lang="ja")

    line_messages.validate([message])
    assert len(json.dumps(message["contents"], ensure_ascii=False).encode()) < 50_000
    assert len(message["altText"]) <= 400


def test_an_empty_carousel_is_refused(shop: Shop) -> None:
    with pytest.raises(carousel.NothingToRecommend):
        carousel.carousel_message(shop, [], lang="ja")


def test_a_link_that_is_not_a_url_is_refused(shop: Shop) -> None:
    with pytest.raises(carousel.Invalid):
        carousel.carousel_message(shop, [rec(1)], lang="ja", link=lambda url: "javascript:alert(1)")
