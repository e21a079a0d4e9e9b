import { t } from "../i18n";
import { openUrl } from "../liff";
import type { Me } from "../state";
import { h, icon } from "../ui";

// Not linked yet: the reason to link (the incentive) and the button that starts linking.
export function renderLink(me: Me): HTMLElement {
  const gifts = h(
    "ul",
    { class: "gifts" },
    me.link.bonus_points > 0 ? h("li", {}, t("link.bonus", { points: me.link.bonus_points })) : null,
    ...me.link.coupons.map((title) => h("li", {}, t("link.coupon", { title }))),
  );
  return h(
    "section",
    { class: "link-screen", "data-screen": "link" },
    h("div", { class: "link-hero" }, icon("link")),
    h("h1", {}, t("link.title")),
    h("p", { class: "lead" }, t("link.body")),
    gifts.childElementCount ? gifts : null,
    h(
      "button",
      { class: "primary wide", type: "button", onclick: () => openUrl(me.link.url) },
      t("link.button"),
    ),
    h("p", { class: "note" }, t("link.steps")),
  );
}
