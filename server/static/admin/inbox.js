// The support inbox: conversation list, the open conversation, the customer panel. Polls the
// admin API so new messages appear within a few seconds. Customer text only ever enters the page
// through textContent (the `el` helper), never as HTML.
import { api, formatMoney, idToken, toast } from "./kizuna.js";

const root = document.getElementById("inbox");
const T = JSON.parse(document.getElementById("inbox-text").textContent);
const locale = document.body.dataset.locale;
const POLL_MS = Number(root.dataset.pollMs) || 1500;

const state = {
  status: "open", assignee: "any", q: "", selected: null, lastId: 0, me: null,
  staff: [], mode: "reply", currency: "JPY", conversation: null, pickerKind: null,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const fmtTime = (iso) => new Date(iso).toLocaleString(locale === "en" ? "en-US" : "ja-JP", {
  month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fmtDate = (iso) => new Date(iso).toLocaleDateString(locale === "en" ? "en-US" : "ja-JP");
const money = (minor) => formatMoney(minor, state.currency, locale);
const staffName = (id) => (id === state.me ? T.me : (state.staff.find((s) => s.id === id)?.name || `${T.staff} ${id}`));

// ---------------------------------------------------------------- list

async function loadList() {
  const params = new URLSearchParams({ status: state.status, assignee: state.assignee });
  if (state.q) params.set("q", state.q);
  const data = await api(`/api/admin/inbox/conversations?${params}`);
  state.me = data.me;
  state.currency = data.currency;
  for (const [key, value] of Object.entries(data.counts)) {
    for (const badge of root.querySelectorAll(`[data-count="${key}"]`)) badge.textContent = value;
  }
  const list = $("conversation-list");
  list.replaceChildren(...data.conversations.map(listItem));
  $("list-empty").hidden = data.conversations.length > 0;
}

function listItem(c) {
  const last = c.last_message;
  return el("li", {},
    el("button", {
      type: "button", class: `conversation${c.id === state.selected ? " selected" : ""}${c.unread ? " unread" : ""}`,
      "data-id": c.id, "aria-current": c.id === state.selected ? "true" : null,
      onclick: () => openConversation(c.id),
    },
    el("span", { class: "row" },
      el("strong", { class: "name", text: c.customer.name }),
      c.priority ? el("span", { class: "pill priority", text: c.priority === "subscriber" ? T.subscriber : T.priority }) : null,
      c.unread ? el("span", { class: "pill unread-count", "aria-label": T.unread, text: c.unread }) : null,
      el("time", { class: "when", datetime: c.last_message_at, text: c.last_message_at ? fmtTime(c.last_message_at) : "" })),
    el("span", { class: "preview", text: last ? `${{ customer: "", bot: `${T.bot}: `, staff: "↩ " }[last.sender] ?? ""}${last.preview}` : "" }),
    c.assignee ? el("span", { class: "assignee", text: `${T.assigned_to}: ${staffName(c.assignee)}` }) : null));
}

// ---------------------------------------------------------------- conversation

async function openConversation(id) {
  state.selected = id;
  const data = await api(`/api/admin/inbox/conversations/${id}`);
  state.conversation = data.conversation;
  state.staff = data.staff;
  state.lastId = 0;
  $("thread").hidden = false;
  $("customer").hidden = false;
  $("thread-placeholder").hidden = true;
  $("messages").replaceChildren();
  appendMessages(data.messages);
  renderHeader();
  renderCustomer(data.customer);
  if (data.conversation.unread) await api(`/api/admin/inbox/conversations/${id}/read`, { method: "POST" });
  await loadList();
  $("composer-text").focus();
}

function renderHeader() {
  const c = state.conversation;
  $("thread-name").textContent = c.customer.name;
  const select = $("assign-select");
  const options = [el("option", { value: "", text: T.unassigned })];
  const ids = new Set([state.me, ...state.staff.map((s) => s.id)]);
  for (const id of ids) options.push(el("option", { value: id, text: staffName(id) }));
  select.replaceChildren(...options);
  select.value = c.assignee || "";
  $("status-select").value = c.status;
  $("resolve-button").disabled = c.status === "resolved";
}

function messageBody(m) {
  switch (m.type) {
    case "text": return el("p", { class: "text", text: m.text });
    case "sticker": return el("p", { class: "media", text: `[${T.sticker}]` });
    case "image": return imageBody(m);
    case "video": return el("p", { class: "media", text: `[${T.video}]` });
    case "audio": return el("p", { class: "media", text: `[${T.audio}]` });
    case "file": return el("p", { class: "media", text: `[${T.file}] ${m.text || ""}` });
    case "location": return el("p", { class: "media", text: `[${T.location}] ${m.text || ""}` });
    case "product": return el("div", { class: "product-card" },
      el("strong", { text: m.card?.title || "" }), el("span", { text: m.card?.price != null ? money(m.card.price) : "" }),
      m.text ? el("p", { class: "text", text: m.text }) : null);
    default: return el("p", { class: "media", text: m.text || m.type });
  }
}

// The picture comes through the admin API (it needs the session token), as a blob URL.
function imageBody(m) {
  const box = el("p", { class: "media", text: `[${T.image}]` });
  if (m.sender !== "customer") return box;
  const img = el("img", { class: "photo", alt: T.image });
  idToken().then((token) => fetch(`/api/admin/inbox/messages/${m.id}/image`, { headers: { Authorization: `Bearer ${token}` } }))
    .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(String(response.status)))))
    .then((blob) => { img.src = URL.createObjectURL(blob); box.replaceWith(img); })
    .catch(() => { box.textContent = `[${T.image_unavailable}]`; });
  return box;
}

