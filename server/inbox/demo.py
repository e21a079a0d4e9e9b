"""The demo shop's inbox: FAQ entries, saved replies and a dozen conversations in every state.

Idempotent (does nothing when the shop has FAQ entries); flushes, the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from server.db import db
from server.line.models import LineUser
from server.shops.models import Shop

from .models import (
    Conversation,
    ConversationStatus,
    Direction,
    FaqEntry,
    Message,
    Priority,
    SavedReply,
    Sender,
)

FAQ: tuple[tuple[tuple[str, ...], str, list[dict[str, str]]], ...] = (
    (
        ("送料はいくらですか", "送料無料になる条件は？", "配送料について知りたい"),
        "送料は全国一律660円です。5,000円（税込）以上のご注文で送料無料になります。",
        [],
    ),
    (
        ("注文してから何日で届きますか", "発送までどれくらいかかりますか", "いつ発送されますか"),
        "ご注文から通常2〜3営業日以内に発送します。お届けは発送の翌日〜翌々日が目安です。",
        [],
    ),
    (
        ("支払い方法は何がありますか", "使えるクレジットカードは？", "代引きは使えますか"),
        "クレジットカード、コンビニ払い、代金引換、Amazon Pay、PayPay がご利用いただけます。",
        [],
    ),
    (
        ("返品できますか", "商品を交換したい", "不良品が届いた"),
        "未開封の商品はお届けから8日以内であれば返品できます。不良品は送料当社負担で交換します。",
        [{"label": "返品について", "text": "返品の手順を教えて"}],
    ),
    (
        ("定期便を一回休みたい", "定期便のスキップ方法", "次回のお届けをお休みしたい"),
        "次回お届け予定日の5日前までなら、マイページの定期便管理から1回スキップできます。",
        [],
    ),
    (
        ("定期便を解約したい", "定期コースをやめたい", "定期購入の停止方法"),
        "定期便はいつでも解約できます。マイページの定期便管理から手続きしてください。",
        [],
    ),
    (
        ("サプリはいつ飲めばいいですか", "1日何粒飲めばいい？", "青汁の飲み方"),
        "1日2〜3粒を目安に、水またはぬるま湯でお召し上がりください。時間帯はいつでも大丈夫です。",
        [],
    ),
    (
        ("賞味期限はどれくらいですか", "開封後はいつまでに使えばいいですか"),
        "賞味期限は製造から2年です。開封後は3ヶ月以内にお使いください。",
        [],
    ),
    (
        ("領収書を発行してほしい", "領収書はもらえますか"),
        "領収書はマイページの注文履歴からダウンロードできます。",
        [],
    ),
    (
        ("クーポンの使い方", "クーポンコードはどこに入力しますか", "割引コードが使えない"),
        "クーポンはご注文手続きの「割引コード」欄に入力するとご利用いただけます。",
        [],
    ),
)

SAVED_REPLIES = (
    ("お詫び", "ご不便をおかけして申し訳ございません。すぐに確認いたします。"),
    ("確認中", "お問い合わせありがとうございます。担当者が確認のうえ、本日中にご連絡いたします。"),
    ("定期便の変更", "定期便のお届け日・周期はマイページの「定期便管理」から変更いただけます。"),
)

# (status, priority, assigned to the demo staff, minutes ago, [(sender, text)])
CONVERSATIONS: tuple[tuple[str, int, bool, int, list[tuple[str, str]]], ...] = (
    (
        "open",
        Priority.REQUESTED,
        False,
        4,
        [("customer", "定期便の商品が破損して届きました。交換できますか？")],
    ),
    ("open", Priority.SUBSCRIBER, False, 12, [("customer", "次回の定期便に商品を追加したいです")]),
    (
        "open",
        Priority.NORMAL,
        True,
        25,
        [("customer", "化粧水で肌が少しピリピリします。使い続けても大丈夫？")],
    ),
    ("open", Priority.NORMAL, False, 40, [("customer", "法人でまとめて購入したいのですが")]),
    (
        "waiting",
        Priority.NORMAL,
        True,
        90,
        [
            ("customer", "注文番号を間違えて伝えてしまいました"),
            ("staff", "ご連絡ありがとうございます。正しい注文番号を教えていただけますか？"),
        ],
    ),
    (
        "waiting",
        Priority.SUBSCRIBER,
        True,
        180,
        [
            ("customer", "届け先を実家に変えたいです"),
            ("staff", "承知しました。新しいご住所をお送りください。"),
        ],
    ),
    (
        "resolved",
        Priority.NORMAL,
        False,
        300,
        [
            ("customer", "送料はいくらですか？"),
            ("bot", "送料は全国一律660円です。5,000円（税込）以上のご注文で送料無料になります。"),
        ],
    ),
    (
        "resolved",
        Priority.NORMAL,
        False,
        600,
        [
            ("customer", "クーポンコードはどこに入れればいいですか"),
            ("bot", "クーポンはご注文手続きの「割引コード」欄に入力するとご利用いただけます。"),
            ("customer", "ありがとうございます！"),
        ],
    ),
    (
        "resolved",
        Priority.NORMAL,
        True,
        1440,
        [
            ("customer", "領収書の宛名を会社名にできますか"),
            ("staff", "はい、マイページからダウンロードする際に宛名を入力いただけます。"),
        ],
    ),
)


def seed_demo_inbox(shop: Shop, *, now: datetime, staff_id: str = "demo-staff") -> int:
    """Seed the inbox of the demo shop; returns how many conversations it made. Each part is
    added only when missing, so a second run (or a shop the merchant already used) is safe."""
    if not db.session.scalar(select(FaqEntry.id).where(FaqEntry.shop_id == shop.id).limit(1)):
        for position, (questions, answer, buttons) in enumerate(FAQ):
            db.session.add(
                FaqEntry(
                    shop_id=shop.id,
                    questions=list(questions),
                    answer=answer,
                    quick_replies=buttons,
                    position=position,
                )
            )
    if not db.session.scalar(select(SavedReply.id).where(SavedReply.shop_id == shop.id).limit(1)):
        for position, (title, body) in enumerate(SAVED_REPLIES):
            db.session.add(SavedReply(shop_id=shop.id, title=title, body=body, position=position))
    users = db.session.scalars(
        LineUser.for_shop(shop)
        .where(LineUser.blocked_at.is_(None))
        .order_by(LineUser.customer_id.is_(None), LineUser.id)
        .limit(len(CONVERSATIONS))
    ).all()
    created = 0
    for user, (status, priority, assigned, minutes, lines) in zip(
        users, CONVERSATIONS, strict=False
    ):
        if db.session.scalar(
            select(Conversation.id).where(
                Conversation.shop_id == shop.id, Conversation.line_user_id == user.id
            )
        ):
            continue
        start = now - timedelta(minutes=minutes)
        conversation = Conversation(
            shop_id=shop.id,
            line_user_id=user.id,
            status=status,
            priority=priority,
            assignee_id=staff_id if assigned else None,
            handed_off_at=start if status != ConversationStatus.RESOLVED else None,
            resolved_at=start if status == ConversationStatus.RESOLVED else None,
            unread_count=1 if status == ConversationStatus.OPEN else 0,
            last_message_at=start,
        )
        db.session.add(conversation)
        db.session.flush()
        created += 1
        for i, (sender, text) in enumerate(lines):
            at = start - timedelta(minutes=len(lines) - 1 - i)
            db.session.add(
                Message(
                    shop_id=shop.id,
                    conversation_id=conversation.id,
                    direction=Direction.IN if sender == "customer" else Direction.OUT,
                    type="text",
                    text=text,
                    sender=Sender(sender),
                    staff_id=staff_id if sender == "staff" else None,
                    payload={},
                    created_at=at,
                )
            )
            conversation.last_message_at = at
            conversation.last_message_text = text[:120]
            conversation.last_message_sender = sender
    db.session.flush()
    return created
