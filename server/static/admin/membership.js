// The membership admin pages (issue 5): tiers and points rules, coupon offers, subscriber posts,
// members. Data from the API reaches the page only as text (textContent), never as HTML.
import { api, barChart, formatMoney, h, toast } from "./kizuna.js";

const root = document.getElementById("kz-membership");
const S = JSON.parse(document.getElementById("kz-membership-strings").textContent);
const locale = document.body.dataset.locale || "ja";
const t = (key, values = {}) =>
  (S[key] || key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
let currency = "JPY";
const money = (minor) => formatMoney(minor || 0, currency, locale);
const num = (n) => new Intl.NumberFormat(locale === "en" ? "en-US" : "ja-JP").format(n || 0);
const when = (iso) =>
  iso
    ? new Intl.DateTimeFormat(locale === "en" ? "en-US" : "ja-JP", {
        dateStyle: "medium",
        timeStyle: "short",
      }).format(new Date(iso))
    : "—";


const card = (title, ...children) =>
  h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);

// A labelled input whose validation message appears under it (aria-describedby).
function field(name, label, input, help) {
  input.id = input.id || `f-${name}`;
  input.name = name;
  const error = h("p", { class: "field-error", id: `${input.id}-error`, hidden: true });
  input.setAttribute("aria-describedby", `${input.id}-error`);
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: input.id }, label),
    input,
    help ? h("p", { class: "help" }, help) : null,
    error,
  );
}

function showErrors(form, error) {
  form.querySelectorAll(".field-error").forEach((el) => (el.hidden = true));
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const fields = (error.data && error.data.details && error.data.details.fields) || {};
  for (const [name, message] of Object.entries(fields)) {
    const box = form.querySelector(`[data-field="${name}"]`);
    if (!box) continue;
    const el = box.querySelector(".field-error");
    el.textContent = `${t(`membership.field.${name}`)}: ${message}`;
    el.hidden = false;
    box.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
  }
  toast(error.message || t("common.error"), true);
}

const input = (type, value, attrs = {}) => h("input", { type, value: value ?? "", ...attrs });
const select = (options, value) =>
  h(
    "select",
    {},
    ...options.map(([v, label]) =>
      h("option", { value: v, selected: String(v) === String(value ?? "") }, label),
    ),
  );
const check = (checked) => h("input", { type: "checkbox", checked: !!checked });
const localValue = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const isoValue = (local) => (local ? new Date(local).toISOString() : null);
const values = (form) => Object.fromEntries(
  [...form.querySelectorAll("[name]")].map((el) => [
    el.name,
    el.type === "checkbox" ? el.checked : el.type === "datetime-local" ? isoValue(el.value) : el.value,
  ]),
);

// -- tiers and points rules ----------------------------------------------------------------------

