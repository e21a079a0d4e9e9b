"""/api/admin/inbox as staff use it: the list and its filters, a conversation, replying,
notes, assigning, statuses, saved replies, FAQ entries; bad input and other shops' ids."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from server.campaigns import editing
from server.campaigns import services as campaigns
from server.coupons.models import Coupon
from server.db import db, utcnow
from server.inbox.models import Conversation, ConversationNote, FaqEntry, Message
from server.line.models import Delivery
from server.segments.models import NineSegmentProfile, SurveyAnswer
from tests.conftest import AdminClient, session_token_for
from tests.factories.commerce import (
    CustomerFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductVariantFactory,
)
from tests.factories.coupons import OfferFactory
from tests.factories.inbox import (
    ConversationFactory,
    FaqEntryFactory,
    MessageFactory,
    SavedReplyFactory,
)
from tests.factories.line import LineChannelFactory, LineUserFactory
from tests.factories.membership import MemberFactory, TierFactory
from tests.factories.shops import ShopFactory

SCRIPT = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def as_staff(admin: AdminClient, staff_id: str) -> AdminClient:
    """An admin client whose session tokens carry another staff member's `sub`."""

    class Staff(AdminClient):
        def request(self, method: str, path: str, *, shop: Any, **kwargs: Any) -> Any:
            token = session_token_for(shop.domain, sub=staff_id)
            headers = {"Authorization": f"Bearer {token}"}
            return self.client.open(path, method=method, headers=headers, **kwargs)

    return Staff(admin.client)


def ids(response: Any) -> list[int]:
    return [c["id"] for c in response.json["conversations"]]