function messageItem(m) {
  const who = m.sender === "customer" ? state.conversation.customer.name
    : m.sender === "bot" ? T.bot : m.sender === "note" ? `${T.note} · ${staffName(m.staff_id)}` : staffName(m.staff_id);
  return el("li", { class: `message ${m.sender}`, "data-id": m.id, "data-sender": m.sender },
    el("div", { class: "meta" },
      m.sender === "bot" ? el("span", { class: "pill bot", text: "BOT" }) : null,
      el("span", { class: "who", text: who }),
      el("time", { datetime: m.created_at, text: fmtTime(m.created_at) }),
      m.delivery ? el("span", { class: `pill delivery ${m.delivery}`, "data-delivery": m.delivery, text: T[`delivery_${m.delivery}`] || m.delivery }) : null,
      m.bot && m.bot.faq_question ? el("span", { class: "bot-match", text: `${T.matched}: ${m.bot.faq_question} (${Math.round(m.bot.score * 100)}%)` }) : null),
    messageBody(m));
}

function appendMessages(messages) {
  const list = $("messages");
  for (const m of messages) {
    const existing = list.querySelector(`[data-id="${m.id}"]`);
    if (existing) existing.replaceWith(messageItem(m));
    else list.append(messageItem(m));
    if (typeof m.id === "number") state.lastId = Math.max(state.lastId, m.id);  // notes are "note-N"
  }
  if (messages.length) list.scrollTop = list.scrollHeight;
}

// ---------------------------------------------------------------- customer panel

function section(title, ...children) {
  return el("section", { class: "panel-section" }, el("h3", { text: title }), ...children);
}

function scenarioItem(s) {
  const detail = s.holdout
    ? T.scenario_holdout
    : [T.scenario_steps.replace("{sent}", s.steps_sent).replace("{total}", s.steps_total),
       s.next_due_at ? `${T.scenario_next}: ${[s.next_step, fmtTime(s.next_due_at)].filter(Boolean).join(" · ")}` : null]
        .filter(Boolean).join(" · ");
  return el("li", {}, el("strong", { text: s.name }), el("div", { class: "subdued", text: detail }));
}

