// The FAQ bot's settings: entries (phrasings, answer, quick replies), a "what would the bot do"
// box with the candidates' scores against the threshold, support hours. Text goes in via textContent.
import { api, toast } from "./kizuna.js";

const T = JSON.parse(document.getElementById("faq-text").textContent);
const $ = (id) => document.getElementById(id);
let editing = null;
let threshold = 0.3;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

// "label | https://…" or "label | text the button sends", one per line.
function parseQuick(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [label, rest = ""] = line.split("|").map((part) => part.trim());
    return rest.startsWith("https://") ? { label, url: rest } : { label, text: rest || label };
  });
}
const formatQuick = (items) => items.map((q) => `${q.label} | ${q.url || q.text}`).join("\n");

async function load() {
  const data = await api("/api/admin/inbox/faq");
  threshold = data.threshold;
  $("faq-rows").replaceChildren(...data.entries.map((e) => el("tr", { class: e.enabled ? "" : "disabled" },
    el("td", {}, el("ul", { class: "phrasings" }, e.questions.map((q) => el("li", { text: q })))),
    el("td", { class: "answer", text: e.answer }),
    el("td", { class: "num", text: String(e.hits) }),
    el("td", { class: "actions" },
      el("button", { type: "button", text: T.edit, onclick: () => edit(e) }),
      el("button", { type: "button", class: "critical", text: T.delete, onclick: () => remove(e) })))));
  const hours = data.support_hours;
  for (const box of document.querySelectorAll('input[name="weekday"]')) box.checked = hours.weekdays.includes(Number(box.value));
  $("hours-open").value = hours.open;
  $("hours-close").value = hours.close;
  $("threshold").value = data.threshold;
}

function edit(entry) {
  editing = entry;
  $("form-title").textContent = T.editing;
  $("faq-questions").value = entry.questions.join("\n");
  $("faq-answer").value = entry.answer;
  $("faq-quick").value = formatQuick(entry.quick_replies);
  $("faq-enabled").checked = entry.enabled;
  $("faq-cancel").hidden = false;
  $("faq-questions").focus();
}

function reset() {
  editing = null;
  $("faq-form").reset();
  $("form-title").textContent = T.new;
  $("faq-cancel").hidden = true;
  $("faq-error").textContent = "";
}

async function remove(entry) {
  if (!confirm(T.confirm_delete)) return;
  await api(`/api/admin/inbox/faq/${entry.id}`, { method: "DELETE" });
  await load();
}

$("faq-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    questions: $("faq-questions").value.split("\n").map((q) => q.trim()).filter(Boolean),
    answer: $("faq-answer").value.trim(),
    quick_replies: parseQuick($("faq-quick").value),
    enabled: $("faq-enabled").checked,
  };
  try {
    await api(editing ? `/api/admin/inbox/faq/${editing.id}` : "/api/admin/inbox/faq", { method: editing ? "PUT" : "POST", body });
    reset();
    toast(T.saved);
    await load();
  } catch (error) {
    const fields = error.data?.details?.fields || {};
    $("faq-error").textContent = [error.message, ...Object.entries(fields).map(([k, v]) => `${k}: ${v}`)].join(" · ");
  }
});
$("faq-cancel").addEventListener("click", reset);

// A horizontal bar per candidate, with the threshold as a line: what the bot would answer.
function scoreChart(container, candidates) {
  const SVG = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs) => { const n = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; };
  const width = 640, rowH = 28, left = 260, height = rowH * candidates.length + 24;
  const chart = mk("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "bar-chart" });
  const x = (score) => left + (width - left - 16) * score;
  candidates.forEach((c, i) => {
    const label = mk("text", { x: left - 8, y: i * rowH + 18, "text-anchor": "end", class: "axis" });
    label.textContent = c.label.length > 28 ? `${c.label.slice(0, 27)}…` : c.label;
    const bar = mk("rect", { x: left, y: i * rowH + 6, width: Math.max(1, x(c.score) - left), height: 16, rx: 3,
      class: c.score >= threshold ? "bar" : "bar below" });
    const value = mk("text", { x: x(c.score) + 4, y: i * rowH + 18, class: "axis" });
    value.textContent = `${Math.round(c.score * 100)}%`;
    chart.append(label, bar, value);
  });
  chart.append(mk("line", { x1: x(threshold), x2: x(threshold), y1: 0, y2: height - 16, class: "threshold" }));
  const t = mk("text", { x: x(threshold), y: height - 4, "text-anchor": "middle", class: "axis" });
  t.textContent = `${T.threshold} ${Math.round(threshold * 100)}%`;
  chart.append(t);
  container.replaceChildren(chart);
}

$("try-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("try-question").value.trim();
  if (!question) return;
  const data = await api("/api/admin/inbox/faq/try", { method: "POST", body: { question } });
  threshold = data.threshold;
  $("try-verdict").textContent = data.answers ? T.would_answer : T.would_hand_off;
  scoreChart($("try-chart"), data.candidates.map((c) => ({ label: c.phrasing, score: c.score })));
});

$("settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const weekdays = [...document.querySelectorAll('input[name="weekday"]:checked')].map((b) => Number(b.value));
  try {
    await api("/api/admin/inbox/settings", { method: "PUT", body: {
      support_hours: { weekdays, open: $("hours-open").value, close: $("hours-close").value },
      threshold: Number($("threshold").value),
    } });
    toast(T.saved);
    await load();
  } catch (error) { toast(error.message, true); }
});

async function loadSaved() {
  const data = await api("/api/admin/inbox/saved-replies");
  $("saved-rows").replaceChildren(...data.saved_replies.map((r) => el("li", {},
    el("strong", { text: r.title }), el("span", { class: "subdued", text: r.body }),
    el("button", { type: "button", class: "critical", text: T.delete, onclick: async () => {
      if (!confirm(T.confirm_delete_saved)) return;
      await api(`/api/admin/inbox/saved-replies/${r.id}`, { method: "DELETE" });
      await loadSaved();
    } }))));
}

$("saved-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("/api/admin/inbox/saved-replies", { method: "POST", body: { title: $("saved-title").value, body: $("saved-body").value } });
    $("saved-form").reset();
    toast(T.saved);
    await loadSaved();
  } catch (error) { toast(error.message, true); }
});

try { await load(); await loadSaved(); } catch (error) { toast(T.load_error, true); }
