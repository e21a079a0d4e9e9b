// The scenario editor (issue 7): trigger and entry segment, the steps as a timeline with each
// LINE message previewed as it will look and when it really goes out (the shop's zone, quiet
// hours, the frequency cap, reason-based timing), coupon offers, exits, holdout, on/off.
import { api, toast } from "./kizuna.js";
import { renderChat } from "./line_preview.js";
import { card, clearFieldErrors, field, h, locale, num, select, showFieldErrors, t, withParams } from "./marketing.js";

const API = "/api/admin/campaigns";
const STEP_KEYS = ["id", "name", "delay_days", "delay_hours", "delay_from", "at_time", "delay_source", "message", "coupon_offer_id"];

// A new step comes a day after the last one, at 10:00 in the shop's zone.
const blankStep = (last = null) => ({
  id: null, name: "", delay_days: last ? last.delay_days + 1 : 1, delay_hours: 0, delay_from: "entry", at_time: "10:00",
  delay_source: null, message: { type: "text", text: "" }, coupon_offer_id: null,
});

const blankScenario = () => ({
  id: null, name: "", description: "", status: "draft", trigger: "order_paid",
  trigger_params: { order: "first", kind: "any" }, segment_id: null, entry_definition: {},
  exit_rules: [{ rule: "ordered" }], once_per_person: false, holdout_percent: 10,
  conversion_window_days: 14, steps: [blankStep()], stats: { entered: 0 },
});

// When a step goes, in words: "5 days after entry, at 10:00".
function timing(step) {
  const from = t(`campaigns.step.from.${step.delay_from}`);
  const parts = [];
  if (step.delay_days) parts.push(t("campaigns.step.days", { n: step.delay_days }));
  if (step.delay_hours) parts.push(t("campaigns.step.hours", { n: step.delay_hours }));
  let text = parts.length ? t("campaigns.step.after", { from, delay: parts.join(" ") }) : t("campaigns.step.at_once", { from });
  if (step.at_time) text += ` ${t("campaigns.step.at_time", { time: step.at_time })}`;
  if (step.delay_source === "cancellation") text += ` ${t("campaigns.step.by_reason")}`;
  return text;
}

