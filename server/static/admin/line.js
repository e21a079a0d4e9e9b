// The LINE settings page. Data from /api/admin/line; text from the page (Japanese or English).
// Everything from the API goes into the page with textContent, never as HTML.
import { api, idToken, toast, barChart } from "./kizuna.js";

const T = JSON.parse(document.getElementById("line-text").textContent);
const locale = document.body.dataset.locale;
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n ?? 0).toLocaleString(locale === "en" ? "en-US" : "ja-JP");
const when = (iso) => (iso ? new Date(iso).toLocaleString(locale === "en" ? "en-US" : "ja-JP") : "—");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child ?? "");
  return node;
}

function problem(error) {
  toast(error.message || T.error, true);
}

// Channel --------------------------------------------------------------------------------------

let channel = null;

function showChannel(data) {
  channel = data;
  const form = $("channel-form");
  for (const name of ["channel_id", "login_channel_id", "liff_id"]) form.elements[name].value = data[name] || "";
  for (const input of form.querySelectorAll("[data-secret]")) {
    input.value = "";
    input.placeholder = data[input.name] || T.not_set;
  }
  const mode = $("line-mode");
  mode.dataset.mode = data.mode;
  mode.textContent = data.mode === "outbox" ? T.mode_outbox : T.mode_api;
  $("webhook-url").textContent = data.webhook_url || "—";
  $("webhook-status").textContent = data.webhook_verified_at ? `${T.verified} ${when(data.webhook_verified_at)}` : T.not_verified;
  const bot = $("bot-info");
  bot.hidden = !data.bot || !data.bot.display_name;
  if (!bot.hidden) bot.textContent = `${T.connected_as} ${data.bot.display_name} (${data.bot.basic_id})`;
  const rules = $("rules-form");
  for (const [k, v] of Object.entries(data.rules || {})) if (rules.elements[k]) rules.elements[k].value = v;
  showQuota(data.quota);
}

$("channel-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = {};
  for (const input of form.querySelectorAll("input")) {
    const value = input.value.trim();
    if (input.dataset.secret !== undefined && !value) continue; // empty secret: keep the stored one
    body[input.name] = value;
  }
  try {
    const data = await api("/api/admin/line/channel", { method: "PUT", body });
    showChannel(data);
    toast(T.saved);
    loadDeliveries();
  } catch (error) { problem(error); }
});

$("rules-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const rules = {
    quiet_hours_start: f.quiet_hours_start.value,
    quiet_hours_end: f.quiet_hours_end.value,
    frequency_cap: Number(f.frequency_cap.value),
    frequency_cap_days: Number(f.frequency_cap_days.value),
    link_incentive_points: Number(f.link_incentive_points.value),
  };
  try {
    showChannel(await api("/api/admin/line/channel", { method: "PUT", body: { rules } }));
    toast(T.saved);
  } catch (error) { problem(error); }
});

$("copy-webhook").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText($("webhook-url").textContent); toast(T.copied); }
  catch { toast(T.copy_failed, true); }
});

$("set-webhook").addEventListener("click", async () => {
  try { await api("/api/admin/line/channel/webhook", { method: "POST" }); toast(T.webhook_set); }
  catch (error) { problem(error); }
});

$("test-webhook").addEventListener("click", async () => {
  try {
    const r = await api("/api/admin/line/channel/webhook/test", { method: "POST" });
    const text = r.success ? T.webhook_ok : `${T.webhook_failed}: ${r.reason} ${r.detail || ""}`;
    $("webhook-status").textContent = text;
    toast(text, !r.success);
  } catch (error) { problem(error); }
});

// Quota ----------------------------------------------------------------------------------------

function showQuota(q) {
  const figure = $("quota-chart");
  figure.replaceChildren();
  if (!q || q.used == null) { $("quota-text").textContent = T.quota_unknown; return; }
  if (q.limit == null) {
    $("quota-text").textContent = `${T.quota_unlimited} · ${T.quota_used} ${fmt(q.used)}`;
    return;
  }
  const share = Math.min(1, q.used / Math.max(1, q.limit));
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", "0 0 600 36");
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "quota-bar");
  const back = document.createElementNS(svgNS, "rect");
  Object.entries({ x: 0, y: 6, width: 600, height: 24, rx: 6, class: "quota-back" }).forEach(([k, v]) => back.setAttribute(k, v));
  const used = document.createElementNS(svgNS, "rect");
  Object.entries({ x: 0, y: 6, width: 600 * share, height: 24, rx: 6, class: share > 0.9 ? "quota-used danger" : "quota-used" }).forEach(([k, v]) => used.setAttribute(k, v));
  const title = document.createElementNS(svgNS, "title");
  title.textContent = `${fmt(q.used)} / ${fmt(q.limit)}`;
  svg.append(back, used, title);
  figure.append(svg);
  $("quota-text").textContent = `${T.quota_used} ${fmt(q.used)} / ${fmt(q.limit)} (${T.quota_remaining} ${fmt(Math.max(0, q.limit - q.used))})`;
}

$("refresh-quota").addEventListener("click", async () => {
  try { showQuota(await api("/api/admin/line/quota")); } catch (error) { problem(error); }
});

// Deliveries -----------------------------------------------------------------------------------