async function tiersPage() {
  const [rules, data] = await Promise.all([
    api("/api/admin/membership/settings"),
    api("/api/admin/membership/tiers"),
  ]);
  currency = data.currency;
  const rulesForm = h(
    "form",
    { class: "form", "data-form": "rules" },
    field("tier_window", t("membership.field.tier_window"), select([
      ["rolling_12_months", t("membership.window.rolling_12_months")],
      ["lifetime", t("membership.window.lifetime")],
    ], rules.tier_window)),
    field("earn_points_per_100", t("membership.field.earn_points_per_100"),
      input("number", rules.earn_points_per_100, { min: 0, max: 100 }), t("membership.help.earn")),
    field("points_expiry_months", t("membership.field.points_expiry_months"),
      input("number", rules.points_expiry_months, { min: 0, max: 120 }), t("membership.help.expiry")),
    h("button", { class: "primary", type: "submit" }, t("membership.save")),
  );
  rulesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/admin/membership/settings", { method: "PUT", body: values(rulesForm) });
      toast(t("membership.saved"));
    } catch (error) {
      showErrors(rulesForm, error);
    }
  });

  const chart = h("figure", { class: "chart", "aria-label": t("membership.tiers.chart") });
  const rows = data.tiers.map((tier) =>
    h("tr", { "data-tier": tier.id },
      h("td", {}, h("span", { class: "swatch", style: `background:${tier.color}` }), tier.name),
      h("td", { class: "num" }, money(tier.threshold)),
      h("td", {}, tier.benefits),
      h("td", { class: "num" }, num(tier.members)),
      h("td", {},
        h("button", { type: "button", onclick: () => fill(tier) }, t("membership.edit")),
        " ",
        h("button", { type: "button", class: "critical", onclick: () => remove(tier) }, t("membership.delete")),
      ),
    ),
  );
  const table = h("table", { class: "table" },
    h("thead", {}, h("tr", {},
      h("th", {}, t("membership.field.name")), h("th", {}, t("membership.field.threshold")),
      h("th", {}, t("membership.field.benefits")), h("th", {}, t("membership.tiers.members")), h("th", {}))),
    h("tbody", {}, rows));
  let editing = null;
  const tierForm = h(
    "form",
    { class: "form", "data-form": "tier" },
    field("name", t("membership.field.name"), input("text", "", { maxlength: 64, required: true })),
    field("threshold", t("membership.field.threshold"), input("number", "", { min: 0, required: true }),
      t("membership.help.threshold")),
    field("color", t("membership.field.color"), input("color", "#8a8f98")),
    field("benefits", t("membership.field.benefits"), h("textarea", { rows: 2, maxlength: 500 })),
    h("button", { class: "primary", type: "submit" }, t("membership.tiers.save")),
  );
  const fill = (tier) => {
    editing = tier.id;
    for (const name of ["name", "threshold", "color", "benefits"]) tierForm.elements[name].value = tier[name];
    tierForm.elements.name.focus();
  };
  const remove = async (tier) => {
    if (!confirm(t("membership.tiers.confirm_delete", { name: tier.name }))) return;
    await api(`/api/admin/membership/tiers/${tier.id}`, { method: "DELETE" });
    toast(t("membership.deleted"));
    await render();
  };
  tierForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = values(tierForm);
      if (editing) await api(`/api/admin/membership/tiers/${editing}`, { method: "PUT", body });
      else await api("/api/admin/membership/tiers", { method: "POST", body });
      toast(t("membership.saved"));
      await render();
    } catch (error) {
      showErrors(tierForm, error);
    }
  });
  root.replaceChildren(
    card(t("membership.rules.title"), h("p", { class: "subdued" }, t("membership.rules.lead")), rulesForm),
    card(t("membership.tiers.title"),
      data.tiers.length ? chart : null,
      data.tiers.length ? table : h("p", { class: "subdued" }, t("membership.tiers.empty")),
      h("h3", {}, t("membership.tiers.add")), tierForm),
  );
  if (data.tiers.length)
    barChart(chart, data.tiers.map((x) => ({ label: x.name, value: x.members })), num);
}

// -- coupon offers --------------------------------------------------------------------------------

function headline(offer) {
  if (offer.kind === "percentage") return t("membership.coupons.percent", { value: offer.value });
  if (offer.kind === "fixed_amount") return t("membership.coupons.amount", { amount: money(offer.value) });
  return t("membership.coupons.free_shipping");
}

function couponPreview(offer) {
  return h("div", { class: "coupon-preview", "data-preview": "offer" },
    h("div", { class: "value" }, headline(offer)),
    h("div", { class: "body" },
      h("strong", {}, offer.title),
      offer.description ? h("p", {}, offer.description) : null,
      h("p", { class: "subdued" }, offer.minimum_subtotal
        ? t("membership.coupons.minimum", { amount: money(offer.minimum_subtotal) })
        : t("membership.coupons.no_minimum")),
      h("p", { class: "subdued" }, offer.valid_hours
        ? t("membership.coupons.valid_hours", { hours: offer.valid_hours })
        : t("membership.coupons.until", { date: when(offer.ends_at) })),
    ),
  );
}

