"""LINE message limits, checked before anything is stored or sent (PROTOCOLS.md §2.5).

LINE's OpenAPI spec (and so Prism) does not enforce text length, altText or Flex size, and a
rejected multicast fails for all 500 recipients at once, so these checks run on our side and
say exactly what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

from linebot.v3.messaging import Message

from server.errors import Invalid

MAX_MESSAGES = 5
MAX_TEXT = 5000  # UTF-16 code units
MAX_ALT_TEXT = 1500
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000
MAX_CAROUSEL_BUBBLES = 12
MAX_QUICK_REPLY_ITEMS = 13
MAX_QUICK_REPLY_LABEL = 20
MAX_POSTBACK_DATA = 300
MAX_BODY_BYTES = 2_000_000  # LINE answers 413 above 2 MB
MULTICAST_MAX = 500
TYPES = (
    "text",
    "textV2",
    "sticker",
    "image",
    "video",
    "audio",
    "location",
    "imagemap",
    "template",
    "flex",
    "coupon",
)


class InvalidMessages(Invalid):
    code = "invalid_line_messages"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def validate(messages: Any) -> list[dict[str, Any]]:
    """Return the messages if LINE would accept them; raise InvalidMessages saying why not."""
    if not isinstance(messages, list) or not messages:
        raise InvalidMessages("messages must be a non-empty list of LINE message objects")
    if len(messages) > MAX_MESSAGES:
        raise InvalidMessages(
            f"LINE sends at most {MAX_MESSAGES} messages per request; got {len(messages)}"
        )
    for index, message in enumerate(messages, start=1):
        _validate_one(index, message, last=index == len(messages))
    size = len(json.dumps(messages, ensure_ascii=False).encode())
    if size > MAX_BODY_BYTES:
        raise InvalidMessages(f"the messages take {size:,} bytes; LINE accepts at most 2 MB")
    return messages


def _validate_one(index: int, message: Any, *, last: bool) -> None:
    where = f"message {index}"
    if not isinstance(message, dict):
        raise InvalidMessages(f"{where} must be an object")
    kind = message.get("type")
    if kind not in TYPES:
        raise InvalidMessages(f"{where}: unknown type {kind!r} (one of {', '.join(TYPES)})")
    if kind in ("text", "textV2"):
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidMessages(f"{where}: text must not be empty")
        length = utf16_length(text)
        if length > MAX_TEXT:
            raise InvalidMessages(
                f"{where}: text is {length:,} characters (UTF-16); LINE allows {MAX_TEXT:,}"
            )
    if kind in ("flex", "template", "imagemap"):
        alt = message.get("altText")
        if not isinstance(alt, str) or not alt.strip():
            raise InvalidMessages(f"{where}: {kind} messages need an altText")
        if utf16_length(alt) > MAX_ALT_TEXT:
            raise InvalidMessages(f"{where}: altText is longer than {MAX_ALT_TEXT:,} characters")
    if kind == "flex":
        _validate_flex(where, message.get("contents"))
    quick = message.get("quickReply")
    if quick is not None:
        items = quick.get("items") if isinstance(quick, dict) else None
        if not isinstance(items, list) or not items:
            raise InvalidMessages(f"{where}: quickReply needs items")
        if len(items) > MAX_QUICK_REPLY_ITEMS:
            raise InvalidMessages(
                f"{where}: quickReply has {len(items)} items; LINE allows {MAX_QUICK_REPLY_ITEMS}"
            )
        for item in items:
            label = ((item or {}).get("action") or {}).get("label")
            if isinstance(label, str) and len(label) > MAX_QUICK_REPLY_LABEL:
                raise InvalidMessages(
                    f"{where}: quick reply label {label[:20]!r}… exceeds {MAX_QUICK_REPLY_LABEL}"
                    " characters"
                )
        if not last:
            # LINE shows only the last message's quick reply: a silent loss, so refuse.
            raise InvalidMessages(f"{where}: only the last message may carry a quickReply")
    for data in _postback_data(message):
        if len(data) > MAX_POSTBACK_DATA:
            raise InvalidMessages(
                f"{where}: postback data is longer than {MAX_POSTBACK_DATA} characters"
            )
    try:
        Message.from_dict(message)
    except Exception as error:  # the SDK's pydantic models: structure and required fields
        raise InvalidMessages(
            f"{where} is not a valid LINE {kind} message: {type(error).__name__} {error}"[:500]
        ) from None


def _validate_flex(where: str, contents: Any) -> None:
    if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
        raise InvalidMessages(f"{where}: flex contents must be a bubble or a carousel")
    size = len(json.dumps(contents, ensure_ascii=False).encode())
    if contents["type"] == "bubble" and size > MAX_BUBBLE_BYTES:
        raise InvalidMessages(f"{where}: the bubble is {size:,} bytes; LINE allows 30 KB")
    if contents["type"] == "carousel":
        bubbles = contents.get("contents") or []
        if len(bubbles) > MAX_CAROUSEL_BUBBLES:
            raise InvalidMessages(
                f"{where}: the carousel has {len(bubbles)} bubbles; LINE allows 12"
            )
        if size > MAX_CAROUSEL_BYTES:
            raise InvalidMessages(f"{where}: the carousel is {size:,} bytes; LINE allows 50 KB")
        sizes = {b.get("size", "mega") for b in bubbles if isinstance(b, dict)}
        if len(sizes) > 1:
            raise InvalidMessages(f"{where}: all bubbles of a carousel must have the same size")


def _postback_data(node: Any) -> list[str]:
    """Every postback action's `data` anywhere in a message (buttons, quick replies, Flex)."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "postback" and isinstance(item.get("data"), str):
                found.append(item["data"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}
