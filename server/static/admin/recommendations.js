// The Recommendations admin page (issue 6): when the model last trained, its offline scores
// (a chart per setting), training history and the products never recommended.
// Data from the API reaches the page only as text (textContent), never as HTML.
import { api, barChart, toast } from "./kizuna.js";

const root = document.getElementById("kz-recs");
const S = JSON.parse(document.getElementById("kz-recs-strings").textContent);
const locale = document.body.dataset.locale || "ja";
const t = (key, values = {}) =>
  (S[key] || key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
const tag = locale === "en" ? "en-US" : "ja-JP";
const num = (n, digits = 0) =>
  new Intl.NumberFormat(tag, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n || 0);
const when = (iso) =>
  iso ? new Intl.DateTimeFormat(tag, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso)) : "—";
const SVG = "http://www.w3.org/2000/svg";
const METRICS = ["ndcg@10", "precision@10", "recall@10", "map@10", "coverage"];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return el;
}

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const card = (title, ...children) => h("section", { class: "card" }, h("h2", {}, title), ...children);
const algorithmName = (name) => S[`recommendations.admin.algorithm.${name}`] || name;

// Horizontal bars: NDCG@10 per algorithm, both settings side by side; production outlined.
function scoreChart(evaluation, production) {
  const names = Object.keys(evaluation.all || {}).filter((n) => n !== "production");
  const max = Math.max(0.01, ...names.flatMap((n) => ["all", "new"].map((x) => evaluation[x]?.[n]?.["ndcg@10"] || 0)));
  const row = 34, left = 170, width = 640, barW = width - left - 60;
  const chart = s("svg", { viewBox: `0 0 ${width} ${names.length * row + 10}`, role: "img", class: "score-chart",
    "aria-label": t("recommendations.admin.scores.chart") });
  names.forEach((name, i) => {
    const y = i * row + 4;
    chart.append(s("text", { x: left - 8, y: y + 18, "text-anchor": "end", class: "label" },
      algorithmName(name) + (name === production ? " ★" : "")));
    ["all", "new"].forEach((setting, j) => {
      const value = evaluation[setting]?.[name]?.["ndcg@10"] || 0;
      const bar = s("rect", { x: left, y: y + j * 13, height: 11, rx: 2, width: Math.max(1, (value / max) * barW),
        class: `bar-${setting}${name === production ? " bar-production" : ""}` });
      bar.append(s("title", {}, `${algorithmName(name)} · ${t(`recommendations.admin.setting.${setting}`)}: ${value.toFixed(4)}`));
      chart.append(bar, s("text", { x: left + (value / max) * barW + 4, y: y + j * 13 + 10, class: "value" }, value.toFixed(3)));
    });
  });
  return h("figure", { class: "chart", "data-chart": "scores" }, chart);
}

function scoresTable(evaluation, production) {
  const names = Object.keys(evaluation.all || {}).filter((n) => n !== "production");
  return h("table", { class: "table", "data-table": "scores" },
    h("thead", {}, h("tr", {}, h("th", {}, t("recommendations.admin.col.algorithm")),
      h("th", {}, t("recommendations.admin.col.setting")),
      ...METRICS.map((m) => h("th", { class: "num" }, m.toUpperCase().replace("@", "@"))))),
    h("tbody", {}, names.flatMap((name) => ["all", "new"].map((setting) => {
      const row = evaluation[setting]?.[name] || {};
      return h("tr", { class: name === production ? "production" : "" },
        h("td", {}, algorithmName(name) + (name === production ? " ★" : "")),
        h("td", {}, t(`recommendations.admin.setting.${setting}`)),
        ...METRICS.map((m) => h("td", { class: "num" }, row[m] === undefined ? "—" : num(row[m], 4))));
    }))));
}