async function couponsPage() {
  const [data, tiers] = await Promise.all([
    api("/api/admin/coupons/offers"),
    api("/api/admin/membership/tiers"),
  ]);
  currency = data.currency;
  const tierOptions = [["", t("membership.everyone")], ...tiers.tiers.map((x) => [x.id, x.name])];
  let editing = null;
  const form = h(
    "form",
    { class: "form", "data-form": "offer" },
    field("title", t("membership.field.title"), input("text", "", { maxlength: 120, required: true })),
    field("description", t("membership.field.description"), h("textarea", { rows: 2 })),
    h("div", { class: "row" },
      field("kind", t("membership.field.kind"), select([
        ["percentage", t("membership.kind.percentage")],
        ["fixed_amount", t("membership.kind.fixed_amount")],
        ["free_shipping", t("membership.kind.free_shipping")],
      ], "percentage")),
      field("value", t("membership.field.value"), input("number", "10", { min: 0 }), t("membership.help.value")),
      field("minimum_subtotal", t("membership.field.minimum_subtotal"), input("number", "0", { min: 0 })),
    ),
    h("div", { class: "row" },
      field("starts_at", t("membership.field.starts_at"), input("datetime-local", "")),
      field("ends_at", t("membership.field.ends_at"), input("datetime-local", "")),
      field("valid_hours", t("membership.field.valid_hours"), input("number", "24", { min: 1 }),
        t("membership.help.valid_hours")),
    ),
    h("div", { class: "row" },
      field("min_tier_id", t("membership.field.min_tier_id"), select(tierOptions, "")),
      field("points_cost", t("membership.field.points_cost"), input("number", "", { min: 1 }),
        t("membership.help.points_cost")),
      field("max_issued", t("membership.field.max_issued"), input("number", "", { min: 1 })),
    ),
    h("div", { class: "checks" },
      h("label", {}, Object.assign(check(true), { name: "claimable" }), " ", t("membership.field.claimable")),
      h("label", {}, Object.assign(check(false), { name: "issue_on_link" }), " ", t("membership.field.issue_on_link")),
      h("label", {}, Object.assign(check(true), { name: "active" }), " ", t("membership.field.active")),
    ),
    h("div", { class: "actions" },
      h("button", { type: "button", "data-action": "preview" }, t("membership.preview")),
      h("button", { class: "primary", type: "submit" }, t("membership.coupons.save")),
    ),
  );
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  form.querySelector("[data-action=preview]").addEventListener("click", async () => {
    try {
      const answer = await api("/api/admin/coupons/offers/preview", { method: "POST", body: values(form) });
      showErrors(form, { data: {} });
      document.getElementById("toast").hidden = true;
      preview.replaceChildren(h("h3", {}, t("membership.preview_title")), couponPreview(answer.offer));
    } catch (error) {
      showErrors(form, error);
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = values(form);
      if (editing) await api(`/api/admin/coupons/offers/${editing}`, { method: "PUT", body });
      else await api("/api/admin/coupons/offers", { method: "POST", body });
      toast(t("membership.saved"));
      await render();
    } catch (error) {
      showErrors(form, error);
    }
  });
  const fill = (offer) => {
    editing = offer.id;
    for (const el of form.querySelectorAll("[name]")) {
      const v = offer[el.name];
      if (el.type === "checkbox") el.checked = !!v;
      else if (el.type === "datetime-local") el.value = localValue(v);
      else el.value = v ?? "";
    }
    form.scrollIntoView({ behavior: "smooth" });
  };
  const chart = h("figure", { class: "chart", "aria-label": t("membership.coupons.chart") });
  const table = h("table", { class: "table" },
    h("thead", {}, h("tr", {}, ...["title", "kind", "issued", "used", "revenue", "status", ""].map(
      (k) => h("th", {}, k ? t(`membership.coupons.col.${k}`) : "")))),
    h("tbody", {}, data.offers.map((offer) =>
      h("tr", { "data-offer": offer.id },
        h("td", {}, offer.title, offer.issue_on_link ? h("span", { class: "badge" }, t("membership.coupons.link_badge")) : null),
        h("td", {}, headline(offer)),
        h("td", { class: "num" }, num(offer.stats.issued)),
        h("td", { class: "num" }, num(offer.stats.used)),
        h("td", { class: "num" }, money(offer.stats.revenue)),
        h("td", {}, offer.active ? t("membership.active") : t("membership.inactive")),
        h("td", {}, h("button", { type: "button", onclick: () => fill(offer) }, t("membership.edit"))),
      ))));
  root.replaceChildren(
    card(t("membership.coupons.list"),
      data.offers.some((o) => o.stats.revenue > 0) ? chart : null,
      data.offers.length ? table : h("p", { class: "subdued" }, t("membership.coupons.empty"))),
    card(t("membership.coupons.editor"), h("div", { class: "editor-grid" }, form, preview)),
  );
  if (data.offers.some((o) => o.stats.revenue > 0))
    barChart(chart, data.offers.map((o) => ({
      label: o.title.slice(0, 8), value: o.stats.revenue,
      title: `${o.title}: ${money(o.stats.revenue)} (${num(o.stats.used)}/${num(o.stats.issued)})`,
    })), money);
}

