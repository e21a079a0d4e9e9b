// Japanese first; English when LINE's language is English.
const ja = {
  "title": "会員証",
  "tab.card": "会員証",
  "tab.coupons": "クーポン",
  "tab.members": "定期便会員",
  "tab.recommend": "おすすめ",
  "card.honorific": "{name} 様",
  "card.number": "会員番号",
  "card.qr": "会員番号 {number} のQRコード。店頭でご提示ください",
  "card.show_in_store": "店頭でこの画面をご提示ください",
  "card.since": "{date}から会員",
  "tier.none": "一般会員",
  "tier.to_next": "あと{amount}で{tier}",
  "tier.top": "最上位ランクです。いつもありがとうございます",
  "tier.spend_12m": "直近12か月のお買い上げ {amount}",
  "tier.spend_lifetime": "累計お買い上げ {amount}",
  "tier.progress": "{tier}までの進み具合",
  "tier.benefits": "{tier}の特典",
  "points.title": "ポイント",
  "points.unit": "pt",
  "points.rate": "{yen}ごとに{points}pt たまります",
  "points.expiring": "{points}pt が {date} に失効します",
  "points.none_expiring": "失効予定のポイントはありません",
  "points.history": "ポイント履歴",
  "points.history_hide": "履歴を閉じる",
  "points.history_empty": "まだ履歴はありません",
  "points.kind.earn": "お買い物",
  "points.kind.reverse": "キャンセル・返金",
  "points.kind.bonus": "ボーナス",
  "points.kind.redeem": "クーポンと交換",
  "points.kind.expire": "有効期限切れ",
  "points.kind.adjust": "調整",
  "sub.title": "定期便",
  "sub.active": "ご利用中",
  "sub.inactive": "ご利用なし",
  "coupons.available": "受け取れるクーポン",
  "coupons.mine": "お持ちのクーポン",
  "coupons.none_available": "いま受け取れるクーポンはありません",
  "coupons.none_mine": "まだクーポンはありません",
  "coupons.claim": "受け取る",
  "coupons.claim_label": "受け取る：{title}",
  "coupons.exchange": "{points}ptと交換",
  "coupons.claimed": "クーポンを受け取りました",
  "coupons.percent": "{value}%OFF",
  "coupons.amount": "{amount} OFF",
  "coupons.free_shipping": "送料無料",
  "coupons.minimum": "{amount}以上のお買い物で",
  "coupons.no_minimum": "金額条件なし",
  "coupons.valid_hours": "受け取りから{hours}時間有効",
  "coupons.until": "{date}まで",
  "coupons.left": "残り {time}",
  "coupons.use": "今すぐ使う",
  "coupons.use_label": "今すぐ使う：{title}",
  "coupons.copy": "コードをコピー",
  "coupons.copied": "コードをコピーしました",
  "coupons.code": "クーポンコード",
  "coupons.state.pending": "発行中…",
  "coupons.state.used": "使用済み",
  "coupons.state.expired": "期限切れ",
  "coupons.state.failed": "発行できませんでした",
  "coupons.error.offer_closed": "このクーポンの配布は終了しました",
  "coupons.error.not_eligible": "このクーポンはご利用いただけません",
  "coupons.error.not_enough_points": "ポイントが足りません",
  "coupons.error.offer_exhausted": "このクーポンは配布上限に達しました",
  "members.title": "定期便会員さま限定",
  "members.lead": "いつもご愛用いただき、ありがとうございます。会員さまだけのお知らせです。",
  "members.empty": "新しいお知らせはまだありません",
  "members.priority": "優先サポートに相談する",
  "members.priority_note": "定期便会員さまのご相談は優先してお返事します",
  "members.priority_done": "優先サポートとして受け付けました。トークでご相談ください",
  "members.refused_title": "定期便会員さま限定のページです",
  "members.refused_body": "定期便をご利用中のお客さまだけがご覧になれます。限定コンテンツや優先サポートをご用意しています。",
  "members.subscribe": "定期便について見る",
  "members.min_tier": "{tier}以上の会員さま",
  "recommend.title": "あなたへのおすすめ",
  "recommend.popular": "人気の商品",
  "recommend.reorder": "そろそろ買い替え",
  "recommend.discovery": "あなたへのおすすめ",
  "recommend.empty": "おすすめできる商品がまだありません",
  "recommend.subscribable": "定期便あり",
  "link.title": "ストアのアカウントと連携しましょう",
  "link.body": "LINEとオンラインストアの会員情報を連携すると、会員証・ポイント・LINE限定クーポンがこのアプリで使えるようになります。",
  "link.bonus": "いま連携すると {points}pt プレゼント",
  "link.coupon": "さらに「{title}」をプレゼント",
  "link.button": "アカウントを連携する",
  "link.steps": "ストアにログインして「連携する」を押すだけ。1分で終わります。",
  "error.title": "読み込めませんでした",
  "error.retry": "再読み込み",
  "error.session": "LINEのログインが切れました。アプリを開き直してください。",
};