def test_the_list_puts_priority_first_then_the_newest(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    now = utcnow()
    old_priority = ConversationFactory(
        line_user=LineUserFactory(shop=shop), priority=2, last_message_at=now - timedelta(days=3)
    )
    subscriber = ConversationFactory(
        line_user=LineUserFactory(shop=shop), priority=1, last_message_at=now - timedelta(days=2)
    )
    newest = ConversationFactory(line_user=LineUserFactory(shop=shop), last_message_at=now)
    older = ConversationFactory(
        line_user=LineUserFactory(shop=shop), last_message_at=now - timedelta(hours=1)
    )
    ConversationFactory(line_user=LineUserFactory(shop=shop), status="resolved")
    db.session.commit()

    response = admin.get("/api/admin/inbox/conversations?status=open", shop=shop)

    assert response.status_code == 200
    assert ids(response) == [old_priority.id, subscriber.id, newest.id, older.id]
    first = response.json["conversations"][0]
    assert first["priority"] == "requested"
    assert response.json["conversations"][1]["priority"] == "subscriber"
    assert response.json["counts"]["open"] == 4
    assert "resolved" not in response.json["counts"]  # the ever-growing pile is not counted


def test_filters_mine_unassigned_and_status(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    mine = ConversationFactory(line_user=LineUserFactory(shop=shop), assignee_id="42")
    theirs = ConversationFactory(line_user=LineUserFactory(shop=shop), assignee_id="7")
    nobody = ConversationFactory(line_user=LineUserFactory(shop=shop))
    waiting = ConversationFactory(line_user=LineUserFactory(shop=shop), status="waiting")
    db.session.commit()

    base = "/api/admin/inbox/conversations"
    assert ids(admin.get(f"{base}?assignee=me", shop=shop)) == [mine.id]  # sub 42 is "me"
    assert set(ids(admin.get(f"{base}?assignee=unassigned", shop=shop))) == {nobody.id}
    assert ids(admin.get(f"{base}?status=waiting", shop=shop)) == [waiting.id]
    everyone = admin.get(f"{base}?status=all", shop=shop)
    assert set(ids(everyone)) == {mine.id, theirs.id, nobody.id, waiting.id}
    assert everyone.json["counts"]["mine"] == 1
    assert everyone.json["me"] == "42"


def test_search_finds_names_and_message_text(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    by_customer = ConversationFactory(
        line_user=LineUserFactory(
            shop=shop, display_name="hana", customer=CustomerFactory(shop=shop, last_name="佐藤")
        )
    )
    by_line_name = ConversationFactory(line_user=LineUserFactory(shop=shop, display_name="みどり"))
    by_text = ConversationFactory(line_user=LineUserFactory(shop=shop, display_name="x"))
    MessageFactory(conversation=by_text, text="定期便を解約したいです")
    MessageFactory(
        conversation=ConversationFactory(line_user=LineUserFactory(shop=shop)), text="100%"
    )
    db.session.commit()

    def search(q: str) -> list[int]:
        return ids(admin.get("/api/admin/inbox/conversations", shop=shop, query_string={"q": q}))

    assert search("佐藤") == [by_customer.id]
    assert search("みどり") == [by_line_name.id]
    assert search("解約") == [by_text.id]
    assert search("%") != []  # a literal percent sign, not a wildcard that matches everything
    assert len(search("%")) == 1


@pytest.mark.parametrize(
    "query",
    ["status=closed", "assignee=someone", "limit=0", "limit=abc", "q=" + "x" * 101],
)
def test_bad_list_parameters_are_422(app_ctx: None, admin: AdminClient, query: str) -> None:
    response = admin.get(f"/api/admin/inbox/conversations?{query}", shop=ShopFactory())
    assert response.status_code == 422
    assert response.json["error"] == "invalid"


def test_a_conversation_shows_history_bot_marks_and_the_customer(
    app_ctx: None, admin: AdminClient
) -> None:
    shop = ShopFactory()
    customer = CustomerFactory(shop=shop, last_name="山田", first_name="花子")
    order = OrderFactory(customer=customer, name="#1001", total_price=4500)
    OrderLineFactory(order=order, title="青汁 30包", quantity=2)
    conversation = ConversationFactory(
        line_user=LineUserFactory(shop=shop, customer=customer), unread_count=2
    )
    MessageFactory(conversation=conversation, text=SCRIPT)
    MessageFactory(
        conversation=conversation,
        type="sticker",
        text=None,
        payload={"packageId": "446", "stickerId": "1988"},
    )
    MessageFactory(
        conversation=conversation,
        direction="out",
        sender="bot",
        text="送料は660円です",
        payload={"bot": {"phrasing": "送料はいくら", "score": 0.8}},
    )
    db.session.commit()

    response = admin.get(f"/api/admin/inbox/conversations/{conversation.id}", shop=shop)

    assert response.status_code == 200
    body = response.json
    assert [m["type"] for m in body["messages"]] == ["text", "sticker", "text"]
    assert body["messages"][0]["text"] == SCRIPT  # data, returned as text; the page never parses it
    assert body["messages"][1]["sticker"] == {"packageId": "446", "stickerId": "1988"}
    assert body["messages"][2]["bot"]["faq_question"] == "送料はいくら"
    panel = body["customer"]
    assert panel["linked"] is True
    assert panel["name"] == "山田 花子"
    assert panel["orders"][0]["name"] == "#1001"
    assert panel["orders"][0]["items"] == [{"title": "青汁 30包", "quantity": 2, "price": 3000}]
    assert panel["stats"]["orders"] == 1

    read = admin.post(f"/api/admin/inbox/conversations/{conversation.id}/read", shop=shop)
    assert read.json["unread"] == 0


def test_an_unlinked_friend_shows_their_line_profile(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop, display_name="ゆき"))
    db.session.commit()
    panel = admin.get(f"/api/admin/inbox/conversations/{conversation.id}", shop=shop).json[
        "customer"
    ]
    assert panel["linked"] is False
    assert panel["line"]["display_name"] == "ゆき"


def test_a_staff_reply_goes_through_the_delivery_pipeline(
    app_ctx: None, admin: AdminClient
) -> None:
    shop = ShopFactory()
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop))
    db.session.commit()

    response = admin.post(
        f"/api/admin/inbox/conversations/{conversation.id}/replies",
        shop=shop,
        json={"text": "確認しますね"},
    )

    assert response.status_code == 201
    assert response.json["sender"] == "staff"
    assert response.json["staff_id"] == "42"
    assert response.json["delivery"] is not None  # its state, shown next to the message
    message = db.session.get(Message, response.json["id"])
    assert message is not None
    delivery = db.session.get(Delivery, message.delivery_id)
    assert delivery is not None
    assert delivery.messages == [{"type": "text", "text": "確認しますね"}]
    db.session.refresh(conversation)
    assert conversation.status == "waiting"
    assert conversation.assignee_id == "42"  # whoever answers an unassigned chat takes it