async function exclusions(data) {
  const list = h("ul", { class: "excluded", "data-list": "excluded" });
  let ids = data.excluded.map((p) => p.id);
  const titles = Object.fromEntries(data.excluded.map((p) => [p.id, p.title]));
  async function save(next) {
    try {
      const result = await api("/api/admin/recommendations/exclusions", { method: "PUT", body: { product_ids: next } });
      ids = result.excluded;
      draw();
      toast(t("recommendations.admin.saved"));
    } catch (error) {
      toast(error.message, true);
    }
  }
  function draw() {
    list.replaceChildren(...(ids.length ? ids.map((id) => h("li", {}, h("span", {}, titles[id] || `#${id}`),
      h("button", { type: "button", onclick: () => save(ids.filter((x) => x !== id)) }, t("recommendations.admin.exclusions.remove"))))
      : [h("li", { class: "subdued" }, t("recommendations.admin.exclusions.none"))]));
  }
  draw();
  const input = h("input", { type: "search", "aria-label": t("recommendations.admin.exclusions.search"),
    placeholder: t("recommendations.admin.exclusions.search") });
  const results = h("ul", { class: "search-results" });
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (!q) { results.replaceChildren(); return; }
      try {
        const found = await api(`/api/admin/recommendations/products?q=${encodeURIComponent(q)}`);
        results.replaceChildren(...found.products.filter((p) => !ids.includes(p.id)).map((p) => {
          titles[p.id] = p.title;
          return h("li", {}, h("button", { type: "button", class: "link", onclick: () => { results.replaceChildren(); input.value = ""; save([...ids, p.id]); } },
            `${p.title}`));
        }));
      } catch (error) { toast(error.message, true); }
    }, 250);
  });
  return card(t("recommendations.admin.exclusions.title"), h("p", { class: "help" }, t("recommendations.admin.exclusions.help")),
    list, h("div", { class: "search" }, input), results);
}

async function render() {
  let data;
  try {
    data = await api("/api/admin/recommendations");
  } catch (error) {
    root.replaceChildren(h("p", { class: "critical", role: "alert" }, t("common.error")));
    toast(error.message, true);
    return;
  }
  const m = data.model;
  const stat = (label, value) => h("div", { class: "card stat" }, h("span", { class: "label" }, label), h("span", { class: "value" }, value));
  const train = h("button", { class: "primary", type: "button", "data-action": "train" }, t("recommendations.admin.train"));
  train.addEventListener("click", async () => {
    train.disabled = true;
    try {
      await api("/api/admin/recommendations/train", { method: "POST" });
      toast(t("recommendations.admin.train_queued"));
      setTimeout(render, 2000);
    } catch (error) { toast(error.message, true); train.disabled = false; }
  });
  const model = card(t("recommendations.admin.model.title"),
    m ? h("section", { class: "cards", "data-model": m.id },
      stat(t("recommendations.admin.model.trained_at"), when(m.trained_at)),
      stat(t("recommendations.admin.model.algorithm"), algorithmName(m.algorithm)),
      stat(t("recommendations.admin.model.customers"), num(m.customers)),
      stat(t("recommendations.admin.model.lines"), num(m.lines)),
      stat(t("recommendations.admin.model.seconds"), `${num(m.seconds, 1)} s`))
      : h("p", { class: "subdued", "data-empty": "model" }, t("recommendations.admin.model.none")),
    h("p", {}, train));
  const e = data.evaluation;
  const production = (e && e.meta && e.meta.production) || data.production.algorithm;
  const scores = card(t("recommendations.admin.scores.title"),
    e ? [h("p", { class: "help" }, t("recommendations.admin.scores.help", {
          date: when(data.evaluated_at), customers: num(e.meta.customers), lines: num(e.meta.lines),
          algorithm: algorithmName(production) })),
        h("div", { class: "legend" }, h("span", {}, h("i", { class: "all" }), t("recommendations.admin.setting.all")),
          h("span", {}, h("i", { class: "new" }), t("recommendations.admin.setting.new"))),
        scoreChart(e, production), scoresTable(e, production)]
      : h("p", { class: "subdued", "data-empty": "scores" }, t("recommendations.admin.scores.none", { shop: root.dataset.shop })));
  const history = card(t("recommendations.admin.history.title"),
    data.runs.length ? h("figure", { class: "chart", "data-chart": "runs", "aria-label": t("recommendations.admin.history.title") })
      : h("p", { class: "subdued" }, t("recommendations.admin.model.none")));
  root.replaceChildren(model, scores, history, await exclusions(data));
  if (data.runs.length) {
    barChart(history.querySelector("figure"), data.runs.map((r) => ({
      label: new Intl.DateTimeFormat(tag, { month: "numeric", day: "numeric" }).format(new Date(r.trained_at)),
      value: r.customers,
      title: `${when(r.trained_at)}: ${num(r.customers)} ${t("recommendations.admin.model.customers")} · ${num(r.seconds, 1)} s`,
    })), num);
  }
  root.dataset.ready = "true";
}

render();
