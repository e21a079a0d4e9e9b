"""Nishiguchi's 9-segment map (seeds/004): three questions place a LINE friend in one of nine cells.

1. awareness: do you know the brand?            no → 未認知 (unaware)
2. purchase: when did you last buy?             within a week / month → loyal, within 3 months /
                                                a year → general, bought before but not now →
                                                lapsed, never → aware, not bought
3. intent: will you buy (use) it again?         yes → 積極 (active), no → 消極 (passive)

The questions go out as quick replies; each answer comes back as a postback and the next question
is the reply. For linked customers the purchase question is answered from their orders instead of
being asked (and awareness follows from having bought). Every change of cell is kept as a move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from sqlalchemy import func, select

from server.commerce.models import Order
from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop

from .models import NineSegmentMove, NineSegmentProfile, SurveyAnswer

SURVEY = "nine_segment"
POSTBACK_ACTION = "kz.s9"

CELLS: tuple[str, ...] = (
    "loyal_active",
    "loyal_passive",
    "general_active",
    "general_passive",
    "lapsed_active",
    "lapsed_passive",
    "aware_active",
    "aware_passive",
    "unaware",
)
CELL_LABELS: dict[str, dict[str, str]] = {
    "loyal_active": {"ja": "積極ロイヤル", "en": "Loyal, will buy again"},
    "loyal_passive": {"ja": "消極ロイヤル", "en": "Loyal, unsure"},
    "general_active": {"ja": "積極一般", "en": "Regular, will buy again"},
    "general_passive": {"ja": "消極一般", "en": "Regular, unsure"},
    "lapsed_active": {"ja": "積極離反", "en": "Lapsed, would return"},
    "lapsed_passive": {"ja": "消極離反", "en": "Lapsed, unlikely to return"},
    "aware_active": {"ja": "積極認知・未購買", "en": "Aware, wants to buy"},
    "aware_passive": {"ja": "消極認知・未購買", "en": "Aware, not interested"},
    "unaware": {"ja": "未認知", "en": "Unaware"},
}
PURCHASE_ANSWERS: tuple[str, ...] = ("week", "month", "quarter", "year", "lapsed", "never")
QUESTIONS: tuple[str, ...] = ("aware", "purchase", "intent")
ANSWERS: dict[str, tuple[str, ...]] = {
    "aware": ("yes", "no"),
    "purchase": PURCHASE_ANSWERS,
    "intent": ("yes", "no"),
}

_TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "aware": "{shop}をご存じでしたか？",
        "purchase": "{shop}の商品を最後に購入されたのはいつですか？",
        "intent": "今後も{shop}の商品を購入（利用）したいと思いますか？",
        "thanks": "ご回答ありがとうございました！今後のご案内の参考にさせていただきます。",
        "yes": "はい",
        "no": "いいえ",
        "week": "1週間以内",
        "month": "1ヶ月以内",
        "quarter": "3ヶ月以内",
        "year": "1年以内",
        "lapsed": "以前は買っていた",
        "never": "購入したことがない",
    },
    "en": {
        "aware": "Did you know {shop} before?",
        "purchase": "When did you last buy from {shop}?",
        "intent": "Would you like to buy from {shop} again?",
        "thanks": "Thank you for your answers! They help us send you only what fits.",
        "yes": "Yes",
        "no": "No",
        "week": "Within a week",
        "month": "Within a month",
        "quarter": "Within 3 months",
        "year": "Within a year",
        "lapsed": "Before, not now",
        "never": "Never",
    },
}


def classify(aware: bool | None, purchase: str | None, intent: bool | None) -> str | None:
    """The cell for three answers, or None while an answer that decides it is missing."""
    if aware is False:
        return "unaware"
    if purchase is None or intent is None:
        return None
    mood = "active" if intent else "passive"
    if purchase in ("week", "month"):
        return f"loyal_{mood}"
    if purchase in ("quarter", "year"):
        return f"general_{mood}"
    if purchase == "lapsed":
        return f"lapsed_{mood}"
    if purchase == "never":
        return f"aware_{mood}" if aware is not False else "unaware"
    raise ValueError(f"unknown purchase answer {purchase!r}")


def purchase_from_orders(last_order_at: datetime | None, *, now: datetime) -> str:
    """The purchase answer a customer's order history gives, on the survey's own scale."""
    if last_order_at is None:
        return "never"
    age = now - last_order_at
    for answer, limit in (("week", 7), ("month", 31), ("quarter", 92), ("year", 366)):
        if age <= timedelta(days=limit):
            return answer
    return "lapsed"


def last_order_at(shop: Shop, customer_id: int) -> datetime | None:
    return db.session.scalar(
        select(func.max(Order.processed_at)).where(
            Order.shop_id == shop.id,
            Order.customer_id == customer_id,
            Order.cancelled_at.is_(None),
        )
    )


@dataclass(frozen=True)
class SurveyStep:
    """What the survey says next: messages to reply with, and whether it just completed."""

    messages: list[dict[str, Any]]
    completed: bool
    cell: str | None
    moved_from: str | None = None


def start_survey(shop: Shop, line_user: LineUser, *, now: datetime) -> SurveyStep:
    """Begin (or begin again) the survey for a friend: the first question to ask.

    For a linked customer the purchase answer comes from their orders, and awareness from having
    bought; only the questions still open are asked.
    """
    profile = _profile(shop, line_user, now=now)
    profile.started_at = now
    profile.completed_at = None
    profile.aware = profile.intent = None
    profile.purchase = profile.purchase_source = None
    _fill_from_orders(shop, line_user, profile, now=now)
    return _next(shop, line_user, profile, now=now)


def parse_postback(data: str) -> tuple[str, str] | None:
    """(question, answer) from a survey postback's data, or None when it is not a valid one."""
    fields = {key: values[0] for key, values in parse_qs(data, max_num_fields=5).items()}
    question, answer = fields.get("q", ""), fields.get("v", "")
    if fields.get("a") != POSTBACK_ACTION or answer not in ANSWERS.get(question, ()):
        return None
    return question, answer


