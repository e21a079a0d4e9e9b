"""The template gallery: ready-made Japanese scenarios from the source articles (seeds/002, 004),
which a merchant switches on and edits.

1. upsell_one_off — after a one-off or trial purchase: day 5 how to use it, day 7 what other
   customers say, day 10 a time-limited coupon for the subscription; ends on subscribing.
   upsell_subscriber is the same series for subscribers, towards the bundle / annual plan.
2. reactivation — after a subscription ends: the reason question at once, day 1 thanks and how
   to restart (no hard sell), around day 30 a 24-hour restart coupon, timed by the reason
   (2 units left of a 30-day product → day 60) and worded for it.
3. retention — for new subscribers: useful content beyond the product, close contact.
4. link_incentive — new friends who have not linked their store account yet.
5. dormant_winback — customers who stopped ordering (twice their own usual interval).

Every message that touches the subscription says that changing, pausing or cancelling it stays
possible without LINE (the account page): leaving must never be made hard.

`create_from_template` makes a draft scenario (and the coupon offers its steps hand out, not
claimable in the LIFF app); the merchant reviews it in the editor and switches it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.coupons import services as coupons
from server.coupons.models import CouponOffer
from server.db import db
from server.errors import NotFound
from server.shops.models import Shop

from . import editing
from .models import Scenario, Trigger

# What a subscriber can always do without LINE (said wherever the subscription comes up).
LEAVING_JA = "お届け周期の変更・お休み・解約は、LINEを使わなくてもマイページからいつでもお手続きいただけます。"


@dataclass(frozen=True)
class Template:
    key: str
    name: dict[str, str]
    summary: dict[str, str]
    scenario: dict[str, Any]
    # Coupon offers the steps hand out, by key: a step names one with "offer": "<key>".
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **extra}


def _card(title: str, body: str, *, label: str = "", url: str = "", **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "flex", "layout": "card", "title": title, "body": body, **extra}
    if label:
        card["button_label"], card["button_url"] = label, url
    return card


UPSELL_HOWTO = _card(
    "{product}のおすすめの使い方",
    "{name}様、先日は{products}をお買い上げいただき、ありがとうございました。"
    "お手元に届いて数日、使い心地はいかがですか？\n\n"
    "実感していただくいちばんのコツは、毎日同じタイミングで続けること。"
    "朝の支度や寝る前など、いつもの流れに組み込むと無理なく続けられます。\n"
    "分量や使い方の詳しいポイントは、商品ページでご紹介しています。",
    label="使い方を見る",
    url="{product_url}",
)

UPSELL_VOICES = _text(
    "{name}様、こんにちは。{shop}です。\n\n"
    "{product}を続けてくださっている方から、たくさんのレビューが届いています。"
    "「どんなふうに使っているの？」「どのくらいで実感した？」など、"
    "実際に使っている方ならではの声は、これからの使い方の参考になるはずです。\n\n"
    "▼レビューを読む\n{product_url}\n\n"
    "気になることがあれば、このトークにメッセージを送ってくださいね。"
)

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            key="upsell_one_off",
            name={
                "ja": "購入後フォロー：定期便へのご案内",
                "en": "After a one-off purchase: towards the subscription",
            },
            summary={
                "ja": "単品・お試し購入の方へ、5日後に使い方、7日後にお客様の声、10日後に定期便の期間限定クーポン。定期便を始めたら終了します。7日目はお店の実際のレビューに書き換えるのがおすすめです。",
                "en": "For one-off and trial buyers: day 5 how to use it, day 7 customer reviews, day 10 a time-limited subscription coupon. Ends when they subscribe. Put your own best review into day 7.",
            },
            scenario={
                "name": "購入後フォロー：定期便へのご案内",
                "description": "単品・お試し購入から定期便への引き上げ（5日後・7日後・10日後）",
                "trigger": Trigger.ORDER_PAID,
                "trigger_params": {"order": "any", "kind": "one_off"},
                "exit_rules": [{"rule": "subscribed"}, {"rule": "ordered", "kind": "subscription"}],
                "conversion_window_days": 14,
                "steps": [
                    {
                        "name": "使い方のご案内",
                        "delay_days": 5,
                        "at_time": "10:00",
                        "message": UPSELL_HOWTO,
                    },
                    {
                        "name": "お客様の声",
                        "delay_days": 7,
                        "at_time": "12:00",
                        "message": UPSELL_VOICES,
                    },
                    {
                        "name": "定期便の期間限定クーポン",
                        "delay_days": 10,
                        "at_time": "10:00",
                        "offer": "subscription_first",
                        "message": _card(
                            "{name}様へ、定期便の特別クーポン",
                            "{product}を気に入っていただけたなら、定期便がおトクで便利です。\n"
                            "・毎回自動でお届け、買い忘れの心配なし\n"
                            "・定期便だけの価格とポイント\n\n"
                            "今だけ、定期便の初回が{coupon_value}になるクーポンをお届けします。\n"
                            + LEAVING_JA,
                            label="定期便をはじめる",
                            url="{coupon_url}",
                        ),
                    },
                ],
            },
            offers={
                "subscription_first": {
                    "title": "定期便 初回20%OFF（72時間限定）",
                    "description": "購入後フォローのシナリオでお届けする、定期便の初回限定クーポンです。",
                    "kind": "percentage",
                    "value": 20,
                    "valid_hours": 72,
                }
            },
        ),
        Template(
            key="upsell_subscriber",
            name={
                "ja": "定期便の方へ：おまとめ便・年間コースのご案内",
                "en": "Subscribers: towards the bundle or annual plan",
            },
            summary={
                "ja": "定期便を始めた方へ、5日後に使い方、7日後にお客様の声、10日後におまとめ便・年間コースのクーポン。「まとめ便」「年間コース」タグの商品を注文したら終了します（タグはお店に合わせて変更してください）。",
                "en": "For new subscribers: day 5 how to use it, day 7 reviews, day 10 a coupon for the bundle or annual plan. Ends on an order of a product tagged まとめ便 or 年間コース (change the tags to yours).",
            },
            scenario={
                "name": "定期便の方へ：おまとめ便のご案内",
                "description": "定期便からおまとめ便・年間コースへの引き上げ（5日後・7日後・10日後）",
                "trigger": Trigger.ORDER_PAID,
                "trigger_params": {"order": "any", "kind": "subscription"},
                "once_per_person": True,
                "exit_rules": [{"rule": "ordered", "product_tags": ["まとめ便", "年間コース"]}],
                "conversion_window_days": 30,
                "steps": [
                    {
                        "name": "使い方のご案内",
                        "delay_days": 5,
                        "at_time": "10:00",
                        "message": UPSELL_HOWTO,
                    },
                    {
                        "name": "お客様の声",
                        "delay_days": 7,
                        "at_time": "12:00",
                        "message": UPSELL_VOICES,
                    },
                    {
                        "name": "おまとめ便のクーポン",
                        "delay_days": 10,
                        "at_time": "10:00",
                        "offer": "bundle",
                        "message": _card(
                            "もっとおトクに続けるなら、おまとめ便",
                            "{name}様、定期便のご利用ありがとうございます。\n"
                            "数回分をまとめてお届けする「おまとめ便」や「年間コース」なら、1回あたりの価格がさらにおトクになり、受け取りの手間も減らせます。\n\n"
                            "今なら{coupon_value}でお試しいただけるクーポンをご用意しました。\n"
                            + LEAVING_JA,
                            label="おまとめ便を見る",
                            url="{coupon_url}",
                        ),
                    },
                ],
            },
            offers={
                "bundle": {
                    "title": "おまとめ便 10%OFF（72時間限定）",
                    "description": "定期便のお客さまへ、おまとめ便・年間コースのご案内でお届けするクーポンです。",
                    "kind": "percentage",
                    "value": 10,
                    "valid_hours": 72,
                }
            },
        ),
        Template(
            key="reactivation",
            name={"ja": "解約後フォロー：再開のご案内", "en": "After a cancellation: restarting"},
            summary={
                "ja": "定期便が解約されたら、LINEで解約理由を伺い（任意）、翌日にお礼と再開方法（売り込みなし）、約30日後に24時間限定の再開クーポン。「余っている」と答えた方には残りの数×1個の使用日数で時期を合わせます（2袋×30日→60日後）。再開したら終了します。",
                "en": "When a subscription ends: the cancellation reason is asked (optional), day 1 thanks and how to restart (no hard sell), about day 30 a 24-hour restart coupon. “Leftover stock” times it by the units left × days per unit (2 × 30 days → day 60). Ends on a restart.",
            },
            scenario={
                "name": "解約後フォロー：再開のご案内",
                "description": "解約1日後にお礼と再開方法、30日後（解約理由に合わせて調整）に24時間限定の再開キャンペーン",
                "trigger": Trigger.SUBSCRIPTION_CANCELLED,
                "trigger_params": {"ask_reason": True},
                "exit_rules": [{"rule": "subscribed"}, {"rule": "ordered"}],
                "conversion_window_days": 90,
                "steps": [
                    {
                        "name": "お礼と再開方法",
                        "delay_days": 1,
                        "at_time": "10:00",
                        "message": _text(
                            "{name}様、これまで{shop}の定期便をご利用いただき、本当にありがとうございました。\n\n"
                            "またご入用になったときは、前回と同じ内容でいつでも再開できます。\n"
                            "▼定期便の再開はこちら\n{restart_url}\n\n"
                            "お届け周期やお休みも、マイページからご自身で変更できます。"
                            "LINEでのご連絡は必要ありません。",
                            text_by_reason={
                                "leftover": "{name}様、これまで{shop}の定期便をご利用いただき、本当にありがとうございました。\n\n"
                                "お手元の{product}がなくなる頃に、一度だけ再開のご案内をお送りしますね。"
                                "それより早くご入用のときは、こちらからいつでも再開できます。\n"
                                "▼定期便の再開はこちら\n{restart_url}\n\n"
                                "次回からはお届け周期を延ばしたり、お休みしたりすることもマイページからできます。",
                                "no_effect": "{name}様、これまで{shop}の定期便をご利用いただき、本当にありがとうございました。\n\n"
                                "「実感しにくかった」とのお声、しっかり受け止めました。"
                                "続け方のコツや、ほかの方の使い方を商品ページにまとめていますので、よろしければご覧ください。\n"
                                "{restart_url}\n\n"
                                "ご不明な点は、このトークにメッセージを送っていただければお答えします。",
                                "price": "{name}様、これまで{shop}の定期便をご利用いただき、本当にありがとうございました。\n\n"
                                "価格についてのお声、ありがとうございます。今後のご案内の参考にさせていただきます。"
                                "またご入用になったときは、前回と同じ内容でいつでも再開できます。\n"
                                "▼定期便の再開はこちら\n{restart_url}",
                                "frequency": "{name}様、これまで{shop}の定期便をご利用いただき、本当にありがとうございました。\n\n"
                                "お届けの頻度が合わなかったとのこと、失礼いたしました。"
                                "再開のときは、マイページからお届け周期を選び直したり、お休みを入れたりできます。\n"
                                "▼定期便の再開はこちら\n{restart_url}",
                            },
                        ),
                    },
                    {
                        "name": "24時間限定 再開キャンペーン",
                        "delay_days": 30,
                        "at_time": "10:00",
                        "delay_source": "cancellation",
                        "offer": "restart",
                        "message": _card(
                            "24時間限定｜定期便 再開キャンペーン",
                            "{name}様、お元気でお過ごしですか？{shop}です。\n"
                            "この24時間だけ、定期便の再開が{coupon_value}になるクーポンをご用意しました。"
                            "前回と同じ内容で、すぐに再開できます。\n\n" + LEAVING_JA,
                            label="定期便を再開する",
                            url="{coupon_url}",
                            body_by_reason={
                                "leftover": "{name}様、お元気でお過ごしですか？{shop}です。\n"
                                "そろそろお手元の{product}が残り少なくなる頃かと思い、ご連絡しました。\n"
                                "この24時間だけ、定期便の再開が{coupon_value}になるクーポンをご用意しています。\n\n"
                                + LEAVING_JA,
                                "price": "{name}様、お元気でお過ごしですか？{shop}です。\n"
                                "以前いただいた価格についてのお声を受けて、この24時間だけ、定期便の再開が{coupon_value}になるクーポンをご用意しました。\n\n"
                                + LEAVING_JA,
                                "no_effect": "{name}様、お元気でお過ごしですか？{shop}です。\n"
                                "続け方のコツを知って、もう一度試してみたいという方のために、この24時間だけ定期便の再開が{coupon_value}になるクーポンをご用意しました。\n\n"
                                + LEAVING_JA,
                            },
                        ),
                    },
                ],
            },
            offers={
                "restart": {
                    "title": "定期便 再開キャンペーン 20%OFF（24時間限定）",
                    "description": "解約後フォローのシナリオでお届けする、24時間限定の再開クーポンです。",
                    "kind": "percentage",
                    "value": 20,
                    "valid_hours": 24,
                }
            },
        ),
        Template(
            key="retention",
            name={
                "ja": "定期便フォロー：続けたくなる情報",
                "en": "Subscriber retention: content worth staying for",
            },
            summary={
                "ja": "定期便を始めた方へ、商品の外側まで役立つ情報（1ヶ月チャレンジ、暮らしのヒント）と、気軽に相談できる距離感のあるメッセージ。解約されたら終了します。商品に合わせて内容を書き換えてお使いください。",
                "en": "For new subscribers: useful content beyond the product (a one-month challenge, everyday tips) and an easy way to ask. Ends when the subscription ends. Adapt the content to your products.",
            },
            scenario={
                "name": "定期便フォロー：続けたくなる情報",
                "description": "定期購入者の継続率アップ（3日後・10日後・24日後・45日後）",
                "trigger": Trigger.SUBSCRIPTION_STARTED,
                "exit_rules": [{"rule": "unsubscribed"}],
                "conversion_window_days": 60,
                "steps": [
                    {
                        "name": "定期便スタートのお礼",
                        "delay_days": 3,
                        "at_time": "12:00",
                        "message": _text(
                            "{name}様、{shop}の定期便をはじめていただき、ありがとうございます！\n\n"
                            "続けるほど実感しやすくなるよう、このLINEで月に2回ほど、暮らしに役立つ情報をお届けします。\n"
                            "ご質問やお悩みは、このトークにメッセージを送るだけでOK。定期便のお客さまのご相談には優先してお返事しています。\n\n"
                            + LEAVING_JA
                        ),
                    },
                    {
                        "name": "はじめての1ヶ月チャレンジ",
                        "delay_days": 10,
                        "at_time": "12:00",
                        "message": _card(
                            "はじめての1ヶ月チャレンジ",
                            "無理なく続けるコツは「小さく、毎日」です。\n"
                            "✓ 朝起きたら、まずコップ1杯の水\n"
                            "✓ いつもより10分多く歩く\n"
                            "✓ 寝る1時間前はスマホをお休み\n\n"
                            "できた日はカレンダーに○をつけてみてください。1ヶ月後、きっと小さな変化に気づけるはずです。",
                        ),
                    },
                    {
                        "name": "おうちでできるリフレッシュ",
                        "delay_days": 24,
                        "at_time": "12:00",
                        "message": _text(
                            "{name}様、こんにちは。{shop}です。\n"
                            "今日は、おうちで3分でできるリフレッシュをご紹介します。\n\n"
                            "①椅子に座ったまま、肩をゆっくり5回まわす\n"
                            "②両手を組んで、頭の上でぐーっと伸びる\n"
                            "③鼻から4秒吸って、口から8秒かけて吐く\n\n"
                            "{product}と一緒に、毎日のちょっとした習慣にしてみてくださいね。"
                        ),
                    },
                    {
                        "name": "2ヶ月目のごあいさつ",
                        "delay_days": 45,
                        "at_time": "12:00",
                        "message": _text(
                            "{name}様、定期便を続けていただき、ありがとうございます。\n"
                            "現在のポイントは{points}ptです。会員証はLINEのメニューからいつでも確認できます。\n\n"
                            "お届けの間隔が合わない、少しお休みしたいといったときは、マイページから変更できます。"
                            "続けやすい形を一緒に見つけていきましょう。"
                        ),
                    },
                ],
            },
        ),
        Template(
            key="link_incentive",
            name={
                "ja": "友だち追加のお礼：アカウント連携のご案内",
                "en": "New friends: link your store account",
            },
            summary={
                "ja": "まだアカウント連携していない新しい友だちへ、1時間後と3日後に連携のメリットをご案内。連携したら終了します。今いる未連携の友だちは「今の対象者を登録」で一度に登録できます。連携特典のポイントはLINE設定で決められます。",
                "en": "New friends who have not linked their store account: the benefits of linking after 1 hour and on day 3. Ends when they link. Enroll the unlinked friends you already have with “Enroll current audience”. Set the link bonus points in the LINE settings.",
            },
            scenario={
                "name": "友だち追加のお礼：アカウント連携のご案内",
                "description": "未連携の友だちへID連携の特典をご案内（1時間後・3日後）",
                "trigger": Trigger.FOLLOW,
                "trigger_params": {"include_unblocked": False},
                "entry_definition": {
                    "match": "all",
                    "conditions": [{"field": "linked", "op": "is", "value": False}],
                },
                "once_per_person": True,
                "exit_rules": [{"rule": "linked"}],
                "conversion_window_days": 14,
                "steps": [
                    {
                        "name": "連携のご案内",
                        "delay_hours": 1,
                        "message": _text(
                            "{shop}の友だちになっていただき、ありがとうございます！\n\n"
                            "オンラインストアのアカウントとLINEを連携すると、\n"
                            "🎁 連携特典のポイントをプレゼント\n"
                            "📦 ご注文や発送のお知らせがLINEに届く\n"
                            "💳 会員証とクーポンをLINEの中でそのまま使える\n\n"
                            "下の「アカウント連携する」から1分ほどで完了します。",
                            quick_reply="link",
                        ),
                    },
                    {
                        "name": "連携のリマインド",
                        "delay_days": 3,
                        "at_time": "12:00",
                        "message": _text(
                            "{name}様、こんにちは。{shop}です。\n"
                            "アカウント連携がまだお済みでないようでしたので、もう一度だけご案内させてください。\n\n"
                            "連携すると、ポイントや会員証をLINEからすぐに確認でき、あなたに合ったお知らせだけが届くようになります。"
                            "連携はいつでも解除できます。",
                            quick_reply="link",
                        ),
                    },
                ],
            },
        ),
        Template(
            key="dormant_winback",
            name={"ja": "休眠フォロー：お久しぶりのご挨拶", "en": "Dormant customers: win-back"},
            summary={
                "ja": "いつもの購入間隔の2倍（最短45日）以上ご注文がない方、1回だけ購入の方は90日以上空いた方へ。当日にお久しぶりのご挨拶、7日後に7日間有効のおかえりなさいクーポン。ご注文で終了します。",
                "en": "Customers with no order for twice their usual interval (at least 45 days), or 90 days after a single order: a hello on the day, a 7-day welcome-back coupon a week later. Ends on an order.",
            },
            scenario={
                "name": "休眠フォロー：お久しぶりのご挨拶",
                "description": "購入間隔が空いたお客さまへの休眠復活（当日・7日後）",
                "trigger": Trigger.DORMANT,
                "trigger_params": {"multiple": 2, "min_days": 45, "days": 90, "max_days": 365},
                "exit_rules": [{"rule": "ordered"}],
                "conversion_window_days": 30,
                "steps": [
                    {
                        "name": "お久しぶりのご挨拶",
                        "at_time": "12:00",
                        "message": _card(
                            "{name}様、お久しぶりです",
                            "{shop}です。しばらくお見かけしなかったので、お元気かなと思いご連絡しました。\n"
                            "最近は新しい商品も仲間入りしています。お時間のあるときに、のぞいてみてください。",
                            label="ストアを見る",
                            url="{shop_url}",
                        ),
                    },
                    {
                        "name": "おかえりなさいクーポン",
                        "delay_days": 7,
                        "at_time": "12:00",
                        "offer": "welcome_back",
                        "message": _card(
                            "おかえりなさいクーポン",
                            "{name}様に、次のお買い物で使える{coupon_value}のクーポンをお届けします。"
                            "前回ご購入の{product}はもちろん、ほかの商品にもお使いいただけます。",
                            label="クーポンを使う",
                            url="{coupon_url}",
                        ),
                    },
                ],
            },
            offers={
                "welcome_back": {
                    "title": "おかえりなさい 15%OFF（7日間）",
                    "description": "休眠フォローのシナリオでお届けするクーポンです。",
                    "kind": "percentage",
                    "value": 15,
                    "valid_hours": 168,
                }
            },
        ),
    )
}


def gallery(locale: str) -> list[dict[str, Any]]:
    """The templates as the gallery shows them."""
    lang = "en" if locale == "en" else "ja"
    return [
        {
            "key": t.key,
            "name": t.name[lang],
            "summary": t.summary[lang],
            "trigger": t.scenario["trigger"],
            "steps": [
                {
                    "name": s["name"],
                    "delay_days": s.get("delay_days", 0),
                    "delay_hours": s.get("delay_hours", 0),
                    "at_time": s.get("at_time"),
                    "coupon": bool(s.get("offer")),
                }
                for s in t.scenario["steps"]
            ],
        }
        for t in TEMPLATES.values()
    ]


def create_from_template(shop: Shop, key: str, *, now: datetime) -> Scenario:
    """A draft scenario from the template, with its coupon offers (not claimable in the LIFF
    app: only the scenario hands them out). Raises NotFound for an unknown key."""
    template = TEMPLATES.get(key)
    if template is None:
        raise NotFound(f"no template {key!r}")
    offers: dict[str, CouponOffer] = {}
    for offer_key, fields in template.offers.items():
        offers[offer_key] = coupons.save_offer(shop, {**fields, "claimable": False, "active": True})
    data = dict(template.scenario)
    steps = []
    for step in data["steps"]:
        step = dict(step)
        offer_key = step.pop("offer", None)
        if offer_key:
            step["coupon_offer_id"] = offers[offer_key].id
        steps.append(step)
    data["steps"] = steps
    data["trigger"] = str(data["trigger"])
    scenario = editing.create_scenario(shop, data, template_key=key, now=now)
    db.session.flush()
    return scenario
