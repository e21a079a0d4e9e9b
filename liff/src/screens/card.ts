import { api } from "../api";
import { date, money, number, t } from "../i18n";
import { qrSvg } from "../qr";
import type { Me } from "../state";
import { h, panel } from "../ui";

interface Entry {
  id: number;
  delta: number;
  kind: string;
  note: string;
  at: string;
  expires_at: string | null;
}

function spaced(memberNumber: string): string {
  return memberNumber.replace(/(\d{4})(\d{4})(\d+)/, "$1 $2 $3");
}

export function renderCard(me: Me): HTMLElement {
  const tierName = me.tier ? me.tier.name : t("tier.none");
  const color = me.tier ? me.tier.color : "#5b6472";
  const avatar = me.profile.picture
    ? h("img", { class: "avatar", src: me.profile.picture, alt: "", width: 48, height: 48 })
    : h("span", { class: "avatar initial", "aria-hidden": "true" }, (me.profile.name || "?").slice(0, 1));
  const card = h(
    "section",
    { class: "member-card", style: `--tier:${color}`, "aria-label": t("tab.card") },
    h(
      "div",
      { class: "card-top" },
      avatar,
      h(
        "div",
        { class: "who" },
        h("p", { class: "name" }, t("card.honorific", { name: me.profile.name || me.customer_name || "" })),
        h("p", { class: "tier-badge", "data-tier": tierName }, tierName),
      ),
    ),
    h("div", { class: "qr-wrap" }, qrSvg(me.member_number!, t("card.qr", { number: me.member_number! }))),
    h(
      "p",
      { class: "member-number" },
      h("span", { class: "label" }, t("card.number")),
      h("span", { class: "value", "data-member-number": me.member_number! }, spaced(me.member_number!)),
    ),
    h("p", { class: "hint" }, t("card.show_in_store")),
  );

  const next = me.next_tier;
  const pct = Math.round((me.progress ?? 1) * 100);
  const spend = me.tier_window === "lifetime" ? "tier.spend_lifetime" : "tier.spend_12m";
  const progress = panel(
    null,
    h(
      "p",
      { class: "to-next" },
      next ? t("tier.to_next", { amount: money(next.remaining), tier: next.name }) : t("tier.top"),
    ),
    h(
      "div",
      {
        class: "bar",
        role: "progressbar",
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": pct,
        "aria-label": next ? t("tier.progress", { tier: next.name }) : t("tier.top"),
      },
      h("span", { style: `width:${pct}%;background:${next ? next.color : color}` }),
    ),
    h("p", { class: "sub" }, t(spend, { amount: money(me.spend ?? 0) })),
    me.tier && me.tier.benefits
      ? h("p", { class: "benefits" }, h("strong", {}, t("tier.benefits", { tier: me.tier.name })), " ", me.tier.benefits)
      : null,
  );

  const points = me.points!;
  const history = h("div", { class: "history", hidden: true });
  const toggle = h("button", { class: "link-button", type: "button", "aria-expanded": "false" }, t("points.history"));
  toggle.addEventListener("click", async () => {
    const open = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!open));
    toggle.textContent = open ? t("points.history") : t("points.history_hide");
    history.hidden = open;
    if (!open && !history.childElementCount) {
      const data = await api<{ entries: Entry[] }>("/points");
      history.append(
        data.entries.length
          ? h(
              "ul",
              { class: "entries" },
              ...data.entries.map((e) =>
                h(
                  "li",
                  {},
                  h("span", { class: "when" }, date(e.at)),
                  h("span", { class: "what" }, t(`points.kind.${e.kind}` as any), e.note ? ` ${e.note}` : ""),
                  h("span", { class: e.delta > 0 ? "delta plus" : "delta minus" }, `${e.delta > 0 ? "+" : ""}${number(e.delta)}`),
                ),
              ),
            )
          : h("p", { class: "note" }, t("points.history_empty")),
      );
    }
  });
  const pointsPanel = panel(
    t("points.title"),
    h(
      "p",
      { class: "balance" },
      h("span", { class: "value", "data-points": points.balance }, number(points.balance)),
      h("span", { class: "unit" }, t("points.unit")),
    ),
    h(
      "p",
      { class: "sub" },
      points.expiring
        ? t("points.expiring", { points: number(points.expiring.points), date: date(points.expiring.at) })
        : t("points.none_expiring"),
    ),
    points.earn_points_per_100 > 0
      ? h("p", { class: "sub" }, t("points.rate", { yen: money(100), points: points.earn_points_per_100 }))
      : null,
    toggle,
    history,
  );

  const subscription = panel(
    null,
    h(
      "p",
      { class: "row" },
      h("span", {}, t("sub.title")),
      h(
        "span",
        { class: me.subscriber.active ? "pill on" : "pill", "data-subscriber": String(me.subscriber.active) },
        me.subscriber.active ? t("sub.active") : t("sub.inactive"),
      ),
    ),
  );

  return h("div", { "data-screen": "card" }, card, progress, pointsPanel, subscription);
}
