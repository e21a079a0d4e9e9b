import "./style.css";
import { ApiError, api } from "./api";
import { setCurrency, setLocale, t } from "./i18n";
import { language, start } from "./liff";
import { renderCard } from "./screens/card";
import { renderCoupons, stopCouponTimers } from "./screens/coupons";
import { renderLink } from "./screens/link";
import { renderMembers } from "./screens/members";
import { renderRecommend } from "./screens/recommend";
import { type Me, state } from "./state";
import { h } from "./ui";

type Tab = "card" | "coupons" | "members" | "recommend";
const TABS: { id: Tab; label: () => string; icon: string }[] = [
  { id: "card", label: () => t("tab.card"), icon: "▣" },
  { id: "coupons", label: () => t("tab.coupons"), icon: "✂" },
  { id: "members", label: () => t("tab.members"), icon: "★" },
  { id: "recommend", label: () => t("tab.recommend"), icon: "♡" },
];
let current: Tab = "card";

const screen = () => document.getElementById("screen")!;

function drawTabs(): void {
  const bar = document.getElementById("tabbar")!;
  bar.setAttribute("aria-label", t("title"));
  bar.replaceChildren(
    ...TABS.map((tab) =>
      h(
        "button",
        {
          type: "button",
          class: "tab",
          "data-tab": tab.id,
          "aria-current": tab.id === current ? "page" : undefined,
          onclick: () => show(tab.id),
        },
        h("span", { class: "icon", "aria-hidden": "true" }, tab.icon),
        h("span", { class: "label" }, tab.label()),
      ),
    ),
  );
}

function failure(error: unknown): HTMLElement {
  const session = error instanceof ApiError && error.status === 401;
  return h(
    "section",
    { class: "panel error", role: "alert", "data-screen": "error" },
    h("h2", {}, t("error.title")),
    h("p", {}, session ? t("error.session") : error instanceof ApiError ? error.message : ""),
    h("button", { class: "secondary", type: "button", onclick: () => location.reload() }, t("error.retry")),
  );
}

async function show(tab: Tab): Promise<void> {
  current = tab;
  stopCouponTimers();
  drawTabs();
  const me = state.me!;
  const main = screen();
  main.setAttribute("aria-busy", "true");
  let content: HTMLElement;
  try {
    if (!me.linked && tab !== "recommend") content = renderLink(me);
    else if (tab === "card") content = renderCard(me);
    else if (tab === "coupons") content = await renderCoupons();
    else if (tab === "members") content = await renderMembers();
    else content = await renderRecommend();
  } catch (error) {
    content = failure(error);
  }
  if (current !== tab) return; // the customer tapped another tab meanwhile
  main.replaceChildren(content);
  main.setAttribute("aria-busy", "false");
  main.dataset.ready = tab;
  window.scrollTo(0, 0);
}

async function boot(): Promise<void> {
  try {
    await start();
    setLocale(language());
    drawTabs();
    const me = await api<Me>("/me");
    state.me = me;
    setCurrency(me.currency);
    document.getElementById("shop-name")!.textContent = me.shop.name;
    const wanted = new URLSearchParams(location.search).get("screen") as Tab | null;
    await show(TABS.some((x) => x.id === wanted) ? wanted! : "card");
  } catch (error) {
    screen().replaceChildren(failure(error));
    screen().setAttribute("aria-busy", "false");
  }
}

void boot();