@pytest.mark.parametrize(
    "body",
    [{"text": "   "}, {"text": 5}, {"text": "x" * 5001}, {"product_id": "1"}, {}],
)
def test_bad_replies_are_refused_and_send_nothing(
    app_ctx: None, admin: AdminClient, body: dict[str, Any]
) -> None:
    shop = ShopFactory()
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop))
    db.session.commit()
    response = admin.post(
        f"/api/admin/inbox/conversations/{conversation.id}/replies", shop=shop, json=body
    )
    assert response.status_code == 422
    assert db.session.query(Message).filter_by(conversation_id=conversation.id).count() == 0


def test_a_reply_that_is_not_json_is_400(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop))
    db.session.commit()
    response = admin.post(
        f"/api/admin/inbox/conversations/{conversation.id}/replies", shop=shop, data="text=hi"
    )
    assert response.status_code == 400


def test_notes_assignment_and_resolving(app_ctx: None, admin: AdminClient) -> None:
    shop = ShopFactory()
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop), priority=2)
    db.session.commit()
    base = f"/api/admin/inbox/conversations/{conversation.id}"

    as_staff(admin, "7").get("/api/admin/inbox/staff", shop=shop)  # staff 7 opened the inbox
    staff = admin.get("/api/admin/inbox/staff", shop=shop).json["staff"]
    assert {s["id"] for s in staff} == {"7", "42"}

    note = admin.post(f"{base}/notes", shop=shop, json={"body": "返金の可能性あり"})
    assert note.status_code == 201
    assert db.session.query(ConversationNote).count() == 1
    assigned = admin.post(f"{base}/assign", shop=shop, json={"staff_id": "7"})
    assert assigned.json["assignee"] == "7"
    timeline = admin.get(base, shop=shop).json["messages"]
    assert [m["sender"] for m in timeline] == ["note"]

    resolved = admin.post(f"{base}/status", shop=shop, json={"status": "resolved"})
    assert resolved.json["status"] == "resolved"
    assert resolved.json["priority"] is None  # the priority request is handled
    unassigned = admin.post(f"{base}/assign", shop=shop, json={"staff_id": None})
    assert unassigned.json["assignee"] is None

    assert admin.post(f"{base}/status", shop=shop, json={"status": "done"}).status_code == 422
    assert admin.post(f"{base}/assign", shop=shop, json={}).status_code == 422
    assert admin.post(f"{base}/assign", shop=shop, json={"staff_id": 7}).status_code == 422
    assert admin.post(f"{base}/notes", shop=shop, json={"body": ""}).status_code == 422


def test_saved_replies_and_faq_entries_are_managed_per_shop(
    app_ctx: None, admin: AdminClient
) -> None:
    shop = ShopFactory()
    created = admin.post(
        "/api/admin/inbox/saved-replies", shop=shop, json={"title": "挨拶", "body": "こんにちは！"}
    )
    assert created.status_code == 201
    listed = admin.get("/api/admin/inbox/saved-replies", shop=shop).json["saved_replies"]
    assert [r["title"] for r in listed] == ["挨拶"]
    assert (
        admin.post("/api/admin/inbox/saved-replies", shop=shop, json={"title": ""}).status_code
        == 422
    )

    entry = admin.post(
        "/api/admin/inbox/faq",
        shop=shop,
        json={
            "questions": ["送料はいくら？", "送料無料の条件"],
            "answer": "660円です",
            "quick_replies": [{"label": "詳しく", "url": "https://example.jp/shipping"}],
        },
    )
    assert entry.status_code == 201
    tried = admin.post(
        "/api/admin/inbox/faq/try", shop=shop, json={"question": "送料はいくらですか"}
    )
    assert tried.json["answers"] is True
    assert tried.json["candidates"][0]["key"] == str(entry.json["id"])
    for bad in (
        {"questions": [], "answer": "x"},
        {"questions": ["a"], "answer": ""},
        {"questions": ["a"], "answer": "x", "quick_replies": [{"label": "x", "url": "http://x"}]},
        {"questions": ["a"], "answer": "x", "quick_replies": [{"label": "", "text": "x"}]},
        {"questions": "a", "answer": "x"},
    ):
        assert admin.post("/api/admin/inbox/faq", shop=shop, json=bad).status_code == 422
    assert db.session.query(FaqEntry).filter_by(shop_id=shop.id).count() == 1

    hours = admin.put(
        "/api/admin/inbox/settings",
        shop=shop,
        json={"support_hours": {"weekdays": [0, 1, 2], "open": "09:00", "close": "17:00"}},
    )
    assert hours.json["support_hours"]["weekdays"] == [0, 1, 2]
    assert (
        admin.put("/api/admin/inbox/settings", shop=shop, json={"threshold": 3}).status_code == 422
    )


