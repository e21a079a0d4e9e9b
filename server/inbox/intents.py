"""The bot's built-in intents: questions answered from the customer's own data, and the request
to talk to a person. They sit in the same index as the merchant's FAQ entries (keyed
"intent:<name>"), so "私のポイント残高は？" competes fairly with the FAQ about point rules.
"""

from __future__ import annotations

from enum import StrEnum

from .matching import normalise


class Intent(StrEnum):
    HUMAN = "human"
    ORDER_STATUS = "order_status"
    POINTS = "points"
    COUPONS = "coupons"
    SUBSCRIPTION = "subscription"


PHRASINGS: dict[Intent, tuple[str, ...]] = {
    Intent.HUMAN: (
        "人と話したい",
        "担当者と話したい",
        "オペレーターにつないでほしい",
        "スタッフに相談したい",
        "有人対応をお願いします",
        "talk to a person",
        "speak to a human",
    ),
    Intent.ORDER_STATUS: (
        "私の注文の状況を知りたい",
        "注文状況を確認したい",
        "注文した商品がまだ届かない",
        "荷物の追跡番号を知りたい",
        "配送状況を確認したい",
        "where is my order",
        "order status",
        "track my package",
    ),
    Intent.POINTS: (
        "ポイント残高を知りたい",
        "今何ポイントありますか",
        "私のポイントを確認したい",
        "how many points do I have",
        "my points balance",
    ),
    Intent.COUPONS: (
        "使えるクーポンはありますか",
        "私のクーポンを見たい",
        "持っているクーポンを確認したい",
        "my coupons",
        "available coupons",
    ),
    Intent.SUBSCRIPTION: (
        "次の定期便はいつ届きますか",
        "次回の定期便のお届け日を知りたい",
        "定期便の次回発送日",
        "next subscription delivery",
        "when is my next delivery",
    ),
}

# The quick-reply button every bot answer carries, and words that always mean "a person,
# please", whatever else the message says (the matcher is not asked).
TALK_TO_PERSON = {"ja": "人と話したい", "en": "Talk to a person"}
_HUMAN_WORDS = tuple(
    normalise(w)
    for w in (
        "人と話",
        "担当者",
        "担当の方",
        "オペレーター",
        "有人",
        "スタッフと",
        "スタッフに",
        "talk to a person",
        "speak to a human",
        "human",
        "real person",
    )
)


def key(intent: Intent) -> str:
    return f"intent:{intent.value}"


def from_key(value: object) -> Intent | None:
    if isinstance(value, str) and value.startswith("intent:"):
        return Intent(value.removeprefix("intent:"))
    return None


def wants_human(text: str) -> bool:
    folded = normalise(text)
    return any(word in folded for word in _HUMAN_WORDS)


def index_entries() -> list[tuple[str, tuple[str, ...]]]:
    return [(key(intent), phrasings) for intent, phrasings in PHRASINGS.items()]