// -- subscriber posts -----------------------------------------------------------------------------

async function postsPage() {
  const [data, tiers] = await Promise.all([
    api("/api/admin/membership/posts"),
    api("/api/admin/membership/tiers"),
  ]);
  const tierOptions = [["", t("membership.posts.all_subscribers")], ...tiers.tiers.map((x) => [x.id, x.name])];
  let editing = null;
  const form = h(
    "form",
    { class: "form", "data-form": "post" },
    field("title", t("membership.field.title"), input("text", "", { maxlength: 120, required: true })),
    field("body", t("membership.field.body"), h("textarea", { rows: 8 }), t("membership.help.body")),
    field("image_url", t("membership.field.image_url"), input("url", "", { placeholder: "https://" })),
    h("div", { class: "row" },
      field("published_at", t("membership.field.published_at"), input("datetime-local", ""),
        t("membership.help.published_at")),
      field("min_tier_id", t("membership.field.audience"), select(tierOptions, "")),
    ),
    h("div", { class: "actions" },
      h("button", { type: "button", "data-action": "preview" }, t("membership.preview")),
      h("button", { class: "primary", type: "submit" }, t("membership.posts.save")),
    ),
  );
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  form.querySelector("[data-action=preview]").addEventListener("click", async () => {
    try {
      const answer = await api("/api/admin/membership/posts/preview", { method: "POST", body: values(form) });
      showErrors(form, { data: {} });
      document.getElementById("toast").hidden = true;
      const p = answer.post;
      preview.replaceChildren(
        h("h3", {}, t("membership.preview_title")),
        h("article", { class: "phone-post", "data-preview": "post" },
          p.image_url ? h("img", { src: p.image_url, alt: "", width: 320, height: 180 }) : null,
          h("p", { class: "subdued" }, p.published_at ? when(p.published_at) : t("membership.posts.draft")),
          h("strong", {}, p.title),
          ...p.body.split(/\n{2,}/).map((para) => h("p", {}, para)),
        ),
        h("p", { class: "subdued", "data-reach": answer.members_reached },
          t("membership.posts.reach", { count: num(answer.members_reached) })),
      );
    } catch (error) {
      showErrors(form, error);
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = values(form);
      if (editing) await api(`/api/admin/membership/posts/${editing}`, { method: "PUT", body });
      else await api("/api/admin/membership/posts", { method: "POST", body });
      toast(t("membership.saved"));
      await render();
    } catch (error) {
      showErrors(form, error);
    }
  });
  const fill = (post) => {
    editing = post.id;
    for (const el of form.querySelectorAll("[name]"))
      el.value = el.type === "datetime-local" ? localValue(post[el.name]) : post[el.name] ?? "";
  };
  const remove = async (post) => {
    if (!confirm(t("membership.posts.confirm_delete", { title: post.title }))) return;
    await api(`/api/admin/membership/posts/${post.id}`, { method: "DELETE" });
    await render();
  };
  root.replaceChildren(
    card(t("membership.posts.list"), data.posts.length
      ? h("table", { class: "table" },
          h("thead", {}, h("tr", {}, h("th", {}, t("membership.field.title")),
            h("th", {}, t("membership.field.published_at")), h("th", {}, t("membership.field.audience")), h("th", {}))),
          h("tbody", {}, data.posts.map((post) => h("tr", { "data-post": post.id },
            h("td", {}, post.title),
            h("td", {}, h("span", { class: `status ${post.status}` }, t(`membership.posts.status.${post.status}`)), " ",
              post.published_at ? when(post.published_at) : ""),
            h("td", {}, post.min_tier || t("membership.posts.all_subscribers")),
            h("td", {}, h("button", { type: "button", onclick: () => fill(post) }, t("membership.edit")), " ",
              h("button", { type: "button", class: "critical", onclick: () => remove(post) }, t("membership.delete"))),
          ))))
      : h("p", { class: "subdued" }, t("membership.posts.empty"))),
    card(t("membership.posts.editor"), h("div", { class: "editor-grid" }, form, preview)),
  );
}

// -- members --------------------------------------------------------------------------------------