def test_staff_of_one_shop_never_see_another_shops_inbox(
    app: Flask, app_ctx: None, admin: AdminClient
) -> None:
    mine, other = ShopFactory(), ShopFactory()
    ConversationFactory(line_user=LineUserFactory(shop=mine))
    theirs = ConversationFactory(line_user=LineUserFactory(shop=other))
    MessageFactory(conversation=theirs, text="秘密の相談")
    their_image = MessageFactory(conversation=theirs, type="image", line_message_id="1")
    their_reply = SavedReplyFactory(shop=other)
    their_faq = FaqEntryFactory(shop=other)
    db.session.commit()

    listed = admin.get("/api/admin/inbox/conversations?status=all&q=秘密", shop=mine)
    assert listed.json["conversations"] == []
    assert listed.json["counts"]["open"] == 1  # only its own

    routes = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin_api.inbox.") and rule.arguments
    ]
    assert len(routes) >= 10
    for rule in routes:
        values = {
            "message_id": their_image.id,
            "conversation_id": theirs.id,
            "reply_id": their_reply.id,
            "entry_id": their_faq.id,
        }
        path = rule.build({k: values[k] for k in rule.arguments})[1]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = admin.request(method, path, shop=mine, json={"text": "x", "body": "x"})
            assert response.status_code == 404, (method, path)
    db.session.refresh(theirs)
    assert theirs.status == "open"
    assert db.session.query(Message).filter_by(conversation_id=theirs.id).count() == 2


def test_the_inbox_api_needs_a_session_token(app_ctx: None, client: Any) -> None:
    assert client.get("/api/admin/inbox/conversations").status_code == 401


def test_conversation_count_is_only_conversations_with_messages(
    app_ctx: None, admin: AdminClient
) -> None:
    shop = ShopFactory()
    db.session.add(
        Conversation(shop_id=shop.id, line_user_id=LineUserFactory(shop=shop).id, status="open")
    )
    db.session.commit()
    assert admin.get("/api/admin/inbox/conversations", shop=shop).json["counts"]["open"] == 0


def test_the_customer_panel_shows_tier_points_coupons_segment_and_survey(
    app_ctx: None, admin: AdminClient
) -> None:
    shop = ShopFactory()
    customer = CustomerFactory(shop=shop)
    member = MemberFactory(
        customer=customer, tier=TierFactory(shop=shop, name="ゴールド"), points_balance=1200
    )
    now = utcnow()
    offer = OfferFactory(shop=shop, title="LINE限定 10%OFF")
    db.session.add_all(
        [
            Coupon(
                shop_id=shop.id,
                offer_id=offer.id,
                member_id=member.id,
                source="claim",
                issue_key="claim:1",
                code="KZ-TEST-1",
                status="active",
                issued_at=now,
                valid_until=now + timedelta(days=3),
            ),
            Coupon(
                shop_id=shop.id,
                offer_id=offer.id,
                member_id=member.id,
                source="claim",
                issue_key="claim:2",
                code="KZ-USED-2",
                status="used",
                issued_at=now,
            ),
        ]
    )
    line_user = LineUserFactory(shop=shop, customer=customer)
    db.session.add_all(
        [
            NineSegmentProfile(shop_id=shop.id, line_user_id=line_user.id, cell="loyal_active"),
            SurveyAnswer(
                shop_id=shop.id,
                line_user_id=line_user.id,
                survey="nine_segment",
                question="intent",
                answer="yes",
            ),
        ]
    )
    conversation = ConversationFactory(line_user=line_user)
    db.session.commit()

    panel = admin.get(f"/api/admin/inbox/conversations/{conversation.id}", shop=shop).json[
        "customer"
    ]

    assert panel["membership"]["tier"] == "ゴールド"
    assert panel["membership"]["points"] == 1200
    assert [c["code"] for c in panel["coupons"]] == ["KZ-TEST-1"]  # the used one is not offered
    assert panel["segment"] == "積極ロイヤル"
    assert panel["survey"][0]["answer"] == "はい"
    assert "購入" in panel["survey"][0]["question"]

    coupons = admin.get(f"/api/admin/inbox/conversations/{conversation.id}/coupons", shop=shop)
    (coupon,) = coupons.json["coupons"]
    assert coupon["text"].startswith("LINE限定 10%OFF: KZ-TEST-1")


