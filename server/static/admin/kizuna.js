// The admin's one client module: session tokens, the JSON API, toasts and small SVG charts.
// Data from the API is only ever put into the page with textContent, never as HTML.

export async function idToken() {
  // Embedded in Shopify, App Bridge issues the session token; in demo mode the local sign-in does.
  if (window.shopify && typeof window.shopify.idToken === "function") return window.shopify.idToken();
  const response = await fetch("/demo/session-token", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`session token: ${response.status}`);
  return (await response.json()).token;
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${await idToken()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = new Error((data && data.message) || `HTTP ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

export function formatMoney(minor, currency, locale) {
  const digits = currency === "JPY" ? 0 : 2;
  return new Intl.NumberFormat(locale === "en" ? "en-US" : "ja-JP", {
    style: "currency", currency, maximumFractionDigits: digits,
  }).format(minor / 10 ** digits);
}

export function toast(message, isError = false) {
  if (window.shopify && window.shopify.toast) return window.shopify.toast.show(message, { isError });
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.toggle("error", isError);
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, 4000);
}

// An element with attributes (on* = listeners, true = present) and children (text or nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// A bar chart of [{label, value, title}], sized to its container.
export function barChart(container, points, formatValue = String) {
  container.replaceChildren();
  const width = 640, height = 220, pad = { top: 16, right: 8, bottom: 28, left: 72 };
  const max = Math.max(1, ...points.map(p => p.value));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "bar-chart" });
  const innerW = width - pad.left - pad.right, innerH = height - pad.top - pad.bottom;
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.top + innerH * (1 - fraction);
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: pad.left - 8, y: y + 4, "text-anchor": "end", class: "axis" });
    label.textContent = formatValue(Math.round(max * fraction));
    chart.append(label);
  }
  const step = innerW / Math.max(1, points.length);
  points.forEach((p, i) => {
    const h = (p.value / max) * innerH;
    const bar = svg("rect", {
      x: pad.left + i * step + step * 0.15, y: pad.top + innerH - h,
      width: step * 0.7, height: Math.max(h, 0), rx: 3, class: "bar",
    });
    const title = svg("title");
    title.textContent = p.title || `${p.label}: ${formatValue(p.value)}`;
    bar.append(title);
    chart.append(bar);
    const label = svg("text", { x: pad.left + i * step + step / 2, y: height - 8, "text-anchor": "middle", class: "axis" });
    label.textContent = p.label;
    chart.append(label);
  });
  container.append(chart);
}

// The onboarding checklist on Home: live status from /api/admin/onboarding, refreshed every few
// seconds while the history import runs.
export async function renderChecklist(section, notice) {
  let timer = null;
  async function refresh() {
    let data;
    try {
      data = await api("/api/admin/onboarding");
    } catch (error) {
      toast(error.message, true);
      return;
    }
    let done = 0;
    for (const step of data.steps) {
      const item = section.querySelector(`[data-step="${step.key}"]`);
      if (!item) continue;
      item.dataset.state = step.done ? "done" : "pending";
      const badge = item.querySelector(".step-status");
      badge.textContent = step.done ? badge.dataset.done : badge.dataset.pending;
      if (step.done) done += 1;
      const bar = item.querySelector(".progress");
      if (bar && step.percent !== undefined && step.percent !== null) {
        bar.setAttribute("aria-valuenow", String(step.percent));
        bar.querySelector(".progress-fill").style.width = `${step.percent}%`;
        item.querySelector(".step-help").textContent = step.detail || item.querySelector(".step-help").textContent;
      }
    }
    section.querySelector("[data-summary]").textContent = `${done} / ${data.steps.length}`;
    if (notice && data.privacy_requests_waiting > 0) {
      notice.querySelector("[data-text]").textContent = data.privacy_notice;
      notice.hidden = false;
    }
    clearTimeout(timer);
    if (data.steps.some(s => s.key === "history" && s.running)) timer = setTimeout(refresh, 3000);
  }
  await refresh();
}

// Download an authenticated JSON endpoint as a file (the session token cannot ride on a link).
export async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${await idToken()}` } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url; a.download = filename;
  document.body.append(a); a.click(); a.remove();
  URL.revokeObjectURL(url);
}