async function loadDeliveries() {
  const status = $("delivery-status").value;
  try {
    const [list, summary] = await Promise.all([
      api(`/api/admin/line/deliveries${status ? `?status=${status}` : ""}`),
      api("/api/admin/line/deliveries/summary?days=14"),
    ]);
    const body = $("delivery-table").querySelector("tbody");
    body.replaceChildren();
    for (const d of list.deliveries) {
      const note = d.error || (d.deferred_reason ? `${T["reason_" + d.deferred_reason] || d.deferred_reason} → ${when(d.due_at)}` : "");
      body.append(el("tr", { "data-status": d.status },
        el("td", {}, when(d.created_at)),
        el("td", {}, d.friend || `#${d.line_user_id}`),
        el("td", { class: "preview" }, d.preview),
        el("td", {}, T["kind_" + d.kind] || d.kind),
        el("td", {}, el("span", { class: `pill ${d.status}` }, T["status_" + d.status] || d.status)),
        el("td", { class: "note" }, note)));
    }
    $("delivery-empty").hidden = list.deliveries.length > 0;
    barChart($("delivery-chart"), summary.daily.map((day) => {
      const total = Object.entries(day).filter(([k]) => k !== "date").reduce((a, [, v]) => a + v, 0);
      const parts = Object.entries(day).filter(([k]) => k !== "date").map(([k, v]) => `${T["status_" + k] || k} ${fmt(v)}`).join(" / ");
      return { label: day.date.slice(5).replace("-", "/"), value: total, title: `${day.date}: ${parts}` };
    }), fmt);
  } catch (error) { problem(error); }
}

$("delivery-status").addEventListener("change", loadDeliveries);
$("release-held").addEventListener("click", async () => {
  try {
    const r = await api("/api/admin/line/deliveries/release", { method: "POST" });
    toast(`${T.released} ${fmt(r.released)}`);
    loadDeliveries();
  } catch (error) { problem(error); }
});

// Rich menus -----------------------------------------------------------------------------------

async function menuImage(state) {
  const response = await fetch(`/api/admin/line/rich-menus/${state}/image`, { headers: { Authorization: `Bearer ${await idToken()}` } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return URL.createObjectURL(await response.blob());
}

async function uploadImage(state, file) {
  const response = await fetch(`/api/admin/line/rich-menus/${state}/image`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${await idToken()}`, "Content-Type": file.type || "application/octet-stream" },
    body: file,
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  return data;
}

async function showMenus(menus) {
  const box = $("menus");
  box.replaceChildren();
  for (const m of menus) {
    const img = el("img", { alt: T["menu_" + m.state], class: "menu-image" });
    const input = el("input", { type: "file", accept: "image/png,image/jpeg", "data-state": m.state });
    input.addEventListener("change", async () => {
      if (!input.files.length) return;
      try { await showMenus((await uploadImage(m.state, input.files[0])).menus); toast(T.image_replaced); }
      catch (error) { problem(error); }
    });
    const reset = el("button", { type: "button", onclick: async () => {
      try { await showMenus((await api(`/api/admin/line/rich-menus/${m.state}/image`, { method: "DELETE" })).menus); }
      catch (error) { problem(error); }
    } }, T.image_reset);
    reset.hidden = !m.custom_image;
    box.append(el("figure", { class: "menu", "data-state": m.state },
      img,
      el("figcaption", {}, el("strong", {}, T["menu_" + m.state]), " ",
        el("span", { class: "status" }, m.line_rich_menu_id ? `${T.synced} ${when(m.synced_at)}` : T.not_synced),
        m.error ? el("span", { class: "error" }, m.error) : ""),
      el("label", { class: "upload" }, T.image_replace, input), reset));
    menuImage(m.state).then((url) => { img.src = url; }).catch(() => {});
  }
}

$("sync-menus").addEventListener("click", async () => {
  try { await showMenus((await api("/api/admin/line/rich-menus/sync", { method: "POST" })).menus); toast(T.synced); }
  catch (error) { problem(error); }
});

// Friends --------------------------------------------------------------------------------------

async function loadFriends() {
  const data = await api("/api/admin/line/friends?linked=1");
  $("friends-stats").textContent = `${T.incentives} ${fmt(data.incentives_granted)} (${fmt(data.incentive_points)} pt)`;
  const body = $("friends-table").querySelector("tbody");
  body.replaceChildren();
  for (const f of data.friends) {
    const button = el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(T.unlink_confirm)) return;
      try { await api(`/api/admin/line/friends/${f.id}/link`, { method: "DELETE" }); toast(T.unlinked); loadFriends(); }
      catch (error) { problem(error); }
    } }, T.unlink);
    body.append(el("tr", {}, el("td", {}, f.display_name || `#${f.id}`), el("td", {}, f.customer ? f.customer.name : "—"),
      el("td", {}, when(f.linked_at)), el("td", {}, button)));
  }
  $("friends-empty").hidden = data.friends.length > 0;
}

try {
  showChannel(await api("/api/admin/line/channel"));
  await Promise.all([loadDeliveries(), api("/api/admin/line/rich-menus").then((r) => showMenus(r.menus)), loadFriends()]);
} catch (error) {
  problem(error);
}