def answer(
    shop: Shop, line_user: LineUser, question: str, value: str, *, now: datetime
) -> SurveyStep:
    """Record one answer and say what comes next. An answer to an old question still counts.

    Raises ValueError for a question or answer that does not exist.
    """
    if value not in ANSWERS.get(question, ()):
        raise ValueError(f"unknown answer {question}={value}")
    profile = _profile(shop, line_user, now=now)
    record_answer(shop, line_user, SURVEY, question, value, now=now)
    if question == "aware":
        profile.aware = value == "yes"
    elif question == "purchase":
        if profile.purchase_source != "orders":  # orders beat a typed answer
            profile.purchase, profile.purchase_source = value, "answer"
    else:
        profile.intent = value == "yes"
    if profile.started_at is None:
        profile.started_at = now
    _fill_from_orders(shop, line_user, profile, now=now)
    return _next(shop, line_user, profile, now=now)


def refresh_from_orders(shop: Shop, line_user: LineUser, *, now: datetime) -> str | None:
    """Re-derive the purchase answer of a linked friend from their orders; moves the cell if it
    changed. Returns the new cell when it moved, else None."""
    profile = find_profile(shop, line_user)
    if profile is None or line_user.customer_id is None:
        return None
    before = profile.cell
    _fill_from_orders(shop, line_user, profile, now=now)
    after = classify(profile.aware, profile.purchase, profile.intent)
    if after is not None and after != before:
        _move(shop, line_user, profile, after, source="orders", now=now)
        return after
    return None


def find_profile(shop: Shop, line_user: LineUser) -> NineSegmentProfile | None:
    return db.session.scalar(
        NineSegmentProfile.for_shop(shop).where(NineSegmentProfile.line_user_id == line_user.id)
    )


