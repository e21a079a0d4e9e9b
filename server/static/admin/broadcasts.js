// The broadcast pages (issue 7): the list, the composer (message, LINE preview, audience and
// quota, schedule) and the results (deliveries, clicks, attributed orders, lift with its
// interval). Data from the API reaches the page only as text (textContent) or attributes.
import { api, barChart, formatMoney, toast } from "./kizuna.js";
import { renderChat } from "./line_preview.js";
import { card, clearFieldErrors, field, h, intervalChart, locale, num, pct, points, select, showFieldErrors, svg, t, tile, withParams } from "./marketing.js";

const root = document.getElementById("kz-broadcasts");
let currency = "JPY";
let zone = "Asia/Tokyo";
const money = (minor) => formatMoney(Math.round(minor || 0), currency, locale);
const when = (iso) =>
  iso
    ? new Intl.DateTimeFormat(locale === "en" ? "en-US" : "ja-JP", {
        month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: zone,
      }).format(new Date(iso))
    : "—";
const search = location.search;
const badge = (status) => h("span", { class: "status-badge", "data-status": status }, t(`broadcasts.status.${status}`));

// This month's quota as one bar: used, this broadcast, what is left.
function quotaChart(container, figures) {
  container.replaceChildren();
  if (figures.quota_limit === null || figures.quota_limit === undefined) return;
  const width = 640, height = 34, limit = Math.max(1, figures.quota_limit);
  const used = limit - (figures.quota_remaining ?? 0);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "quota-chart" });
  const part = (from, to, cls) => chart.append(svg("rect", { x: (from / limit) * width, y: 4, width: Math.max(0, ((to - from) / limit) * width), height: 24, class: cls }));
  part(0, limit, "left");
  part(0, used, "used");
  part(used, Math.min(limit, used + figures.cost), figures.over_quota ? "over" : "this");
  const title = svg("title");
  title.textContent = `${num(used)} + ${num(figures.cost)} / ${num(limit)}`;
  chart.append(title);
  container.append(chart);
}

// -- the list ------------------------------------------------------------------------------------

async function listPage() {
  const answer = await api("/api/admin/broadcasts");
  const rows = answer.broadcasts.map((b) => {
    zone = b.timezone || zone;
    const sentAt = b.started_at || b.scheduled_at;
    return h("tr", { "data-broadcast": b.id },
      h("td", {}, h("a", { href: withParams(`/broadcasts/${b.id}`) }, b.name)),
      h("td", {}, badge(b.status)),
      h("td", {}, b.segment_name || t("broadcasts.everyone")),
      h("td", {}, when(sentAt)),
      h("td", { class: "num" }, b.recipients_count === null ? "—" : num(b.recipients_count)),
      h("td", { class: "num" }, num(b.delivered)),
      h("td", { class: "num" }, num(b.unique_clicks)));
  });
  root.replaceChildren(
    h("div", { class: "mk-row" }, h("a", { class: "button primary", href: withParams("/broadcasts/0"), "data-action": "new" }, t("broadcasts.new"))),
    card(null, rows.length
      ? h("table", { class: "mk-table" },
          h("thead", {}, h("tr", {}, ...["name", "status", "segment", "when"].map((c) => h("th", {}, t(`broadcasts.col.${c}`))),
            ...["recipients", "delivered", "clicks"].map((c) => h("th", { class: "num" }, t(`broadcasts.col.${c}`))))),
          h("tbody", {}, ...rows))
      : h("p", { class: "mk-muted" }, t("broadcasts.none"))));
}

// -- the composer ----------------------------------------------------------------------------------

function emptyBroadcast(options) {
  const preset = Number(new URLSearchParams(search).get("segment")) || null;
  return {
    id: null, name: "", status: "draft",
    segment_id: options.segments.some((s) => s.id === preset) ? preset : null,
    message: { type: "text", text: "" },
    coupon_offer_id: null, link_tracking: "per_recipient", holdout_percent: 0,
  };
}

