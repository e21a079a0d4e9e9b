import { ApiError, api } from "../api";
import { type Key, date, has, money, number, t } from "../i18n";
import { openUrl } from "../liff";
import { h, panel, toast } from "../ui";

interface Offer {
  id: number;
  title: string;
  description: string;
  kind: string;
  value: number;
  minimum_subtotal: number;
  ends_at: string | null;
  valid_hours: number | null;
  claimable: boolean;
  points_cost: number | null;
}

interface Coupon {
  id: number;
  title: string;
  description: string;
  kind: string;
  value: number;
  minimum_subtotal: number;
  state: "pending" | "active" | "used" | "expired" | "failed";
  code: string | null;
  use_url: string | null;
  valid_until: string | null;
  used_at: string | null;
}

interface Listing {
  points_balance: number;
  available: Offer[];
  mine: Coupon[];
}

let timers: number[] = [];

function headline(kind: string, value: number): string {
  if (kind === "percentage") return t("coupons.percent", { value });
  if (kind === "fixed_amount") return t("coupons.amount", { amount: money(value) });
  return t("coupons.free_shipping");
}

function conditions(item: { minimum_subtotal: number }): string {
  return item.minimum_subtotal > 0
    ? t("coupons.minimum", { amount: money(item.minimum_subtotal) })
    : t("coupons.no_minimum");
}

function left(until: string): string {
  const ms = new Date(until).getTime() - Date.now();
  if (ms <= 0) return "0:00:00";
  const s = Math.floor(ms / 1000);
  const days = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60]
    .map((n, i) => (i === 0 ? String(n) : String(n).padStart(2, "0")))
    .join(":");
  return days > 0 ? `${days}d ${hms}` : hms;
}

async function copy(code: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(code);
  } catch {
    // Older in-app browsers: the selection route.
    const area = h("textarea", { readonly: true, "aria-hidden": "true", class: "offscreen" }) as HTMLTextAreaElement;
    area.value = code;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast(t("coupons.copied"));
}

function offerCard(offer: Offer, balance: number, refresh: () => void): HTMLElement {
  const buttons: HTMLElement[] = [];
  const act = async (button: HTMLButtonElement, path: string, body?: unknown) => {
    button.disabled = true;
    try {
      const coupon = await api<Coupon>(path, { method: "POST", body });
      toast(t("coupons.claimed"));
      await waitForCode(coupon);
      refresh();
    } catch (error) {
      const code = error instanceof ApiError ? error.code : "error";
      const key = `coupons.error.${code}`;
      toast(has(key) ? t(key as Key) : t("error.title"), true);
      button.disabled = false;
    }
  };
  if (offer.claimable) {
    const claim = h(
      "button",
      { class: "primary", type: "button", "aria-label": t("coupons.claim_label", { title: offer.title }) },
      t("coupons.claim"),
    ) as HTMLButtonElement;
    claim.addEventListener("click", () => act(claim, `/coupons/${offer.id}/claim`));
    buttons.push(claim);
  }
  if (offer.points_cost) {
    const exchange = h(
      "button",
      { class: "secondary", type: "button", disabled: balance < offer.points_cost },
      t("coupons.exchange", { points: number(offer.points_cost) }),
    ) as HTMLButtonElement;
    exchange.addEventListener("click", () =>
      act(exchange, `/coupons/${offer.id}/exchange`, { request_id: crypto.randomUUID() }),
    );
    buttons.push(exchange);
  }
  return h(
    "article",
    { class: "coupon offer", "data-offer": offer.id },
    h("div", { class: "value" }, headline(offer.kind, offer.value)),
    h(
      "div",
      { class: "body" },
      h("h3", {}, offer.title),
      offer.description ? h("p", { class: "desc" }, offer.description) : null,
      h("p", { class: "terms" }, conditions(offer)),
      h(
        "p",
        { class: "terms" },
        offer.valid_hours
          ? t("coupons.valid_hours", { hours: offer.valid_hours })
          : offer.ends_at
            ? t("coupons.until", { date: date(offer.ends_at, true) })
            : "",
      ),
      h("div", { class: "actions" }, ...buttons),
    ),
  );
}

async function waitForCode(coupon: Coupon): Promise<void> {
  // The Shopify discount code is made in the background; usually within a second or two.
  for (let i = 0; i < 15 && coupon.state === "pending"; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    coupon = await api<Coupon>(`/coupons/mine/${coupon.id}`);
  }
}

function couponCard(coupon: Coupon): HTMLElement {
  const state = coupon.state;
  const countdown = h("p", { class: "countdown", "aria-live": "off" });
  if (state === "active" && coupon.valid_until) {
    const tick = () => {
      countdown.textContent = t("coupons.left", { time: left(coupon.valid_until!) });
    };
    tick();
    timers.push(window.setInterval(tick, 1000));
  }
  const badge =
    state === "active" ? null : h("span", { class: `state ${state}`, "data-state": state }, t(`coupons.state.${state}` as any));
  return h(
    "article",
    { class: `coupon mine ${state}`, "data-coupon": coupon.id, "data-state": state },
    h("div", { class: "value" }, headline(coupon.kind, coupon.value)),
    h(
      "div",
      { class: "body" },
      h("h3", {}, coupon.title, badge ? " " : "", badge),
      h("p", { class: "terms" }, conditions(coupon)),
      coupon.code
        ? h(
            "p",
            { class: "code-row" },
            h("span", { class: "label" }, t("coupons.code")),
            h("code", { class: "code", "data-code": coupon.code }, coupon.code),
          )
        : null,
      state === "active" && coupon.valid_until
        ? h("p", { class: "terms" }, t("coupons.until", { date: date(coupon.valid_until, true) }))
        : null,
      countdown.textContent ? countdown : null,
      state === "active" && coupon.code
        ? h(
            "div",
            { class: "actions" },
            h(
              "button",
              {
                class: "primary",
                type: "button",
                "aria-label": t("coupons.use_label", { title: coupon.title }),
                onclick: () => openUrl(coupon.use_url!),
              },
              t("coupons.use"),
            ),
            h("button", { class: "secondary", type: "button", onclick: () => copy(coupon.code!) }, t("coupons.copy")),
          )
        : null,
    ),
  );
}

export async function renderCoupons(): Promise<HTMLElement> {
  timers.forEach(clearInterval);
  timers = [];
  const root = h("div", { "data-screen": "coupons" });
  const draw = async () => {
    const data = await api<Listing>("/coupons");
    root.replaceChildren(
      panel(
        t("coupons.available"),
        data.available.length
          ? h("div", { class: "coupon-list" }, ...data.available.map((o) => offerCard(o, data.points_balance, redraw)))
          : h("p", { class: "note" }, t("coupons.none_available")),
      ),
      panel(
        t("coupons.mine"),
        data.mine.length
          ? h("div", { class: "coupon-list" }, ...data.mine.map(couponCard))
          : h("p", { class: "note" }, t("coupons.none_mine")),
      ),
    );
  };
  const redraw = () => {
    timers.forEach(clearInterval);
    timers = [];
    void draw();
  };
  await draw();
  return root;
}

export function stopCouponTimers(): void {
  timers.forEach(clearInterval);
  timers = [];
}
