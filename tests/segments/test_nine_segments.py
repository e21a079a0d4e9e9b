"""The 9-segment survey: the map, the question flow, answers from orders, and cell movement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from server.db import db
from server.segments import nine_segments
from server.segments.models import NineSegmentMove, SurveyAnswer
from server.shops.models import Shop
from tests.factories.commerce import CustomerFactory, OrderFactory
from tests.factories.line import LineUserFactory

NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("aware", "purchase", "intent", "cell"),
    [
        (False, None, None, "unaware"),
        (True, "week", True, "loyal_active"),
        (True, "month", False, "loyal_passive"),
        (True, "quarter", True, "general_active"),
        (True, "year", False, "general_passive"),
        (True, "lapsed", True, "lapsed_active"),
        (True, "lapsed", False, "lapsed_passive"),
        (True, "never", True, "aware_active"),
        (True, "never", False, "aware_passive"),
        (True, "month", None, None),  # intent unknown yet
        (None, None, None, None),
    ],
)
def test_three_answers_place_a_friend_in_one_of_nine_cells(
    aware: bool | None, purchase: str | None, intent: bool | None, cell: str | None
) -> None:
    assert nine_segments.classify(aware, purchase, intent) == cell


def test_every_cell_is_reachable_and_labelled_in_both_languages() -> None:
    reached = {
        nine_segments.classify(aware, purchase, intent)
        for aware in (True, False)
        for purchase in nine_segments.PURCHASE_ANSWERS
        for intent in (True, False)
    }
    assert reached == set(nine_segments.CELLS)
    for cell in nine_segments.CELLS:
        assert nine_segments.cell_label(cell, "ja")
        assert nine_segments.cell_label(cell, "en")


@pytest.mark.parametrize(
    ("days_ago", "answer"),
    [(None, "never"), (3, "week"), (20, "month"), (80, "quarter"), (300, "year"), (400, "lapsed")],
)
def test_the_purchase_answer_from_orders_uses_the_surveys_scale(
    days_ago: int | None, answer: str
) -> None:
    last = None if days_ago is None else NOW - timedelta(days=days_ago)
    assert nine_segments.purchase_from_orders(last, now=NOW) == answer


def _answer_from(message: dict[str, object], label: str) -> tuple[str, str]:
    items = message["quickReply"]["items"]  # type: ignore[index]
    for item in items:
        if item["action"]["label"] == label:
            parsed = nine_segments.parse_postback(item["action"]["data"])
            assert parsed is not None
            return parsed
    raise AssertionError(f"no quick reply {label!r}")


def test_an_unlinked_friend_is_asked_all_three_questions(shop: Shop) -> None:
    friend = LineUserFactory(shop=shop, language="ja")
    step = nine_segments.start_survey(shop, friend, now=NOW)
    assert step.messages[0]["text"].endswith("をご存じでしたか？")
    assert [i["action"]["label"] for i in step.messages[0]["quickReply"]["items"]] == [
        "はい",
        "いいえ",
    ]

    step = nine_segments.answer(shop, friend, *_answer_from(step.messages[0], "はい"), now=NOW)
    labels = [i["action"]["label"] for i in step.messages[0]["quickReply"]["items"]]
    assert labels == [
        "1週間以内",
        "1ヶ月以内",
        "3ヶ月以内",
        "1年以内",
        "以前は買っていた",
        "購入したことがない",
    ]
    assert all(len(label) <= 20 for label in labels)  # LINE's quick-reply label limit

    step = nine_segments.answer(
        shop, friend, *_answer_from(step.messages[0], "以前は買っていた"), now=NOW
    )
    assert "今後も" in step.messages[0]["text"]
    step = nine_segments.answer(shop, friend, *_answer_from(step.messages[0], "はい"), now=NOW)

    assert step.completed
    assert step.cell == "lapsed_active"
    assert "ありがとうございました" in step.messages[0]["text"]
    answers = db.session.execute(
        select(SurveyAnswer.question, SurveyAnswer.answer).where(
            SurveyAnswer.line_user_id == friend.id
        )
    ).all()
    assert sorted(answers) == [("aware", "yes"), ("intent", "yes"), ("purchase", "lapsed")]


def test_a_friend_who_does_not_know_the_brand_is_placed_at_once(shop: Shop) -> None:
    friend = LineUserFactory(shop=shop, language="en")
    step = nine_segments.start_survey(shop, friend, now=NOW)
    assert step.messages[0]["text"].startswith("Did you know")
    step = nine_segments.answer(shop, friend, "aware", "no", now=NOW)
    assert step.completed
    assert step.cell == "unaware"


def test_a_linked_customer_is_only_asked_about_intent(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, processed_at=NOW - timedelta(days=10))
    OrderFactory(
        customer=customer,
        processed_at=NOW - timedelta(days=2),
        cancelled_at=NOW - timedelta(days=1),
    )  # cancelled: does not count
    friend = LineUserFactory(shop=shop, customer_id=customer.id)

    step = nine_segments.start_survey(shop, friend, now=NOW)
    assert "今後も" in step.messages[0]["text"]  # awareness and purchase came from the orders
    step = nine_segments.answer(shop, friend, "intent", "no", now=NOW)
    assert step.cell == "loyal_passive"
    profile = nine_segments.find_profile(shop, friend)
    assert profile is not None
    assert profile.purchase == "month"
    assert profile.purchase_source == "orders"


def test_a_typed_purchase_answer_never_overrides_the_orders(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, processed_at=NOW - timedelta(days=200))
    friend = LineUserFactory(shop=shop, customer_id=customer.id)
    nine_segments.start_survey(shop, friend, now=NOW)
    nine_segments.answer(shop, friend, "purchase", "week", now=NOW)  # an old quick reply tapped
    step = nine_segments.answer(shop, friend, "intent", "yes", now=NOW)
    assert step.cell == "general_active"


def test_cells_move_as_orders_age_and_every_move_is_kept(shop: Shop) -> None:
    customer = CustomerFactory(shop=shop)
    OrderFactory(customer=customer, processed_at=NOW - timedelta(days=20))
    friend = LineUserFactory(shop=shop, customer_id=customer.id)
    nine_segments.start_survey(shop, friend, now=NOW)
    nine_segments.answer(shop, friend, "intent", "yes", now=NOW)

    assert nine_segments.refresh_from_orders(shop, friend, now=NOW + timedelta(days=5)) is None
    later = NOW + timedelta(days=60)  # the order is now 80 days old: loyal → general
    assert nine_segments.refresh_from_orders(shop, friend, now=later) == "general_active"
    much_later = NOW + timedelta(days=400)
    assert nine_segments.refresh_from_orders(shop, friend, now=much_later) == "lapsed_active"
    OrderFactory(customer=customer, processed_at=much_later - timedelta(days=1))
    assert nine_segments.refresh_from_orders(shop, friend, now=much_later) == "loyal_active"

    moves = db.session.execute(
        select(NineSegmentMove.from_cell, NineSegmentMove.to_cell, NineSegmentMove.source)
        .where(NineSegmentMove.line_user_id == friend.id)
        .order_by(NineSegmentMove.moved_at, NineSegmentMove.id)
    ).all()
    assert [tuple(m) for m in moves] == [
        (None, "loyal_active", "survey"),
        ("loyal_active", "general_active", "orders"),
        ("general_active", "lapsed_active", "orders"),
        ("lapsed_active", "loyal_active", "orders"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        "a=kz.s9&q=aware&v=maybe",
        "a=kz.s9&q=colour&v=yes",
        "a=other&q=aware&v=yes",
        "q=aware&v=yes",
        "",
        "a=kz.s9&q=aware",
    ],
)
def test_postbacks_that_are_not_valid_answers_are_refused(data: str) -> None:
    assert nine_segments.parse_postback(data) is None


def test_question_postback_data_fits_lines_limit(shop: Shop) -> None:
    for question in nine_segments.QUESTIONS:
        message = nine_segments.question_message(shop, question, "ja")
        for item in message["quickReply"]["items"]:
            data = item["action"]["data"]
            assert len(data) <= 300
            assert parse_qs(data)["q"] == [question]