function composer(options, broadcast) {
  const state = JSON.parse(JSON.stringify(broadcast));
  const form = h("form", { class: "mk-form", "data-form": "broadcast", novalidate: true });
  const phone = h("div", { class: "phone", "data-preview": "broadcast" }, h("p", { class: "mk-muted" }, t("broadcasts.preview.empty")));
  const estimateBox = h("div", { class: "mk-stack", "data-estimate": "" });
  let previewLocale = locale;
  let lastFocused = null;
  let figures = null;
  let previewTimer = null, estimateTimer = null, previewSeq = 0, estimateSeq = 0;

  const name = h("input", { name: "name", value: state.name, maxlength: 255, required: true });
  name.addEventListener("input", () => { state.name = name.value; });
  const segment = select([["", t("broadcasts.everyone")], ...options.segments.map((s) => [s.id, s.name])], state.segment_id ?? "", { name: "segment_id" });
  segment.addEventListener("change", () => { state.segment_id = segment.value ? Number(segment.value) : null; queueEstimate(); });
  const type = select([["text", t("broadcasts.type.text")], ["image", t("broadcasts.type.image")], ["flex", t("broadcasts.type.flex")]], state.message.type, { name: "type" });
  const messageFields = h("div");
  type.addEventListener("change", () => {
    const text = state.message.text || state.message.body || "";
    state.message = type.value === "flex" ? { type: "flex", layout: "card", title: "", body: text } : type.value === "image" ? { type: "image", image_url: "", text } : { type: "text", text };
    drawMessageFields();
    queuePreview();
  });
  const coupon = select([["", t("broadcasts.field.no_coupon")], ...options.offers.map((o) => [o.id, o.title])], state.coupon_offer_id ?? "", { name: "coupon_offer_id" });
  coupon.addEventListener("change", () => { state.coupon_offer_id = coupon.value ? Number(coupon.value) : null; queuePreview(); });
  const tracking = select(options.link_tracking.map((v) => [v, t(`broadcasts.tracking.${v}`)]), state.link_tracking, { name: "link_tracking" });
  tracking.addEventListener("change", () => { state.link_tracking = tracking.value; });
  const holdout = h("input", { name: "holdout_percent", type: "number", min: 0, max: options.max_holdout, step: 1, value: state.holdout_percent });
  holdout.addEventListener("input", () => { state.holdout_percent = holdout.value === "" ? 0 : Math.round(Number(holdout.value)); queueEstimate(); });

  function messageInput(key, label, { multiline = false, help = null } = {}) {
    const control = multiline
      ? h("textarea", { name: `message.${key}`, rows: 6 }, state.message[key] || "")
      : h("input", { name: `message.${key}`, value: state.message[key] || "" });
    control.addEventListener("input", () => {
      if (control.value === "") delete state.message[key];
      else state.message[key] = control.value;
      queuePreview();
    });
    control.addEventListener("focus", () => { lastFocused = control; });
    return field(`message.${key}`, label, control, help);
  }

  function drawMessageFields() {
    const m = state.message;
    if (m.type === "text") messageFields.replaceChildren(messageInput("text", t("broadcasts.field.text"), { multiline: true }));
    else if (m.type === "image")
      messageFields.replaceChildren(messageInput("image_url", t("broadcasts.field.image_url")), messageInput("text", t("broadcasts.field.caption"), { multiline: true }));
    else
      messageFields.replaceChildren(
        messageInput("title", t("broadcasts.field.title")),
        messageInput("body", t("broadcasts.field.body"), { multiline: true }),
        messageInput("image_url", t("broadcasts.field.hero")),
        messageInput("button_label", t("broadcasts.field.button_label")),
        messageInput("button_url", t("broadcasts.field.button_url")));
  }

  const chips = h("div", { class: "var-chips" }, ...options.variables.map((v) =>
    h("button", { type: "button", "data-variable": v, title: `{${v}}`, onclick: () => {
      const target = lastFocused || messageFields.querySelector("textarea, input");
      if (!target) return;
      const at = target.selectionStart ?? target.value.length;
      target.value = `${target.value.slice(0, at)}{${v}}${target.value.slice(target.selectionEnd ?? at)}`;
      target.dispatchEvent(new Event("input"));
      target.focus();
    } }, t(`broadcasts.var.${v}`))));

  // schedule
  const nowRadio = h("input", { type: "radio", name: "when", value: "now", checked: !state.scheduled_local });
  const laterRadio = h("input", { type: "radio", name: "when", value: "later", checked: Boolean(state.scheduled_local) });
  const sendAt = h("input", { type: "datetime-local", name: "send_at", value: state.scheduled_local || "", min: options.now_local });
  const [quietStart, quietEnd] = options.quiet_hours;
  const scheduleBox = h("div", { class: "mk-stack" },
    h("div", { class: "mk-row" }, h("label", {}, nowRadio, t("broadcasts.schedule.now")), h("label", {}, laterRadio, t("broadcasts.schedule.later"))),
    field("send_at", t("broadcasts.schedule.zone", { zone: options.timezone }), sendAt),
    quietStart ? h("p", { class: "mk-muted" }, t("broadcasts.schedule.quiet", { start: quietStart, end: quietEnd })) : null,
    state.quiet_hours_until ? h("p", { class: "mk-notice", "data-quiet": "" }, t("broadcasts.schedule.quiet_at", { when: when(state.quiet_hours_until) })) : null);
  sendAt.addEventListener("focus", () => { laterRadio.checked = true; });

  const error = h("p", { class: "field-error", hidden: true, "data-error": "" });
  const clearErrors = () => clearFieldErrors(form);
  function showErrors(failure) {
    if (!showFieldErrors(form, failure)) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  }

  const body = () => ({
    name: state.name, segment_id: state.segment_id, message: state.message,
    coupon_offer_id: state.coupon_offer_id, link_tracking: state.link_tracking, holdout_percent: state.holdout_percent,
  });

  function queuePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 300);
  }
  async function refreshPreview() {
    const mine = ++previewSeq;
    const m = state.message;
    if (!(m.text || m.title || m.body || m.image_url)) {
      phone.replaceChildren(h("p", { class: "mk-muted" }, t("broadcasts.preview.empty")));
      return;
    }
    try {
      const answer = await api("/api/admin/broadcasts/preview", {
        method: "POST", body: { message: m, coupon_offer_id: state.coupon_offer_id, locale: previewLocale },
      });
      if (mine !== previewSeq) return;
      clearErrors();
      renderChat(phone, answer.messages, { shopName: options.shop_name || "", time: new Date().toTimeString().slice(0, 5) });
      phone.append(h("p", { class: "mk-muted" }, t("broadcasts.preview.sample")));
      phone.dataset.ready = "true";
    } catch (failure) {
      if (mine !== previewSeq) return;
      clearErrors();
      showErrors(failure);
    }
  }

  function queueEstimate() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(refreshEstimate, 300);
  }
  async function refreshEstimate() {
    const mine = ++estimateSeq;
    try {
      figures = await api("/api/admin/broadcasts/estimate", {
        method: "POST", body: { segment_id: state.segment_id, holdout_percent: state.holdout_percent },
      });
    } catch (failure) {
      if (mine === estimateSeq) showErrors(failure);
      return;
    }
    if (mine !== estimateSeq) return;
    const remaining = figures.quota_remaining === null ? t("broadcasts.estimate.unlimited") : num(figures.quota_remaining);
    const chart = h("figure", { class: "chart", "aria-label": t("broadcasts.estimate.chart") });
    estimateBox.replaceChildren(...[
      h("div", { class: "mk-tiles" },
        tile(t("broadcasts.estimate.members"), num(figures.members), { key: "members" }),
        tile(t("broadcasts.estimate.reachable"), num(figures.reachable), { key: "reachable" }),
        tile(t("broadcasts.estimate.holdout"), num(figures.holdout), { key: "holdout" }),
        tile(t("broadcasts.estimate.recipients"), num(figures.recipients), { key: "recipients" }),
        tile(t("broadcasts.estimate.cost"), num(figures.cost), { key: "cost", warn: figures.over_quota }),
        tile(t("broadcasts.estimate.remaining"), remaining, { key: "remaining" })),
      chart,
      figures.delivery_mode === "outbox" ? h("p", { class: "mk-notice info", "data-outbox": "" }, t("broadcasts.estimate.outbox")) : null,
      figures.over_quota ? h("p", { class: "mk-notice", "data-over-quota": "" }, t("broadcasts.estimate.over")) : null,
    ].filter(Boolean));
    quotaChart(chart, figures);
    estimateBox.dataset.recipients = figures.recipients;
  }

  async function save() {
    clearErrors();
    error.hidden = true;
    const saved = state.id
      ? await api(`/api/admin/broadcasts/${state.id}`, { method: "PUT", body: body() })
      : await api("/api/admin/broadcasts", { method: "POST", body: body() });
    state.id = saved.id;
    history.replaceState(null, "", withParams(`/broadcasts/${saved.id}`));
    root.dataset.id = saved.id;
    return saved;
  }

  async function schedule() {
    const later = laterRadio.checked;
    if (later && !sendAt.value) {
      showErrors({ data: { details: { fields: { send_at: t("broadcasts.schedule.later") } } } });
      return;
    }
    try {
      await save();
    } catch (failure) {
      showErrors(failure);
      toast(failure.message, true);
      return;
    }
    if (!later && !window.confirm(t("broadcasts.confirm.send", { count: num(figures ? figures.recipients : 0) }))) return;
    const payload = { send_at: later ? sendAt.value : null };
    try {
      await api(`/api/admin/broadcasts/${state.id}/schedule`, { method: "POST", body: payload });
    } catch (failure) {
      if (failure.data && failure.data.error === "over_quota" && window.confirm(t("broadcasts.confirm.over_quota"))) {
        await api(`/api/admin/broadcasts/${state.id}/schedule`, { method: "POST", body: { ...payload, confirm_over_quota: true } });
      } else {
        showErrors(failure);
        toast(failure.message, true);
        return;
      }
    }
    toast(later ? t("broadcasts.toast.scheduled") : t("broadcasts.toast.sending"));
    await editPage(state.id);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await save();
      toast(t("broadcasts.toast.saved"));
      await editPage(state.id);
    } catch (failure) {
      showErrors(failure);
      toast(failure.message, true);
    }
  });

  const localeSel = select([["ja", "日本語"], ["en", "English"]], previewLocale, { "aria-label": t("broadcasts.preview.locale"), "data-role": "preview-locale" });
  localeSel.addEventListener("change", () => { previewLocale = localeSel.value; refreshPreview(); });

  const actions = h("div", { class: "mk-row" },
    h("button", { type: "submit", "data-action": "save" }, t("broadcasts.action.save")),
    h("button", { type: "button", class: "primary", "data-action": "schedule", onclick: schedule }, t("broadcasts.action.schedule")),
    state.status === "scheduled" ? h("button", { type: "button", class: "critical", "data-action": "cancel", onclick: async () => {
      try {
        await api(`/api/admin/broadcasts/${state.id}/cancel`, { method: "POST", body: {} });
        toast(t("broadcasts.toast.cancelled"));
        await editPage(state.id);
      } catch (failure) {
        toast(failure.message, true);
      }
    } }, t("broadcasts.action.cancel")) : null,
    state.id && state.status !== "scheduled" ? h("button", { type: "button", class: "link", "data-action": "delete", onclick: async () => {
      if (!window.confirm(t("broadcasts.confirm.delete"))) return;
      try {
        await api(`/api/admin/broadcasts/${state.id}`, { method: "DELETE" });
        location.href = withParams("/broadcasts");
      } catch (failure) {
        toast(failure.message, true);
      }
    } }, t("broadcasts.action.delete")) : null);

  drawMessageFields();
  form.append(
    field("name", t("broadcasts.field.name"), name),
    field("segment_id", t("broadcasts.field.segment_id"), segment, t("broadcasts.field.segment_help")),
    field("message.type", t("broadcasts.field.type"), type),
    messageFields,
    h("div", { class: "field" }, h("span", {}, t("broadcasts.variables")), chips, h("p", { class: "mk-muted" }, t("broadcasts.variables_help"))),
    field("coupon_offer_id", t("broadcasts.field.coupon_offer_id"), coupon, t("broadcasts.field.coupon_help")),
    field("link_tracking", t("broadcasts.field.link_tracking"), tracking),
    field("holdout_percent", t("broadcasts.field.holdout_percent"), holdout, t("broadcasts.field.holdout_help")),
    h("h3", {}, t("broadcasts.schedule")), scheduleBox, error, actions);

  const top = state.status === "scheduled"
    ? h("p", { class: "mk-notice info", "data-scheduled": "" }, badge("scheduled"), " ", t("broadcasts.scheduled_for", { when: when(state.scheduled_at) }))
    : state.status === "cancelled" ? h("p", { class: "mk-notice" }, badge("cancelled")) : null;
  const view = h("div", { class: "mk-grid" },
    h("div", { class: "mk-stack" }, top, card(t("broadcasts.compose"), form)),
    h("div", { class: "mk-stack" },
      card(t("broadcasts.preview"), h("div", { class: "mk-row" }, localeSel), phone),
      card(t("broadcasts.estimate"), estimateBox)));
  refreshPreview();
  refreshEstimate();
  return view;
}