export async function editorPage(root, id) {
  const options = await api(`${API}/options`);
  const saved = id ? await api(`${API}/scenarios/${id}`) : blankScenario();
  const state = JSON.parse(JSON.stringify(saved));
  const zone = options.timezone || "Asia/Tokyo";
  const when = (iso) => new Intl.DateTimeFormat(locale === "en" ? "en-US" : "ja-JP", {
    month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: zone,
  }).format(new Date(iso));
  const form = h("form", { class: "mk-form", "data-form": "scenario", novalidate: true });
  const preview = { locale, reason: "leftover", units_left: 2 };
  let previewTimer = null, previewSeq = 0;
  const phones = [];
  const whens = [];

  // -- basics, trigger, entry ---------------------------------------------------------------------
  const name = h("input", { name: "name", value: state.name, maxlength: 255, required: true });
  name.addEventListener("input", () => { state.name = name.value; });
  const description = h("textarea", { name: "description", rows: 3 }, state.description || "");
  description.addEventListener("input", () => { state.description = description.value; });
  const trigger = select(options.triggers.map((v) => [v, t(`campaigns.trigger.${v}`)]), state.trigger, { name: "trigger" });
  const paramsBox = h("div", { class: "mk-stack" });
  trigger.addEventListener("change", () => {
    state.trigger = trigger.value;
    state.trigger_params = {};
    if (state.trigger !== "subscription_cancelled") state.steps.forEach((s) => { s.delay_source = null; });
    drawParams();
    drawSteps();
    queuePreview();
  });
  const segment = select([["", t("campaigns.edit.everyone")], ...options.segments.map((s) => [s.id, s.name])], state.segment_id ?? "", { name: "segment_id" });
  segment.addEventListener("change", () => { state.segment_id = segment.value ? Number(segment.value) : null; });

  function param(key, control, read) {
    control.addEventListener("change", () => {
      const value = read(control);
      if (value === null || value === "") delete state.trigger_params[key];
      else state.trigger_params[key] = value;
      drawParams();
      queuePreview();
    });
    return field(`trigger_params.${key}`, t(`campaigns.param.${key}`), control);
  }
  const number = (c) => (c.value === "" ? null : Number(c.value));
  // Ticked ids of a list (tiers); none ticked leaves the key out, which the trigger reads as any.
  function idBoxes(key, items) {
    const ticked = new Set((state.trigger_params[key] || []).map(Number));
    return h("div", { class: "field", "data-field": `trigger_params.${key}` }, h("span", {}, t(`campaigns.param.${key}`)),
      h("div", { class: "mk-row" }, ...items.map(([id, label]) => {
        const box = h("input", { type: "checkbox", value: id, name: `trigger_params.${key}`, checked: ticked.has(Number(id)) });
        box.addEventListener("change", () => {
          if (box.checked) ticked.add(Number(id)); else ticked.delete(Number(id));
          if (ticked.size) state.trigger_params[key] = [...ticked].sort((a, b) => a - b);
          else delete state.trigger_params[key];
          queuePreview();
        });
        return h("label", {}, box, label);
      })), h("p", { class: "field-error", hidden: true }));
  }
  function drawParams() {
    const p = state.trigger_params || {};
    const parts = [];
    if (state.trigger === "order_paid") {
      parts.push(param("order", select(["any", "first", "nth"].map((v) => [v, t(`campaigns.param.order.${v}`)]), p.order || "any", { name: "trigger_params.order" }), (c) => c.value));
      if (p.order === "nth") parts.push(param("n", h("input", { type: "number", min: 1, max: 100, value: p.n ?? 2, name: "trigger_params.n" }), number));
      parts.push(param("kind", select(["any", "one_off", "subscription"].map((v) => [v, t(`campaigns.param.kind.${v}`)]), p.kind || "any", { name: "trigger_params.kind" }), (c) => c.value));
      // "Contains product / collection / tag X": any one named is enough; none named, any order.
      const picked = (c) => { const ids = [...c.selectedOptions].map((o) => Number(o.value)); return ids.length ? ids : null; };
      const pick = (key, items) => h("select", { multiple: true, size: Math.min(5, Math.max(2, items.length)), name: `trigger_params.${key}` },
        ...items.map((item) => h("option", { value: item.id, selected: (p[key] || []).includes(item.id) }, item.title)));
      parts.push(param("product_ids", pick("product_ids", options.products), picked));
      parts.push(param("collection_ids", pick("collection_ids", options.collections), picked));
      const tags = h("input", { type: "text", value: (p.product_tags || []).join(", "), list: "trigger-product-tags", name: "trigger_params.product_tags", placeholder: t("campaigns.param.comma_hint") });
      parts.push(param("product_tags", tags, (c) => { const list = c.value.split(/[,、]/).map((v) => v.trim()).filter(Boolean); return list.length ? list : null; }));
      parts.push(h("datalist", { id: "trigger-product-tags" }, ...options.product_tags.map((tag) => h("option", { value: tag }))));
    } else if (state.trigger === "subscription_cancelled") {
      const box = h("input", { type: "checkbox", name: "trigger_params.ask_reason", checked: p.ask_reason !== false });
      parts.push(param("ask_reason", box, (c) => c.checked));
      parts.push(h("p", { class: "mk-notice info" }, t("campaigns.edit.leaving_stays_easy")));
    } else if (state.trigger === "dormant") {
      parts.push(param("days", h("input", { type: "number", min: 1, max: 3650, value: p.days ?? "", name: "trigger_params.days" }), number));
      parts.push(param("multiple", h("input", { type: "number", min: 1, max: 10, step: 0.5, value: p.multiple ?? "", name: "trigger_params.multiple" }), number));
    } else if (state.trigger === "coupon_expiring") {
      parts.push(param("hours_before", h("input", { type: "number", min: 1, max: 720, value: p.hours_before ?? 24, name: "trigger_params.hours_before" }), number));
    } else if (state.trigger === "follow") {
      parts.push(param("include_unblocked", h("input", { type: "checkbox", name: "trigger_params.include_unblocked", checked: Boolean(p.include_unblocked) }), (c) => c.checked));
    } else if (state.trigger === "survey_answered") {
      parts.push(h("div", { class: "field", "data-field": "trigger_params.cells" }, h("span", {}, t("campaigns.param.cells")),
        h("div", { class: "mk-row" }, ...options.cells.map((cell) => {
          const box = h("input", { type: "checkbox", value: cell.value, checked: (p.cells || []).includes(cell.value) });
          box.addEventListener("change", () => {
            const cells = new Set(state.trigger_params.cells || []);
            if (box.checked) cells.add(cell.value); else cells.delete(cell.value);
            state.trigger_params.cells = [...cells];
          });
          return h("label", {}, box, cell.label);
        })), h("p", { class: "field-error", hidden: true })));
    } else if (state.trigger === "tier_changed") {
      parts.push(param("direction", select(["up", "down", "any"].map((v) => [v, t(`campaigns.param.direction.${v}`)]), p.direction || "up", { name: "trigger_params.direction" }), (c) => c.value));
      if (!options.tiers.length) parts.push(h("p", { class: "mk-notice info" }, t("campaigns.param.no_tiers")));
      else {
        parts.push(idBoxes("from_tier_ids", options.tiers.map((tier) => [tier.id, tier.name])));
        parts.push(idBoxes("tier_ids", options.tiers.map((tier) => [tier.id, tier.name])));
      }
    } else if (state.trigger === "due_to_reorder") {
      parts.push(param("days_ahead", h("input", { type: "number", min: 0, max: 30, step: 1, value: p.days_ahead ?? 0, name: "trigger_params.days_ahead" }), number));
      const chosen = (p.product_ids || []).map(String);
      const products = h("select", { multiple: true, size: Math.min(6, Math.max(2, options.products.length)), name: "trigger_params.product_ids" },
        ...options.products.map((product) => h("option", { value: product.id, selected: chosen.includes(String(product.id)) }, product.title)));
      products.addEventListener("change", () => {
        const ids = [...products.selectedOptions].map((o) => Number(o.value));
        if (ids.length) state.trigger_params.product_ids = ids; else delete state.trigger_params.product_ids;
        queuePreview();
      });
      parts.push(field("trigger_params.product_ids", t("campaigns.param.product_ids"), products, t("campaigns.param.product_ids_help")));
    }
    parts.push(h("p", { class: "mk-muted" }, t(`campaigns.trigger_help.${state.trigger}`)));
    paramsBox.replaceChildren(...parts);
  }

  // -- steps --------------------------------------------------------------------------------------
  const timeline = h("ol", { class: "timeline", "data-timeline": "" });

  function messageInput(step, i, key, label, { multiline = false } = {}) {
    const control = multiline
      ? h("textarea", { name: `steps[${i}].message.${key}`, rows: 5 }, step.message[key] || "")
      : h("input", { name: `steps[${i}].message.${key}`, value: step.message[key] || "" });
    control.addEventListener("input", () => {
      if (control.value === "") delete step.message[key];
      else step.message[key] = control.value;
      queuePreview();
    });
    return field(`steps[${i}].message.${key}`, label, control);
  }

  // The text a cancellation reason replaces the main one with (reactivation scenarios).
  function reasonVariants(step, i, key) {
    const name = `${key}_by_reason`;
    const variants = step.message[name] || {};
    return h("details", { class: "reason-variants" },
      h("summary", {}, t("campaigns.message.by_reason", { n: Object.keys(variants).length })),
      ...options.reasons.filter((r) => r !== "other").map((reason) => {
        const path = `steps[${i}].message.${name}.${reason}`;
        const control = h("textarea", { name: path, rows: 4 }, variants[reason] || "");
        control.addEventListener("input", () => {
          const current = { ...(step.message[name] || {}) };
          if (control.value === "") delete current[reason];
          else current[reason] = control.value;
          if (Object.keys(current).length) step.message[name] = current;
          else delete step.message[name];
          queuePreview();
        });
        return field(path, t(`campaigns.cancel.reason.${reason}`), control);
      }));
  }

  function messageFields(step, i) {
    const m = step.message;
    const byReason = state.trigger === "subscription_cancelled";
    if (m.type === "text") return [messageInput(step, i, "text", t("campaigns.message.text"), { multiline: true }), byReason ? reasonVariants(step, i, "text") : null];
    if (m.type === "image") return [messageInput(step, i, "image_url", t("campaigns.message.image_url")), messageInput(step, i, "text", t("campaigns.message.caption"), { multiline: true })];
    const layout = select(options.layouts.map((v) => [v, t(`campaigns.layout.${v}`)]), m.layout || "card", { name: `steps[${i}].message.layout` });
    layout.addEventListener("change", () => { m.layout = layout.value; queuePreview(); });
    return [field(`steps[${i}].message.layout`, t("campaigns.message.layout"), layout),
      messageInput(step, i, "title", t("campaigns.message.title")),
      messageInput(step, i, "body", t("campaigns.message.body"), { multiline: true }),
      byReason ? reasonVariants(step, i, "body") : null,
      messageInput(step, i, "image_url", t("campaigns.message.hero")),
      messageInput(step, i, "button_label", t("campaigns.message.button_label")),
      messageInput(step, i, "button_url", t("campaigns.message.button_url"))];
  }

  function stepItem(step, i) {
    const summary = h("span", { class: "mk-muted", "data-timing": "" }, timing(step));
    const goes = h("p", { class: "step-when", "data-when": "" });
    const phone = h("div", { class: "phone", "data-preview": `step-${i}` }, h("p", { class: "mk-muted" }, t("campaigns.preview.empty")));
    phones[i] = phone;
    whens[i] = goes;
    const changed = () => { summary.textContent = timing(step); queuePreview(); };
    const numberInput = (key, max) => {
      const input = h("input", { type: "number", min: 0, max, step: 1, name: `steps[${i}].${key}`, value: step[key] });
      input.addEventListener("input", () => { step[key] = input.value === "" ? 0 : Math.round(Number(input.value)); changed(); });
      return field(`steps[${i}].${key}`, t(`campaigns.step.${key}`), input);
    };
    const stepName = h("input", { name: `steps[${i}].name`, value: step.name, maxlength: 120 });
    stepName.addEventListener("input", () => { step.name = stepName.value; });
    const from = select(["entry", "previous"].map((v) => [v, t(`campaigns.step.from.${v}`)]), step.delay_from, { name: `steps[${i}].delay_from` });
    from.addEventListener("change", () => { step.delay_from = from.value; changed(); });
    const atTime = h("input", { type: "time", name: `steps[${i}].at_time`, value: step.at_time || "" });
    atTime.addEventListener("input", () => { step.at_time = atTime.value || null; changed(); });
    const type = select(["text", "image", "flex"].map((v) => [v, t(`campaigns.type.${v}`)]), step.message.type, { name: `steps[${i}].message.type` });
    const fields = h("div", {}, ...messageFields(step, i));
    type.addEventListener("change", () => {
      const text = step.message.text || step.message.body || "";
      step.message = type.value === "flex" ? { type: "flex", layout: "card", title: step.name || "", body: text }
        : type.value === "image" ? { type: "image", text } : { type: "text", text };
      fields.replaceChildren(...messageFields(step, i).filter(Boolean));
      queuePreview();
    });
    const coupon = select([["", t("campaigns.step.no_coupon")], ...options.offers.map((o) => [o.id, o.title])], step.coupon_offer_id ?? "", { name: `steps[${i}].coupon_offer_id` });
    coupon.addEventListener("change", () => { step.coupon_offer_id = coupon.value ? Number(coupon.value) : null; queuePreview(); });
    const byReason = state.trigger === "subscription_cancelled" || step.delay_source
      ? (() => {
          const box = h("input", { type: "checkbox", name: `steps[${i}].delay_source`, checked: step.delay_source === "cancellation" });
          box.addEventListener("change", () => { step.delay_source = box.checked ? "cancellation" : null; changed(); });
          return field(`steps[${i}].delay_source`, t("campaigns.step.delay_source"), box, t("campaigns.step.delay_source_help"));
        })()
      : null;
    const move = (to) => {
      const [item] = state.steps.splice(i, 1);
      state.steps.splice(to, 0, item);
      drawSteps();
      queuePreview();
    };
    const tools = h("div", { class: "mk-row" },
      h("button", { type: "button", "data-action": "up", disabled: i === 0, onclick: () => move(i - 1), "aria-label": t("campaigns.step.up") }, "↑"),
      h("button", { type: "button", "data-action": "down", disabled: i === state.steps.length - 1, onclick: () => move(i + 1), "aria-label": t("campaigns.step.down") }, "↓"),
      h("button", { type: "button", class: "link", "data-action": "remove-step", onclick: () => { state.steps.splice(i, 1); drawSteps(); queuePreview(); } }, t("campaigns.step.remove")));
    return h("li", { class: "timeline-step", "data-step": i },
      h("div", { class: "timeline-head" }, h("strong", {}, t("campaigns.step.title", { n: i + 1 })), summary, tools),
      goes,
      h("div", { class: "step-grid" },
        h("div", {},
          field(`steps[${i}].name`, t("campaigns.step.name"), stepName),
          h("div", { class: "mk-row step-timing" }, numberInput("delay_days", 365), numberInput("delay_hours", 23),
            field(`steps[${i}].delay_from`, t("campaigns.step.delay_from"), from),
            field(`steps[${i}].at_time`, t("campaigns.step.at_time_label", { zone }), atTime)),
          byReason,
          field(`steps[${i}].message.type`, t("campaigns.message.type"), type),
          fields,
          field(`steps[${i}].coupon_offer_id`, t("campaigns.step.coupon_offer_id"), coupon, t("campaigns.step.coupon_help"))),
        phone));
  }

  function drawSteps() {
    phones.length = 0;
    whens.length = 0;
    timeline.replaceChildren(...state.steps.map(stepItem));
    if (!state.steps.length) timeline.append(h("li", { class: "mk-muted" }, t("campaigns.step.none")));
  }

  const variables = h("p", { class: "mk-muted" }, t("campaigns.edit.variables"), " ",
    ...options.variables.map((v) => h("code", { class: "var" }, `{${v}}`)));

  // -- exits and measurement ------------------------------------------------------------------------
  const exits = h("div", { class: "mk-row", "data-field": "exit_rules" }, ...options.exit_rules.map((rule) => {
    const box = h("input", { type: "checkbox", name: "exit_rules", value: rule, checked: state.exit_rules.some((r) => r.rule === rule) });
    box.addEventListener("change", () => {
      // A rule's own filters (e.g. "ordered" a subscription product) are kept while it stays on.
      state.exit_rules = box.checked ? [...state.exit_rules, { rule }] : state.exit_rules.filter((r) => r.rule !== rule);
    });
    return h("label", {}, box, t(`campaigns.exit.${rule}`));
  }), h("p", { class: "field-error", hidden: true }));
  const holdout = h("input", { type: "number", name: "holdout_percent", min: 0, max: 90, step: 1, value: state.holdout_percent });
  holdout.addEventListener("input", () => { state.holdout_percent = holdout.value === "" ? 0 : Math.round(Number(holdout.value)); });
  const windowDays = h("input", { type: "number", name: "conversion_window_days", min: 1, max: 90, step: 1, value: state.conversion_window_days });
  windowDays.addEventListener("input", () => { state.conversion_window_days = windowDays.value === "" ? 14 : Math.round(Number(windowDays.value)); });
  const once = h("input", { type: "checkbox", name: "once_per_person", checked: state.once_per_person });
  once.addEventListener("change", () => { state.once_per_person = once.checked; });

  // -- preview --------------------------------------------------------------------------------------
  const body = () => ({
    name: state.name, description: state.description, trigger: state.trigger, trigger_params: state.trigger_params,
    segment_id: state.segment_id, entry_definition: state.entry_definition, exit_rules: state.exit_rules,
    once_per_person: state.once_per_person, holdout_percent: state.holdout_percent,
    conversion_window_days: state.conversion_window_days,
    steps: state.steps.map((s) => Object.fromEntries(STEP_KEYS.map((k) => [k, s[k]]))),
  });
  const previewError = h("p", { class: "field-error", hidden: true, "data-preview-error": "" });
  function queuePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 300);
  }
  async function refreshPreview() {
    const mine = ++previewSeq;
    if (!state.steps.length) return;
    let answer;
    try {
      // Step ids belong to the saved scenario; the preview validates the steps as new ones.
      const steps = body().steps.map(({ id: _saved, ...step }) => step);
      answer = await api(`${API}/preview`, { method: "POST", body: { ...body(), steps, name: state.name || "preview", ...preview } });
    } catch (failure) {
      if (mine !== previewSeq) return;
      clearFieldErrors(form);
      if (!showFieldErrors(form, failure)) { previewError.textContent = failure.message; previewError.hidden = false; }
      root.dataset.preview = "invalid";
      return;
    }
    if (mine !== previewSeq) return;
    clearFieldErrors(form);
    previewError.hidden = true;
    answer.steps.forEach((s, i) => {
      if (!phones[i]) return;
      renderChat(phones[i], s.messages, { shopName: options.shop_name || "", time: when(s.sends_at).split(" ").pop() });
      whens[i].replaceChildren(
        h("span", { class: "day-badge" }, t("campaigns.preview.day", { n: s.day })), " ",
        h("span", {}, t("campaigns.preview.sends_at", { when: when(s.sends_at) })),
        ...(s.held_by ? [h("span", { class: "mk-muted", "data-held": s.held_by }, ` ${t(`campaigns.preview.held.${s.held_by}`)}`)] : []));
    });
    root.dataset.preview = "ready";
  }
  const previewLocale = select([["ja", "日本語"], ["en", "English"]], preview.locale, { "aria-label": t("campaigns.preview.locale"), "data-role": "preview-locale" });
  previewLocale.addEventListener("change", () => { preview.locale = previewLocale.value; refreshPreview(); });
  const reason = select([["", t("campaigns.preview.no_reason")], ...options.reasons.map((r) => [r, t(`campaigns.cancel.reason.${r}`)])], preview.reason, { "data-role": "preview-reason" });
  const units = h("input", { type: "number", min: 1, max: 5, value: preview.units_left, "data-role": "preview-units" });
  reason.addEventListener("change", () => { preview.reason = reason.value; refreshPreview(); });
  units.addEventListener("input", () => { preview.units_left = Number(units.value) || 1; refreshPreview(); });
  const previewBar = () => h("div", { class: "mk-row" }, h("span", {}, t("campaigns.preview.as")), previewLocale,
    state.trigger === "subscription_cancelled"
      ? [h("label", {}, t("campaigns.preview.reason"), reason), h("label", {}, t("campaigns.preview.units"), units)]
      : null);
  const previewControls = h("div", { "data-preview-controls": "" });

  // -- saving and status --------------------------------------------------------------------------------
  async function save() {
    clearFieldErrors(form);
    const answer = state.id
      ? await api(`${API}/scenarios/${state.id}`, { method: "PUT", body: body() })
      : await api(`${API}/scenarios`, { method: "POST", body: body() });
    history.replaceState(null, "", withParams(`/campaigns/${answer.id}`));
    root.dataset.id = answer.id;
    return answer;
  }
  async function act(work, done) {
    try {
      const answer = await work();
      // The toast comes once the saved scenario is on the page again: edits made in the form it
      // replaces would be lost.
      await editorPage(root, answer.id);
      toast(done);
    } catch (failure) {
      clearFieldErrors(form);
      previewError.textContent = failure.message;
      previewError.hidden = showFieldErrors(form, failure);
      toast(failure.message, true);
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); act(save, t("campaigns.toast.saved")); });
  const switchTo = state.status === "active" ? "paused" : "active";
  const actions = h("div", { class: "mk-row actions" },
    h("button", { type: "submit", "data-action": "save" }, t("campaigns.action.save")),
    h("button", { type: "button", class: switchTo === "active" ? "primary" : "", "data-action": switchTo === "active" ? "activate" : "pause", onclick: () => act(async () => {
      const answer = await save();
      return api(`${API}/scenarios/${answer.id}/status`, { method: "POST", body: { status: switchTo } });
    }, t(`campaigns.toast.${switchTo}`)) }, t(`campaigns.action.${switchTo === "active" ? "activate" : "pause"}`)),
    state.id ? h("a", { class: "button", href: withParams(`/campaigns/${state.id}/report`), "data-action": "report" }, t("campaigns.action.report")) : null,
    state.id && !state.stats.entered ? h("button", { type: "button", class: "link", "data-action": "delete", onclick: async () => {
      if (!window.confirm(t("campaigns.confirm.delete"))) return;
      try {
        await api(`${API}/scenarios/${state.id}`, { method: "DELETE" });
        location.href = withParams("/campaigns");
      } catch (failure) {
        toast(failure.message, true);
      }
    } }, t("campaigns.action.delete")) : null);

  drawParams();
  drawSteps();
  previewControls.replaceChildren(previewBar());
  trigger.addEventListener("change", () => previewControls.replaceChildren(previewBar()));
  form.append(
    card(t("campaigns.edit.basics"),
      field("name", t("campaigns.edit.name"), name),
      field("description", t("campaigns.edit.description"), description)),
    card(t("campaigns.edit.entry"),
      field("trigger", t("campaigns.edit.trigger"), trigger), paramsBox,
      field("segment_id", t("campaigns.edit.segment_id"), segment, t("campaigns.edit.segment_help"))),
    card(t("campaigns.edit.steps"),
      previewControls, variables, timeline, previewError,
      h("div", { "data-field": "steps" }, h("p", { class: "field-error", hidden: true })),
      h("button", { type: "button", "data-action": "add-step", onclick: () => {
        state.steps.push(blankStep(state.steps[state.steps.length - 1]));
        drawSteps();
        queuePreview();
      } }, t("campaigns.step.add"))),
    card(t("campaigns.edit.exits"),
      h("p", { class: "mk-muted" }, t("campaigns.edit.exits_help")), exits,
      field("holdout_percent", t("campaigns.edit.holdout_percent"), holdout, t("campaigns.edit.holdout_help")),
      field("conversion_window_days", t("campaigns.edit.conversion_window_days"), windowDays),
      h("label", { class: "mk-row" }, once, t("campaigns.edit.once_per_person"))),
    actions);

  const stats = state.stats || {};
  const audience = state.id ? audienceCard(state) : null;
  root.replaceChildren(
    h("p", {}, h("a", { href: withParams("/campaigns") }, t("campaigns.back"))),
    h("h2", { class: "mk-row" }, state.name || t("campaigns.new"), " ",
      h("span", { class: "status-badge", "data-status": state.status }, t(`campaigns.status.${state.status}`))),
    state.id ? h("p", { class: "mk-muted" }, t("campaigns.edit.counts", { entered: num(stats.entered), active: num(stats.active), converted: num(stats.converted) })) : null,
    audience, form);
  root.dataset.status = state.status;
  refreshPreview();
}