function renderCustomer(c) {
  const panel = $("customer");
  const parts = [];
  if (!c.linked) {
    parts.push(el("h2", { text: c.line.display_name || T.unknown }));
    parts.push(el("p", { class: "subdued", text: T.not_linked }));
    parts.push(el("dl", {},
      el("dt", { text: T.line_language }), el("dd", { text: c.line.language || "—" }),
      el("dt", { text: T.friend_since }), el("dd", { text: c.line.followed_at ? fmtDate(c.line.followed_at) : "—" })));
    parts.push(el("button", { type: "button", id: "link-invite", class: "primary", text: T.send_link_invitation, onclick: sendLinkInvitation }));
    if (c.segment) parts.push(section(T.segment, el("p", { text: c.segment })));
    if (c.survey?.length) parts.push(section(T.survey, el("dl", {}, c.survey.flatMap((a) => [el("dt", { text: a.question }), el("dd", { text: a.answer })]))));
  } else {
    parts.push(el("h2", { text: c.name }));
    parts.push(el("p", { class: "subdued", text: c.email || "" }));
    const facts = el("dl", {});
    const add = (label, value) => { if (value !== undefined && value !== null && value !== "") facts.append(el("dt", { text: label }), el("dd", { text: value })); };
    add(T.tier, c.membership?.tier);
    add(T.points, c.membership?.points != null ? c.membership.points.toLocaleString() : null);
    add(T.subscription, c.subscription?.label);
    add(T.next_delivery, c.subscription?.next_delivery_at ? fmtDate(c.subscription.next_delivery_at) : null);
    add(T.segment, c.segment);
    add(T.orders_count, c.stats ? `${c.stats.orders} / ${money(c.stats.total_spent)}` : null);
    parts.push(facts);
    if (c.orders?.length) {
      parts.push(section(T.recent_orders, el("ul", { class: "orders" }, c.orders.map((o) => el("li", {},
        el("div", { class: "row" }, el("strong", { text: o.name }), el("span", { text: fmtDate(o.processed_at) }), el("span", { class: "total", text: money(o.total) })),
        el("div", { class: "subdued", text: [o.status, o.tracking_url ? T.tracking : null].filter(Boolean).join(" · ") }),
        el("ul", { class: "items" }, o.items.map((i) => el("li", { text: `${i.title} × ${i.quantity}` }))))))));
    }
    if (c.coupons?.length) parts.push(section(T.coupons, el("ul", {}, c.coupons.map((x) => el("li", { text: x.label })))));
    if (c.survey?.length) parts.push(section(T.survey, el("dl", {}, c.survey.flatMap((a) => [el("dt", { text: a.question }), el("dd", { text: a.answer })]))));
  }
  if (c.scenarios?.length) parts.push(section(T.scenarios, el("ul", { class: "scenarios" }, c.scenarios.map(scenarioItem))));
  panel.replaceChildren(...parts);
}

async function sendLinkInvitation() {
  try {
    const message = await api(`/api/admin/inbox/conversations/${state.selected}/link-invitation`, { method: "POST" });
    appendMessages([message]);
    toast(T.sent);
  } catch (error) { toast(error.message, true); }
}

// ---------------------------------------------------------------- actions

async function send() {
  const text = $("composer-text").value.trim();
  if (!text || !state.selected) return;
  const path = state.mode === "note" ? "notes" : "replies";
  const body = state.mode === "note" ? { body: text } : { text };
  $("send-button").disabled = true;
  try {
    const message = await api(`/api/admin/inbox/conversations/${state.selected}/${path}`, { method: "POST", body });
    $("composer-text").value = "";
    appendMessages([message]);
    await refreshConversation();
  } catch (error) { toast(error.message, true); }
  finally { $("send-button").disabled = false; }
}

async function refreshConversation() {
  const data = await api(`/api/admin/inbox/conversations/${state.selected}`);
  state.conversation = data.conversation;
  renderHeader();
  await loadList();
}

async function update(path, body) {
  try {
    const data = await api(`/api/admin/inbox/conversations/${state.selected}/${path}`, { method: "POST", body });
    state.conversation = data;
    renderHeader();
    await loadList();
  } catch (error) { toast(error.message, true); }
}

async function openPicker(kind) {
  state.pickerKind = kind;
  $("picker").hidden = false;
  $("picker-search").value = "";
  $("picker-search").focus();
  await fillPicker();
}