async function membersPage(page = 1, q = "") {
  const data = await api(`/api/admin/membership/members?page=${page}&q=${encodeURIComponent(q)}`);
  currency = data.currency;
  const search = h("form", { class: "search", role: "search" },
    h("label", { for: "member-q", class: "visually-hidden" }, t("membership.members.search")),
    input("search", q, { id: "member-q", placeholder: t("membership.members.search") }),
    h("button", { type: "submit" }, t("membership.members.search_button")));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    membersPage(1, search.querySelector("input").value);
  });
  const enrol = h("button", { type: "button", class: "primary" }, t("membership.members.enrol"));
  enrol.addEventListener("click", async () => {
    enrol.disabled = true;
    await api("/api/admin/membership/members/backfill", { method: "POST" });
    toast(t("membership.members.enrolled"));
    await membersPage(1, q);
  });
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => membersPage(page - 1, q) }, "←"),
    h("span", {}, t("membership.members.page", { page, pages: data.pages, total: num(data.total) })),
    h("button", { type: "button", disabled: page >= data.pages, onclick: () => membersPage(page + 1, q) }, "→"));
  root.replaceChildren(
    h("section", { class: "cards" },
      h("div", { class: "card stat" }, h("span", { class: "label" }, t("membership.members.count")),
        h("span", { class: "value" }, num(data.total))),
      h("div", { class: "card stat" }, h("span", { class: "label" }, t("membership.members.customers")),
        h("span", { class: "value" }, num(data.customers)))),
    card(null, search,
      data.total === 0 && !q ? h("p", { class: "subdued" }, t("membership.members.none"), " ", enrol) : null,
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ...["number", "name", "tier", "spend", "points"].map(
          (k) => h("th", {}, t(`membership.members.col.${k}`))))),
        h("tbody", {}, data.members.map((m) => h("tr", { "data-member": m.id },
          h("td", { class: "mono" }, h("a", { href: `/members/${m.id}${location.search}` }, m.member_number)),
          h("td", {}, m.name, h("div", { class: "subdued" }, m.email || "")),
          h("td", {}, m.tier ? h("span", { class: "tier", style: `--c:${m.tier_color}` }, m.tier) : "—"),
          h("td", { class: "num" }, money(m.spend)),
          h("td", { class: "num" }, num(m.points)),
        )))),
      pager),
  );
}

// What the recommender would show this member now, and why (issue 6).
async function recommendationsCard(id) {
  let data;
  try {
    data = await api(`/api/admin/recommendations/members/${id}?lang=${locale}`);
  } catch (error) {
    return card(t("recommendations.admin.member.title"), h("p", { class: "critical" }, error.message));
  }
  const kind = (k) => h("span", { class: `kind ${k}` }, t(`recommendations.kind.${k}`));
  const shown = data.recommendations.length
    ? h("table", { class: "table", "data-table": "recommendations" },
        h("thead", {}, h("tr", {}, h("th", {}, t("recommendations.admin.member.kind")),
          h("th", {}, t("recommendations.admin.member.product")), h("th", {}, t("recommendations.admin.member.reason")))),
        h("tbody", {}, data.recommendations.map((r) => h("tr", { "data-product": r.product_id },
          h("td", {}, kind(r.kind)), h("td", {}, r.title), h("td", {}, r.reason)))))
    : h("p", { class: "subdued" }, t("recommendations.admin.member.none"));
  const reorders = data.reorders.length
    ? h("table", { class: "table", "data-table": "reorders" },
        h("thead", {}, h("tr", {}, h("th", {}, t("recommendations.admin.member.product")),
          h("th", {}, t("recommendations.admin.member.last")), h("th", { class: "num" }, t("recommendations.admin.member.cycle")),
          h("th", {}, t("recommendations.admin.member.due")))),
        h("tbody", {}, data.reorders.map((r) => h("tr", {}, h("td", {}, r.title + (r.subscribed ? ` (${t("recommendations.admin.member.subscribed")})` : "")),
          h("td", {}, when(r.last_purchased_at)), h("td", { class: "num" }, num(Math.round(r.cycle_days))), h("td", {}, when(r.due_at))))))
    : null;
  return card(t("recommendations.admin.member.title"),
    h("p", { class: "subdued" }, data.computed_at
      ? t("recommendations.admin.member.computed", { date: when(data.computed_at) })
      : t("recommendations.admin.member.cold")),
    shown,
    reorders ? h("h3", {}, t("recommendations.admin.member.reorders")) : null,
    reorders);
}

