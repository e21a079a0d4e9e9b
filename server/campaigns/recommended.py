"""Recommended products in step and broadcast messages: the recipient's own recommendations
(server.recommendations: reorders due, "you may also like", best sellers for the cold start),
as a Flex carousel (layout "recommended") or as the `{recommended_products}` and
`{recommended_url}` variables of any text.

The list is read only when a message uses it (`needed`), at send time, so it follows the
latest model and the serving filters (sold out, unpublished, excluded). The carousel's buttons
lead to the product pages; the sender turns every link to the shop into a tracked `/r/<token>`
link for the recipient (links.track_messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from server.commerce.models import Customer
from server.i18n import translate
from server.recommendations.carousel import carousel_message
from server.recommendations.serving import Recommendation, recommendations_for
from server.shops.models import Shop

LAYOUT = "recommended"
VARIABLES: tuple[str, ...] = (
    "recommended_products",  # the first three recommended products' names
    "recommended_url",  # the first one's page
)
LIMIT = 10  # bubbles in the carousel (recommendations.carousel.MAX_BUBBLES)
_USES = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")
_TEXTS = ("text", "title", "body", "image_url", "button_url")
_VARIANTS = ("text_by_reason", "body_by_reason")


def needed(message: Mapping[str, Any]) -> bool:
    """Whether the message shows recommendations (the layout, or one of the variables)."""
    if message.get("type") == "flex" and message.get("layout") == LAYOUT:
        return True
    texts = [message.get(key) for key in _TEXTS]
    for key in _VARIANTS:
        texts.extend((message.get(key) or {}).values())
    return any(isinstance(text, str) and _USES.search(text) for text in texts)


def for_recipient(
    shop: Shop, customer: Customer | None, *, locale: str, now: datetime
) -> list[Recommendation]:
    """The recipient's recommendations, best first (a friend not linked: the best sellers)."""
    return recommendations_for(shop, customer, limit=LIMIT, lang=locale, now=now)


def values(shop: Shop, recs: Sequence[Recommendation], locale: str) -> dict[str, str]:
    if not recs:
        return {
            "recommended_products": translate("campaigns.line.our_products", locale=locale),
            "recommended_url": f"https://{shop.domain}/",
        }
    names = ("、" if locale == "ja" else ", ").join(r.title for r in recs[:3])
    if len(recs) > 3:
        names += translate("campaigns.line.and_more", locale=locale)
    return {"recommended_products": names, "recommended_url": recs[0].product_url}


def render(
    shop: Shop, intro: str, recs: Sequence[Recommendation], *, locale: str
) -> list[dict[str, Any]]:
    """The intro text (when there is one) and the carousel. Raises NothingToRecommend when the
    shop has nothing it can show (the step is then marked failed, and the next one goes on)."""
    carousel = carousel_message(shop, recs, lang=locale)
    return [{"type": "text", "text": intro[:5000]}, carousel] if intro else [carousel]