async function fillPicker() {
  const q = encodeURIComponent($("picker-search").value);
  const list = $("picker-list");
  if (state.pickerKind === "product") {
    const data = await api(`/api/admin/inbox/products?q=${q}`);
    list.replaceChildren(...data.products.map((p) => el("li", {}, el("button", {
      type: "button", text: `${p.title} · ${money(p.price)}`,
      onclick: () => sendCard({ product_id: p.id }),
    }))));
  } else {
    const data = await api(`/api/admin/inbox/conversations/${state.selected}/coupons`);
    list.replaceChildren(...(data.coupons.length ? data.coupons.map((x) => el("li", {}, el("button", {
      type: "button", text: x.label, onclick: () => insertText(x.text),
    }))) : [el("li", { class: "subdued", text: T.no_coupons })]));
  }
}

function insertText(text) {
  const box = $("composer-text");
  box.value = box.value ? `${box.value}\n${text}` : text;
  $("picker").hidden = true;
  box.focus();
}

async function sendCard(body) {
  $("picker").hidden = true;
  try {
    const message = await api(`/api/admin/inbox/conversations/${state.selected}/replies`, { method: "POST", body });
    appendMessages([message]);
  } catch (error) { toast(error.message, true); }
}

async function loadSavedReplies() {
  const data = await api("/api/admin/inbox/saved-replies");
  const select = $("saved-replies");
  select.append(...data.saved_replies.map((r) => el("option", { value: r.body, text: r.title })));
}

// ---------------------------------------------------------------- polling

async function poll() {
  try {
    await loadList();
    if (state.selected) {
      const data = await api(`/api/admin/inbox/conversations/${state.selected}/messages?after=${state.lastId}&pending=1`);
      appendMessages(data.messages);
      for (const m of data.updated) appendMessages([m]);
      if (data.conversation.status !== state.conversation.status || data.conversation.assignee !== state.conversation.assignee) {
        state.conversation = data.conversation;
        renderHeader();
      }
      if (data.messages.some((m) => m.sender === "customer")) {
        await api(`/api/admin/inbox/conversations/${state.selected}/read`, { method: "POST" });
      }
    }
  } catch (error) {
    console.warn("inbox poll failed", error.status || error.message);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// ---------------------------------------------------------------- wiring

for (const tab of root.querySelectorAll("[data-status]")) {
  tab.addEventListener("click", async () => {
    state.status = tab.dataset.status;
    for (const other of root.querySelectorAll("[data-status]")) other.setAttribute("aria-selected", String(other === tab));
    await loadList();
  });
}
for (const radio of root.querySelectorAll('input[name="assignee"]')) {
  radio.addEventListener("change", async () => { state.assignee = radio.value; await loadList(); });
}
let searchTimer;
$("inbox-search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => { state.q = event.target.value.trim(); await loadList(); }, 250);
});
for (const tab of root.querySelectorAll("[data-mode]")) {
  tab.addEventListener("click", () => {
    state.mode = tab.dataset.mode;
    for (const other of root.querySelectorAll("[data-mode]")) other.setAttribute("aria-selected", String(other === tab));
    $("composer-text").placeholder = state.mode === "note" ? T.note_placeholder : T.reply_placeholder;
    $("send-button").textContent = state.mode === "note" ? T.add_note : T.send;
  });
}
$("send-button").addEventListener("click", send);
$("composer-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) send();
});
$("assign-select").addEventListener("change", (event) => update("assign", { staff_id: event.target.value || null }));
$("status-select").addEventListener("change", (event) => update("status", { status: event.target.value }));
$("resolve-button").addEventListener("click", () => update("status", { status: "resolved" }));
$("saved-replies").addEventListener("change", (event) => {
  if (event.target.value) insertText(event.target.value);
  event.target.value = "";
});
$("insert-product").addEventListener("click", () => openPicker("product"));
$("insert-coupon").addEventListener("click", () => openPicker("coupon"));
$("picker-search").addEventListener("input", () => fillPicker());

try {
  await loadList();
  await loadSavedReplies();
  const wanted = new URLSearchParams(location.search).get("conversation");
  if (wanted) await openConversation(Number(wanted));
} catch (error) {
  toast(T.load_error, true);
}
setTimeout(poll, POLL_MS);