async function memberPage(id) {
  const m = await api(`/api/admin/membership/members/${id}`);
  currency = m.currency;
  const adjust = h("form", { class: "form inline-form", "data-form": "adjust" },
    field("points", t("membership.field.points"), input("number", "", { required: true })),
    field("note", t("membership.field.note"), input("text", "", { maxlength: 255, required: true })),
    h("button", { class: "primary", type: "submit" }, t("membership.members.adjust")));
  adjust.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`/api/admin/membership/members/${id}/points`, { method: "POST", body: values(adjust) });
      toast(t("membership.saved"));
      await memberPage(id);
    } catch (error) {
      showErrors(adjust, error);
    }
  });
  const stat = (label, value, extra) =>
    h("div", { class: "card stat" }, h("span", { class: "label" }, label), h("span", { class: "value" }, value), extra || null);
  const tableOf = (cols, rows) => h("table", { class: "table" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))), h("tbody", {}, rows));
  root.replaceChildren(
    h("p", {}, h("a", { href: `/members${location.search}` }, `← ${t("membership.members.title")}`)),
    h("h2", { class: "member-name" }, m.name, " ", h("span", { class: "mono subdued" }, m.member_number)),
    h("section", { class: "cards" },
      stat(t("membership.members.col.tier"), m.tier || "—",
        m.next_tier ? h("span", { class: "subdued" }, t("membership.members.to_next", { amount: money(m.remaining), tier: m.next_tier })) : null),
      stat(t("membership.members.col.spend"), money(m.spend)),
      stat(t("membership.members.col.points"), num(m.points),
        m.expiring ? h("span", { class: "subdued" }, t("membership.members.expiring", { points: num(m.expiring.points), date: when(m.expiring.at) })) : null),
      stat(t("membership.members.line"), m.line.linked ? (m.line.display_name || "✓") : t("membership.members.not_linked"),
        m.line.priority_support ? h("span", { class: "badge" }, t("membership.members.priority")) : null)),
    card(t("membership.members.ledger"), adjust, m.ledger.length
      ? tableOf([t("membership.members.col.date"), t("membership.members.col.kind"), t("membership.field.note"), t("membership.field.points")],
          m.ledger.map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, t(`membership.kind_entry.${e.kind}`)),
            h("td", {}, e.note), h("td", { class: `num ${e.delta < 0 ? "critical" : ""}` }, `${e.delta > 0 ? "+" : ""}${num(e.delta)}`))))
      : h("p", { class: "subdued" }, t("membership.members.no_ledger"))),
    card(t("membership.members.coupons"), m.coupons.length
      ? tableOf([t("membership.coupons.col.title"), t("membership.members.col.code"), t("membership.coupons.col.status"), t("membership.coupons.col.revenue")],
          m.coupons.map((c) => h("tr", {}, h("td", {}, c.title), h("td", { class: "mono" }, c.code),
            h("td", {}, t(`membership.coupon_state.${c.state}`)), h("td", { class: "num" }, c.order_total ? money(c.order_total) : "—"))))
      : h("p", { class: "subdued" }, t("membership.members.no_coupons"))),
    await recommendationsCard(id),
    card(t("membership.members.orders"), m.orders.length
      ? tableOf([t("membership.members.col.order"), t("membership.members.col.date"), t("membership.members.col.total")],
          m.orders.map((o) => h("tr", { class: o.cancelled ? "cancelled" : "" }, h("td", {}, o.name),
            h("td", {}, when(o.processed_at)), h("td", { class: "num" }, money(o.total - o.refunded)))))
      : h("p", { class: "subdued" }, t("membership.members.no_orders"))),
  );
}

async function render() {
  const page = root.dataset.page;
  const id = Number(root.dataset.id || 0);
  try {
    if (page === "membership") await tiersPage();
    else if (page === "coupons") await couponsPage();
    else if (page === "subscriber_posts") await postsPage();
    else if (page === "members" && id) await memberPage(id);
    else await membersPage();
    root.dataset.ready = "true";
  } catch (error) {
    root.replaceChildren(h("p", { class: "critical", role: "alert" }, t("common.error")));
    toast(error.message || t("common.error"), true);
  }
}

render();
