"""Recommendations sent in LINE: the carousel a friend gets from the rich menu's "おすすめ".

Goes through the delivery pipeline like every message: the reply API while the tap's reply
token is fresh, push otherwise. It answers the friend's own tap, so it is transactional (no
frequency cap or quiet hours). Each button is a tracked link (campaigns.links), one per
friend and product, so clicks are attributed to this source.
"""

from __future__ import annotations

from datetime import datetime

from server.campaigns import links
from server.i18n import normalise, translate
from server.line import delivery
from server.line.models import Delivery, LineUser
from server.shops.models import Shop

from .carousel import carousel_message
from .serving import latest_model, recommendations_for

SOURCE_KIND = "recommendations_menu"
POSTBACK_ACTION = "recommend"  # the rich menu's postback data: "action=recommend"


def send_carousel(
    shop: Shop,
    line_user: LineUser,
    *,
    reply_token: str | None,
    reply_token_received_at: datetime | None,
    now: datetime,
) -> Delivery:
    """Queue the friend's recommendations as a Flex carousel (a short text when the shop has
    nothing to show). Adds the Delivery and tracked links; flushes, the caller commits."""
    lang = normalise(line_user.language) or "ja"
    recs = recommendations_for(shop, line_user.customer, limit=10, lang=lang, now=now)
    if recs:
        model = latest_model(shop)
        source_id = model.id if model is not None else 0

        def tracked(url: str) -> str:
            return links.track_url(
                shop, url, line_user=line_user, source_kind=SOURCE_KIND, source_id=source_id
            )

        message = carousel_message(shop, recs, lang=lang, link=tracked)
    else:
        message = {"type": "text", "text": translate("recommendations.line.nothing", locale=lang)}
    return delivery.deliver(
        shop,
        line_user,
        [message],
        kind="transactional",
        reply_token=reply_token,
        reply_token_received_at=reply_token_received_at,
        source="recommendations",
        now=now,
    )