def record_answer(
    shop: Shop, line_user: LineUser, survey: str, question: str, value: str, *, now: datetime
) -> SurveyAnswer:
    """Keep the friend's latest answer to a question (segments filter on it)."""
    row = db.session.scalar(
        SurveyAnswer.for_shop(shop).where(
            SurveyAnswer.line_user_id == line_user.id,
            SurveyAnswer.survey == survey,
            SurveyAnswer.question == question,
        )
    )
    if row is None:
        row = SurveyAnswer(
            shop_id=shop.id, line_user_id=line_user.id, survey=survey, question=question
        )
        db.session.add(row)
    row.answer = value
    row.answered_at = now
    db.session.flush()
    return row


def question_message(shop: Shop, question: str, locale: str) -> dict[str, Any]:
    """The LINE text message asking `question`, with one quick-reply button per answer."""
    text = _TEXT[locale]
    items = []
    for value in ANSWERS[question]:
        data = urlencode({"a": POSTBACK_ACTION, "q": question, "v": value})
        items.append(
            {
                "type": "action",
                "action": {
                    "type": "postback",
                    "label": text[value],
                    "data": data,
                    "displayText": text[value],
                },
            }
        )
    return {
        "type": "text",
        "text": text[question].format(shop=shop.name or shop.domain),
        "quickReply": {"items": items},
    }


def cell_label(cell: str, locale: str) -> str:
    return CELL_LABELS[cell].get(locale, CELL_LABELS[cell]["ja"])


def _locale(line_user: LineUser) -> str:
    return "en" if (line_user.language or "").lower().startswith("en") else "ja"


def _profile(shop: Shop, line_user: LineUser, *, now: datetime) -> NineSegmentProfile:
    profile = find_profile(shop, line_user)
    if profile is None:
        profile = NineSegmentProfile(shop_id=shop.id, line_user_id=line_user.id, updated_at=now)
        db.session.add(profile)
    return profile


def _fill_from_orders(
    shop: Shop, line_user: LineUser, profile: NineSegmentProfile, *, now: datetime
) -> None:
    if line_user.customer_id is None:
        return
    purchase = purchase_from_orders(last_order_at(shop, line_user.customer_id), now=now)
    profile.purchase, profile.purchase_source = purchase, "orders"
    if purchase != "never":
        profile.aware = True  # they bought from the brand: no need to ask


def _next(
    shop: Shop, line_user: LineUser, profile: NineSegmentProfile, *, now: datetime
) -> SurveyStep:
    locale = _locale(line_user)
    profile.updated_at = now
    cell = classify(profile.aware, profile.purchase, profile.intent)
    if cell is not None:
        profile.pending_question = None
        newly_completed = profile.completed_at is None
        profile.completed_at = profile.completed_at or now
        moved_from = _move(shop, line_user, profile, cell, source="survey", now=now)
        db.session.flush()
        messages = [{"type": "text", "text": _TEXT[locale]["thanks"]}] if newly_completed else []
        return SurveyStep(messages, completed=newly_completed, cell=cell, moved_from=moved_from)
    if profile.aware is None:
        question = "aware"
    elif profile.purchase is None:
        question = "purchase"
    else:
        question = "intent"
    profile.pending_question = question
    db.session.flush()
    return SurveyStep([question_message(shop, question, locale)], completed=False, cell=None)


def _move(
    shop: Shop,
    line_user: LineUser,
    profile: NineSegmentProfile,
    cell: str,
    *,
    source: str,
    now: datetime,
) -> str | None:
    """Set the cell; a change is recorded as a move. Returns the previous cell on a change."""
    if profile.cell == cell:
        return None
    previous = profile.cell
    db.session.add(
        NineSegmentMove(
            shop_id=shop.id,
            line_user_id=line_user.id,
            from_cell=previous,
            to_cell=cell,
            source=source,
            moved_at=now,
        )
    )
    profile.cell = cell
    profile.updated_at = now
    return previous