def test_staff_send_a_product_card_of_their_own_shop(app_ctx: None, admin: AdminClient) -> None:
    shop, other = ShopFactory(), ShopFactory()
    product = ProductVariantFactory(
        product=ProductFactory(shop=shop, title="薬用美白 化粧水", handle="whitening-lotion"),
        price=3850,
    ).product
    foreign = ProductFactory(shop=other)
    conversation = ConversationFactory(line_user=LineUserFactory(shop=shop))
    db.session.commit()
    path = f"/api/admin/inbox/conversations/{conversation.id}/replies"

    found = admin.get("/api/admin/inbox/products?q=美白", shop=shop).json["products"]
    assert [(p["title"], p["price"]) for p in found] == [("薬用美白 化粧水", 3850)]
    sent = admin.post(path, shop=shop, json={"product_id": product.id})

    assert sent.status_code == 201
    assert sent.json["type"] == "product"
    assert sent.json["card"]["price"] == 3850
    message = db.session.get(Message, sent.json["id"])
    assert message is not None
    delivery = db.session.get(Delivery, message.delivery_id)
    assert delivery is not None
    (flex,) = delivery.messages
    assert flex["type"] == "flex"
    assert "¥3,850" in flex["altText"]
    button = flex["contents"]["footer"]["contents"][0]["action"]
    assert button["uri"] == f"https://{shop.domain}/products/whitening-lotion"
    assert admin.post(path, shop=shop, json={"product_id": foreign.id}).status_code == 404


def _scenario(shop: Any, name: str, *, now: Any) -> Any:
    scenario = editing.create_scenario(
        shop,
        {
            "name": name,
            "trigger": "manual",
            "steps": [
                {"name": "使い方", "delay_days": 5, "message": {"type": "text", "text": "a"}},
                {"name": "お客様の声", "delay_days": 7, "message": {"type": "text", "text": "b"}},
            ],
        },
        now=now,
    )
    editing.set_status(shop, scenario, "active", now=now)
    return scenario


def test_the_customer_panel_lists_the_scenarios_in_progress_and_their_next_step(
    app_ctx: None, admin: AdminClient
) -> None:
    shop, now = ShopFactory(), utcnow()
    LineChannelFactory(shop=shop)
    customer = CustomerFactory(shop=shop)
    linked = LineUserFactory(shop=shop, customer=customer, linked_at=now)
    friend = LineUserFactory(shop=shop)  # not linked: enrolled as the LINE friend
    upsell = _scenario(shop, "お試し購入後フォロー", now=now)
    ended = _scenario(shop, "終了", now=now)
    for scenario in (upsell, ended):
        assert campaigns.enroll(shop, scenario, customer_id=customer.id, trigger_key="t", now=now)
    campaigns.end(
        shop,
        campaigns.person_enrollments(shop, customer_id=customer.id)[1:],
        reason=campaigns.ExitReason.REMOVED,
        now=now,
    )
    assert campaigns.enroll(shop, upsell, line_user_id=friend.id, trigger_key="t", now=now)
    other_shop = ShopFactory()  # same scenario name elsewhere: never shown here
    LineChannelFactory(shop=other_shop)
    campaigns.enroll(
        other_shop,
        _scenario(other_shop, "お試し購入後フォロー", now=now),
        line_user_id=LineUserFactory(shop=other_shop).id,
        trigger_key="t",
        now=now,
    )
    conversations = [ConversationFactory(line_user=linked), ConversationFactory(line_user=friend)]
    db.session.commit()

    for conversation in conversations:
        panel = admin.get(f"/api/admin/inbox/conversations/{conversation.id}", shop=shop).json[
            "customer"
        ]
        (in_progress,) = panel["scenarios"]
        assert in_progress["scenario_id"] == upsell.id
        assert in_progress["name"] == "お試し購入後フォロー"
        assert (in_progress["steps_sent"], in_progress["steps_total"]) == (0, 2)
        assert in_progress["next_step"] == "使い方"
        assert in_progress["next_due_at"] == (now + timedelta(days=5)).isoformat()
