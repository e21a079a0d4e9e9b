import { api } from "../api";
import { money, t } from "../i18n";
import { openUrl } from "../liff";
import { h } from "../ui";

interface Product {
  id: number;
  title: string;
  image_url: string | null;
  price: number | null;
  url: string;
  subscribable: boolean;
}

export async function renderRecommend(): Promise<HTMLElement> {
  const data = await api<{ source: string; products: Product[] }>("/recommendations");
  const title = data.source === "personal" ? t("recommend.title") : t("recommend.popular");
  const grid = h(
    "div",
    { class: "products" },
    ...data.products.map((p) =>
      h(
        "button",
        { class: "product", type: "button", "data-product": p.id, onclick: () => openUrl(p.url) },
        p.image_url
          ? h("img", { src: p.image_url, alt: "", loading: "lazy", width: 160, height: 160 })
          : h("span", { class: "placeholder", "aria-hidden": "true" }, p.title.slice(0, 1)),
        h("span", { class: "title" }, p.title),
        p.price !== null ? h("span", { class: "price" }, money(p.price)) : null,
        p.subscribable ? h("span", { class: "tag" }, t("recommend.subscribable")) : null,
      ),
    ),
  );
  return h(
    "section",
    { class: "panel", "data-screen": "recommend", "data-source": data.source },
    h("h2", {}, title),
    data.products.length ? grid : h("p", { class: "note" }, t("recommend.empty")),
  );
}