// -- the results -----------------------------------------------------------------------------------

function resultsView(broadcast, results) {
  const day = (iso) => new Intl.DateTimeFormat(locale === "en" ? "en-US" : "ja-JP", { month: "numeric", day: "numeric" }).format(new Date(`${iso}T00:00:00`));
  const revenueChart = h("figure", { class: "chart", "aria-label": t("broadcasts.results.daily_revenue"), "data-chart": "revenue" });
  const clicksChart = h("figure", { class: "chart", "aria-label": t("broadcasts.results.daily_clicks"), "data-chart": "clicks" });
  const lift = results.lift;
  const liftBox = h("div", { class: "mk-stack", "data-lift": "" });
  if (!lift) liftBox.append(h("p", { class: "mk-muted" }, t("broadcasts.lift.none")));
  else {
    const rows = [["treatment", lift.treatment], ["holdout", lift.holdout]].map(([key, g]) =>
      h("tr", { "data-group": key },
        h("td", {}, t(`broadcasts.lift.${key}`)),
        h("td", { class: "num" }, num(g.subjects)),
        h("td", { class: "num" }, num(g.converted)),
        h("td", { class: "num" }, pct(g.conversion_rate)),
        h("td", { class: "num" }, money(g.revenue_per_subject))));
    const ratesChart = h("figure", { class: "chart", "aria-label": t("broadcasts.lift.rates_chart"), "data-chart": "rates" });
    const ciChart = h("figure", { class: "chart", "aria-label": t("broadcasts.lift.chart"), "data-chart": "interval" });
    liftBox.append(
      h("table", { class: "mk-table" },
        h("thead", {}, h("tr", {}, h("th", {}, t("broadcasts.lift.group")), h("th", { class: "num" }, t("broadcasts.lift.people")),
          h("th", { class: "num" }, t("broadcasts.lift.converted")), h("th", { class: "num" }, t("broadcasts.lift.rate")),
          h("th", { class: "num" }, t("broadcasts.lift.revenue_per")))),
        h("tbody", {}, ...rows)),
      ratesChart);
    barChart(ratesChart, [
      { label: t("broadcasts.lift.treatment"), value: Math.round(1000 * (lift.treatment.conversion_rate || 0)) / 10 },
      { label: t("broadcasts.lift.holdout"), value: Math.round(1000 * (lift.holdout.conversion_rate || 0)) / 10 },
    ], (v) => `${v}%`);
    const diff = lift.conversion_difference;
    if (diff) {
      liftBox.append(
        h("p", { "data-difference": "" }, t("broadcasts.lift.difference", { estimate: points(diff.estimate), low: points(diff.low), high: points(diff.high) })),
        ciChart,
        h("p", { class: diff.significant ? "mk-notice info" : "mk-muted", "data-significant": String(diff.significant) },
          diff.significant ? t("broadcasts.lift.significant") : t("broadcasts.lift.not_significant")));
      intervalChart(ciChart, diff, points);
    }
    const rev = lift.revenue_per_subject_difference;
    if (rev) {
      liftBox.append(h("p", {}, t("broadcasts.lift.revenue_difference", { estimate: money(rev.estimate), low: money(rev.low), high: money(rev.high) })));
      if (lift.incremental_revenue !== null) liftBox.append(h("p", { "data-incremental": "" }, t("broadcasts.lift.incremental", { amount: money(lift.incremental_revenue) })));
    }
  }
  const until = results.window_ends_at ? when(results.window_ends_at) : "—";
  const view = h("div", { class: "mk-stack", "data-results": results.status },
    h("p", { class: "mk-row" }, badge(results.status), h("span", {}, when(results.started_at))),
    broadcast.error ? h("p", { class: "mk-notice" }, t("broadcasts.error_reason", { error: broadcast.error })) : null,
    card(t("broadcasts.results"),
      h("p", { class: "mk-muted" }, t("broadcasts.results.window", { days: results.window_days, until })),
      results.window_complete ? null : h("p", { class: "mk-muted" }, t("broadcasts.results.window_open")),
      h("div", { class: "mk-tiles" },
        tile(t("broadcasts.results.recipients"), num(results.recipients), { key: "recipients" }),
        tile(t("broadcasts.results.delivered"), num(results.delivered), { key: "delivered" }),
        tile(t("broadcasts.results.failed"), num(results.failed), { key: "failed", warn: results.failed > 0 }),
        tile(t("broadcasts.results.held"), num(results.held), { key: "held", warn: results.held > 0 }),
        tile(t("broadcasts.results.pending"), num(results.pending), { key: "pending" }),
        tile(t("broadcasts.results.unique_clicks"), num(results.unique_clicks), { key: "unique_clicks" }),
        tile(t("broadcasts.results.clicks"), num(results.clicks), { key: "clicks" }),
        tile(t("broadcasts.results.orders"), num(results.orders), { key: "orders" }),
        tile(t("broadcasts.results.revenue"), money(results.revenue), { key: "revenue" })),
      h("p", { class: "mk-muted" }, t("broadcasts.results.attribution"))),
    card(t("broadcasts.results.daily"),
      h("h3", {}, t("broadcasts.results.daily_revenue")), revenueChart,
      h("h3", {}, t("broadcasts.results.daily_clicks")), clicksChart),
    card(t("broadcasts.lift"), liftBox));
  barChart(revenueChart, results.daily.map((d) => ({ label: day(d.date), value: d.revenue, title: `${day(d.date)}: ${money(d.revenue)} (${num(d.orders)})` })), money);
  barChart(clicksChart, results.daily.map((d) => ({ label: day(d.date), value: d.clicks })), num);
  return view;
}