const en: typeof ja = {
  "title": "Membership",
  "tab.card": "Card",
  "tab.coupons": "Coupons",
  "tab.members": "Members",
  "tab.recommend": "For you",
  "card.honorific": "{name}",
  "card.number": "Member no.",
  "card.qr": "QR code of member number {number}. Show it in store",
  "card.show_in_store": "Show this screen in store",
  "card.since": "Member since {date}",
  "tier.none": "Member",
  "tier.to_next": "{amount} more to {tier}",
  "tier.top": "You are at our top tier. Thank you!",
  "tier.spend_12m": "Spent in the last 12 months: {amount}",
  "tier.spend_lifetime": "Spent in total: {amount}",
  "tier.progress": "Progress to {tier}",
  "tier.benefits": "{tier} benefits",
  "points.title": "Points",
  "points.unit": "pt",
  "points.rate": "Earn {points} pt for every {yen}",
  "points.expiring": "{points} pt expire on {date}",
  "points.none_expiring": "No points about to expire",
  "points.history": "Points history",
  "points.history_hide": "Hide history",
  "points.history_empty": "No history yet",
  "points.kind.earn": "Purchase",
  "points.kind.reverse": "Cancellation or refund",
  "points.kind.bonus": "Bonus",
  "points.kind.redeem": "Exchanged for a coupon",
  "points.kind.expire": "Expired",
  "points.kind.adjust": "Adjustment",
  "sub.title": "Subscription",
  "sub.active": "Active",
  "sub.inactive": "None",
  "coupons.available": "Coupons to claim",
  "coupons.mine": "Your coupons",
  "coupons.none_available": "No coupons to claim right now",
  "coupons.none_mine": "No coupons yet",
  "coupons.claim": "Claim",
  "coupons.claim_label": "Claim: {title}",
  "coupons.exchange": "Exchange {points} pt",
  "coupons.claimed": "Coupon claimed",
  "coupons.percent": "{value}% OFF",
  "coupons.amount": "{amount} OFF",
  "coupons.free_shipping": "Free shipping",
  "coupons.minimum": "On orders of {amount} or more",
  "coupons.no_minimum": "No minimum purchase",
  "coupons.valid_hours": "Valid for {hours} hours after claiming",
  "coupons.until": "Until {date}",
  "coupons.left": "{time} left",
  "coupons.use": "Use now",
  "coupons.use_label": "Use now: {title}",
  "coupons.copy": "Copy code",
  "coupons.copied": "Code copied",
  "coupons.code": "Coupon code",
  "coupons.state.pending": "Issuing…",
  "coupons.state.used": "Used",
  "coupons.state.expired": "Expired",
  "coupons.state.failed": "Could not be issued",
  "coupons.error.offer_closed": "This offer has ended",
  "coupons.error.not_eligible": "This coupon is not available to you",
  "coupons.error.not_enough_points": "Not enough points",
  "coupons.error.offer_exhausted": "All coupons of this offer are gone",
  "members.title": "For subscribers",
  "members.lead": "Thank you for subscribing. News just for you.",
  "members.empty": "No news yet",
  "members.priority": "Ask priority support",
  "members.priority_note": "Subscribers' questions are answered first",
  "members.priority_done": "You're on priority support. Ask us in the chat",
  "members.refused_title": "This page is for subscribers",
  "members.refused_body": "Only customers with an active subscription can see it: exclusive content and priority support.",
  "members.subscribe": "About subscriptions",
  "members.min_tier": "{tier} members and above",
  "recommend.title": "Recommended for you",
  "recommend.popular": "Popular now",
  "recommend.reorder": "Time to reorder",
  "recommend.discovery": "You may also like",
  "recommend.empty": "Nothing to recommend yet",
  "recommend.subscribable": "Subscription available",
  "link.title": "Link your store account",
  "link.body": "Link LINE with your online store account to use your membership card, points and LINE-only coupons here.",
  "link.bonus": "Link now and get {points} pt",
  "link.coupon": "Plus a gift: {title}",
  "link.button": "Link my account",
  "link.steps": "Sign in to the store and tap Link. It takes a minute.",
  "error.title": "Could not load",
  "error.retry": "Reload",
  "error.session": "Your LINE session ended. Please open the app again.",
};

export type Key = keyof typeof ja;
let table: typeof ja = ja;
export let locale: "ja" | "en" = "ja";

export function setLocale(value: "ja" | "en"): void {
  locale = value;
  table = value === "en" ? en : ja;
  document.documentElement.lang = value;
  document.title = table.title;
}

export function has(key: string): boolean {
  return key in table;
}

export function t(key: Key, values: Record<string, string | number> = {}): string {
  return table[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

let currency = "JPY";
export function setCurrency(value: string): void {
  currency = value;
}

export function money(minor: number): string {
  const digits = currency === "JPY" ? 0 : 2;
  return new Intl.NumberFormat(locale === "en" ? "en-US" : "ja-JP", {
    style: "currency",
    currency,
    maximumFractionDigits: digits,
  })
    .format(minor / 10 ** digits)
    .replace("\uffe5", "\u00a5"); // ja-JP formats the full-width yen sign; shops print ¥
}

export function number(value: number): string {
  return new Intl.NumberFormat(locale === "en" ? "en-US" : "ja-JP").format(value);
}

export function date(iso: string, withTime = false): string {
  const options: Intl.DateTimeFormatOptions = { year: "numeric", month: "short", day: "numeric" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(locale === "en" ? "en-US" : "ja-JP", options).format(new Date(iso));
}