// Who the entry conditions select now, and enrolling them at once (e.g. the friends who were
// already there before a follow scenario was switched on).
function audienceCard(scenario) {
  const counts = h("p", { "data-audience": "" }, t("common.loading"));
  const button = h("button", { type: "button", "data-action": "enroll", disabled: scenario.status !== "active" }, t("campaigns.audience.enroll"));
  async function refresh() {
    const answer = await api(`${API}/scenarios/${scenario.id}/audience`);
    counts.textContent = t("campaigns.audience.counts", { count: num(answer.count), reachable: num(answer.reachable) });
    counts.dataset.count = answer.count;
  }
  button.addEventListener("click", async () => {
    if (!window.confirm(t("campaigns.audience.confirm"))) return;
    try {
      const answer = await api(`${API}/scenarios/${scenario.id}/enroll`, { method: "POST" });
      toast(t("campaigns.audience.entered", { n: num(answer.entered) }));
      await refresh();
    } catch (failure) {
      toast(failure.message, true);
    }
  });
  refresh().catch((failure) => { counts.textContent = failure.message; });
  return card(t("campaigns.audience"), counts, h("div", { class: "mk-row" }, button,
    scenario.status === "active" ? null : h("span", { class: "mk-muted" }, t("campaigns.audience.switch_on_first"))));
}
