"""The demo brand's catalogue: supplements and skincare, priced in yen.

Each entry: title, product type, tags, price (¥), subscribable, usage days (how long one unit
lasts; None for non-consumables), popularity weight.
"""

from __future__ import annotations

from typing import NamedTuple


class DemoProduct(NamedTuple):
    title: str
    product_type: str
    tags: tuple[str, ...]
    price: int
    subscribable: bool
    usage_days: int | None
    weight: float


SUPPLEMENT = "サプリメント"
SKINCARE = "スキンケア"
HAIRCARE = "ヘアケア"
BODYCARE = "ボディケア"
FOOD = "フード"
GOODS = "グッズ"

CATALOG: tuple[DemoProduct, ...] = (
    DemoProduct(
        "国産大麦若葉の青汁 30包", SUPPLEMENT, ("青汁", "定期便対象", "人気"), 3980, True, 30, 9.0
    ),
    DemoProduct("乳酸菌ケア 60粒", SUPPLEMENT, ("腸活", "定期便対象", "人気"), 3480, True, 30, 8.0),
    DemoProduct(
        "マルチビタミン＆ミネラル 90粒", SUPPLEMENT, ("ビタミン", "定期便対象"), 2680, True, 30, 6.0
    ),
    DemoProduct(
        "マリンコラーゲン パウダー 150g", SUPPLEMENT, ("美容", "定期便対象"), 4980, True, 30, 6.5
    ),
    DemoProduct(
        "ソイプロテイン 抹茶味 1kg", SUPPLEMENT, ("プロテイン", "定期便対象"), 4280, True, 30, 4.0
    ),
    DemoProduct(
        "植物発酵エキス 酵素ドリンク 720ml", SUPPLEMENT, ("酵素", "定期便対象"), 5800, True, 30, 3.5
    ),
    DemoProduct("鉄＋葉酸 60粒", SUPPLEMENT, ("妊活", "女性の健康"), 1980, True, 30, 3.0),
    DemoProduct("DHA・EPA 120粒", SUPPLEMENT, ("青魚", "定期便対象"), 3680, True, 30, 3.0),
    DemoProduct("睡眠サポート GABA 30粒", SUPPLEMENT, ("睡眠", "新商品"), 2980, True, 30, 2.5),
    DemoProduct("ルテイン アイケア 30粒", SUPPLEMENT, ("目の健康",), 2480, True, 30, 2.0),
    DemoProduct("黒酢にんにく 90粒", SUPPLEMENT, ("元気",), 2180, False, 30, 1.5),
    DemoProduct("お試し 青汁 7包", SUPPLEMENT, ("お試し", "青汁"), 980, False, 7, 6.0),
    DemoProduct("お試し 乳酸菌ケア 14粒", SUPPLEMENT, ("お試し", "腸活"), 780, False, 7, 5.0),
    DemoProduct(
        "薬用美白 化粧水 150ml",
        SKINCARE,
        ("美白", "化粧水", "定期便対象", "人気"),
        3850,
        True,
        45,
        7.0,
    ),
    DemoProduct(
        "敏感肌用 保湿化粧水 150ml", SKINCARE, ("敏感肌", "化粧水", "乾燥肌"), 3300, True, 45, 6.0
    ),
    DemoProduct(
        "ヒト型セラミド 美容液 30ml",
        SKINCARE,
        ("敏感肌", "美容液", "乾燥肌", "人気"),
        5280,
        True,
        45,
        6.0,
    ),
    DemoProduct("ビタミンC 美容液 20ml", SKINCARE, ("美容液", "毛穴"), 4620, True, 40, 4.5),
    DemoProduct(
        "レチノール ナイトクリーム 30g",
        SKINCARE,
        ("エイジングケア", "クリーム"),
        6380,
        True,
        60,
        3.5,
    ),
    DemoProduct("敏感肌用 乳液 120ml", SKINCARE, ("敏感肌", "乳液"), 3080, True, 50, 3.5),
    DemoProduct(
        "オールインワン ジェル 80g",
        SKINCARE,
        ("時短", "オールインワン", "定期便対象"),
        3980,
        True,
        40,
        5.0,
    ),
    DemoProduct("クレンジングバーム 90g", SKINCARE, ("クレンジング",), 3190, True, 45, 4.5),
    DemoProduct("泡洗顔 ミルキーフォーム 150ml", SKINCARE, ("洗顔", "敏感肌"), 1980, True, 45, 4.0),
    DemoProduct("UVミルク SPF50+ 50ml", SKINCARE, ("日焼け止め", "新商品"), 2750, False, 60, 3.5),
    DemoProduct("シートマスク 7枚入", SKINCARE, ("スペシャルケア",), 1650, False, 14, 3.0),
    DemoProduct("敏感肌 トライアルセット", SKINCARE, ("お試し", "敏感肌"), 1480, False, 10, 5.5),
    DemoProduct("美白 トライアルセット", SKINCARE, ("お試し", "美白"), 1480, False, 10, 4.5),
    DemoProduct(
        "アミノ酸シャンプー 400ml", HAIRCARE, ("シャンプー", "定期便対象"), 2860, True, 45, 3.0
    ),
    DemoProduct("アミノ酸トリートメント 400g", HAIRCARE, ("トリートメント",), 2860, True, 45, 2.5),
    DemoProduct(
        "頭皮用 育毛エッセンス 120ml", HAIRCARE, ("頭皮ケア", "エイジングケア"), 5500, True, 30, 2.0
    ),
    DemoProduct("ヘアオイル 椿 60ml", HAIRCARE, ("ヘアオイル",), 2420, False, 90, 1.5),
    DemoProduct("ボディミルク 無香料 250ml", BODYCARE, ("保湿", "敏感肌"), 2200, False, 60, 2.5),
    DemoProduct("薬用ハンドクリーム 50g", BODYCARE, ("保湿", "ギフト"), 1320, False, 45, 2.5),
    DemoProduct("入浴剤 ヒノキ 10回分", BODYCARE, ("リラックス", "睡眠"), 1760, False, 20, 2.0),
    DemoProduct("有機ルイボスティー 30包", FOOD, ("お茶", "ノンカフェイン"), 1620, True, 30, 2.5),
    DemoProduct("発酵玄米グラノーラ 300g", FOOD, ("朝食", "腸活"), 1480, True, 20, 2.0),
    DemoProduct("国産はちみつ 250g", FOOD, ("ギフト",), 2700, False, 45, 1.2),
    DemoProduct("ステンレス シェイカー", GOODS, ("プロテイン", "グッズ"), 1100, False, None, 1.0),
    DemoProduct("ピルケース 7日分", GOODS, ("グッズ",), 880, False, None, 1.0),
    DemoProduct("ギフトボックス（ラッピング付）", GOODS, ("ギフト",), 550, False, None, 1.0),
    DemoProduct(
        "年間定期便 青汁 12か月分", SUPPLEMENT, ("青汁", "年間プラン"), 39800, False, 365, 0.6
    ),
)

FAMILY_NAMES = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "山下",
    "中島",
    "石井",
    "小川",
    "前田",
    "岡田",
    "長谷川",
    "藤田",
    "後藤",
    "近藤",
)
GIVEN_NAMES = (
    "陽子",
    "美咲",
    "さくら",
    "結衣",
    "真由美",
    "恵子",
    "愛",
    "彩",
    "優子",
    "直美",
    "由美",
    "舞",
    "花子",
    "葵",
    "七海",
    "明美",
    "久美子",
    "智子",
    "麻衣",
    "千尋",
    "翔太",
    "大輔",
    "健一",
    "拓也",
    "誠",
    "亮",
    "直樹",
    "浩二",
    "蓮",
    "悠人",
    "隆",
    "修",
)
