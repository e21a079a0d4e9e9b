import { api } from "../api";
import { type Key, locale, money, t } from "../i18n";
import { openUrl } from "../liff";
import { h } from "../ui";

type Kind = "reorder" | "discovery" | "popular";

interface Product {
  id: number;
  title: string;
  image_url: string | null;
  price: number;
  url: string;
  kind: Kind;
  reason: string;
  subscribable: boolean;
}

// The recommender's order is kept within each section; sections in this order.
const SECTIONS: { kind: Kind; title: Key }[] = [
  { kind: "reorder", title: "recommend.reorder" },
  { kind: "discovery", title: "recommend.discovery" },
  { kind: "popular", title: "recommend.popular" },
];

function card(p: Product): HTMLElement {
  return h(
    "button",
    { class: "product", type: "button", "data-product": p.id, "data-kind": p.kind, onclick: () => openUrl(p.url) },
    p.image_url
      ? h("img", { src: p.image_url, alt: "", loading: "lazy", width: 160, height: 160 })
      : h("span", { class: "placeholder", "aria-hidden": "true" }, p.title.slice(0, 1)),
    h("span", { class: "title" }, p.title),
    h("span", { class: "price" }, money(p.price)),
    h("span", { class: "reason" }, p.reason),
    p.subscribable ? h("span", { class: "tag" }, t("recommend.subscribable")) : null,
  );
}

export async function renderRecommend(): Promise<HTMLElement> {
  const data = await api<{ source: string; products: Product[] }>(`/recommendations?lang=${locale}`);
  const sections = SECTIONS.map(({ kind, title }) => {
    const items = data.products.filter((p) => p.kind === kind);
    if (!items.length) return null;
    return h(
      "section",
      { class: "recommend-section", "data-section": kind },
      h("h2", {}, t(title)),
      h("div", { class: "products" }, ...items.map(card)),
    );
  });
  return h(
    "section",
    { class: "panel", "data-screen": "recommend", "data-source": data.source },
    data.products.length ? null : h("h2", {}, t("recommend.title")),
    ...sections,
    data.products.length ? null : h("p", { class: "note" }, t("recommend.empty")),
  );
}