// -- the page ------------------------------------------------------------------------------------

let pollTimer = null;

async function editPage(id) {
  clearTimeout(pollTimer);
  const options = await api("/api/admin/broadcasts/options");
  currency = options.currency;
  zone = options.timezone;
  let broadcast = emptyBroadcast(options);
  if (id) broadcast = await api(`/api/admin/broadcasts/${id}`);
  const back = h("p", {}, h("a", { href: withParams("/broadcasts") }, t("broadcasts.back")));
  if (["draft", "scheduled", "cancelled"].includes(broadcast.status)) {
    root.replaceChildren(back, h("h2", {}, broadcast.name || t("broadcasts.new")), composer(options, broadcast));
  } else {
    const results = await api(`/api/admin/broadcasts/${id}/results`);
    const phone = h("div", { class: "phone", "data-preview": "sent" });
    root.replaceChildren(back, h("h2", {}, broadcast.name), h("div", { class: "mk-grid" },
      resultsView(broadcast, results),
      h("div", { class: "mk-stack" }, card(t("broadcasts.preview"), phone))));
    try {
      const answer = await api("/api/admin/broadcasts/preview", {
        method: "POST", body: { message: broadcast.message, coupon_offer_id: broadcast.coupon_offer_id, locale },
      });
      renderChat(phone, answer.messages, {});
    } catch (failure) {
      phone.replaceChildren(h("p", { class: "mk-muted" }, failure.message));
    }
    if (results.status === "sending" || results.pending > 0) pollTimer = setTimeout(() => editPage(id), 3000);
  }
  root.dataset.status = broadcast.status;
  root.dataset.ready = "true";
}

async function start() {
  try {
    if (root.dataset.page === "broadcasts") await listPage();
    else await editPage(Number(root.dataset.id) || 0);
    root.dataset.ready = "true";
  } catch (failure) {
    root.replaceChildren(h("p", { class: "critical" }, `${t("common.error")} (${failure.message})`));
  }
}

start();
