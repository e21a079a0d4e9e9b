// Shared by the marketing pages (issue 7): the page's UI strings, formatting in the page's
// locale, a small element builder and the confidence-interval chart. API data reaches the page
// only as text (textContent) or attributes, never as HTML.

import { h, svg } from "./kizuna.js";

export { h, svg };

const S = JSON.parse(document.getElementById("kz-marketing-strings").textContent);
export const locale = document.body.dataset.locale || "ja";
const intl = locale === "en" ? "en-US" : "ja-JP";

export const t = (key, values = {}) =>
  (S[key] || key).replace(/\{(\w+)\}/g, (all, name) => String(values[name] ?? all));
export const num = (n) => new Intl.NumberFormat(intl).format(n || 0);
export const pct = (x, digits = 1) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(digits)}%`);
export const points = (x) => (x === null || x === undefined ? "—" : `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}pt`);
export const withParams = (path) => path + location.search;


export const card = (title, ...children) => h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
export const select = (options, value, attrs = {}) =>
  h("select", attrs, ...options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, label)));
export const tile = (label, value, attrs = {}) => h("div", { class: `mk-tile ${attrs.warn ? "warn" : ""}`, "data-tile": attrs.key || null },
  h("div", { class: "label" }, label), h("div", { class: "value" }, value));
export const field = (path, label, control, help) =>
  h("div", { class: "field", "data-field": path }, h("label", {}, label, control),
    help ? h("p", { class: "help mk-muted" }, help) : null, h("p", { class: "field-error", hidden: true }));


// A difference with its confidence interval on a line through zero.
export function intervalChart(container, interval, format) {
  container.replaceChildren();
  const width = 640, height = 70, pad = 24;
  const lo = Math.min(interval.low, 0), hi = Math.max(interval.high, 0);
  const span = hi - lo || 1;
  const x = (v) => pad + ((v - lo + span * 0.1) / (span * 1.2)) * (width - 2 * pad);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "interval-chart" });
  chart.append(svg("line", { x1: x(0), x2: x(0), y1: 8, y2: height - 20, class: "zero" }));
  chart.append(svg("line", { x1: x(interval.low), x2: x(interval.high), y1: 30, y2: 30, class: "ci" }));
  chart.append(svg("circle", { cx: x(interval.estimate), cy: 30, r: 6, class: "point" }));
  for (const [value, anchor] of [[interval.low, "end"], [interval.high, "start"], [0, "middle"]]) {
    const label = svg("text", { x: x(value) + (anchor === "end" ? -6 : anchor === "start" ? 6 : 0), y: anchor === "middle" ? height - 4 : 34, "text-anchor": anchor, class: "axis" });
    label.textContent = format(value);
    chart.append(label);
  }
  const title = svg("title");
  title.textContent = `${format(interval.estimate)} [${format(interval.low)}, ${format(interval.high)}]`;
  chart.append(title);
  container.append(chart);
}

// Field errors of a 400 ({details: {fields: {"steps[0].message.text": "..."}}}) shown next to
// the controls with that data-field (or, for a nested path, its first two parts' field); true
// when at least one found its place.
export function showFieldErrors(form, failure) {
  const fields = (failure.data && failure.data.details && failure.data.details.fields) || {};
  const boxFor = (path) => form.querySelector(`[data-field="${CSS.escape(path)}"]`);
  let shown = false;
  for (const [path, message] of Object.entries(fields)) {
    const box = boxFor(path) || boxFor(path.split(".").slice(0, 2).join("."));
    if (!box) continue;
    const slot = box.querySelector(".field-error");
    slot.textContent = message;
    slot.hidden = false;
    const control = box.querySelector("input, textarea, select");
    if (control) control.setAttribute("aria-invalid", "true");
    shown = true;
  }
  return shown;
}

export function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => { el.hidden = true; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}
