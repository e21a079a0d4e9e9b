// The segments page (issue 7): a filter builder over every field the segments package offers,
// with a live count as the merchant edits, and the saved segments with their live counts.
// Data from the API reaches the page only as text (textContent) or attributes, never as HTML.
import { api, barChart, toast } from "./kizuna.js";
import { card, h, num, select, t } from "./marketing.js";

const root = document.getElementById("kz-segments");
const search = location.search;
const withParams = (path, extra = {}) => {
  const params = new URLSearchParams(search);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  const query = params.toString();
  return query ? `${path}?${query}` : path;
};


let meta = null; // /fields
let specs = {};
let digits = 0; // minor-unit digits of the shop currency

// -- one condition -----------------------------------------------------------------------------

const DEFAULTS = {
  number: (spec) => ({ op: "gte", value: spec.minimum || 1 }),
  date: () => ({ op: "within_days", value: 30 }),
  bool: () => ({ op: "is", value: true }),
  choice: (spec) => ({ op: "in", value: [spec.choices[0]] }),
  tags: () => ({ op: "any", value: [] }),
  bought: () => ({ op: "any", value: [] }),
  survey: () => ({ op: "in", value: null }),
  tier: () => ({ op: "in", value: meta.tiers.length ? [meta.tiers[0].id] : [] }),
};

function choiceLabel(field, value) {
  if (field === "nine_segment_cell") return (meta.cells.find((c) => c.value === value) || {}).label || value;
  if (field === "language") return t(`segments.language.${value}`);
  if (field === "subscription_status") return t(`segments.subscription.${value}`);
  return value;
}

function checkboxes(values, chosen, label, onchange) {
  return h("span", { class: "choices" }, ...values.map((v) =>
    h("label", {}, h("input", { type: "checkbox", value: v, checked: chosen.includes(v), onchange }), label(v))));
}

function listOf(text) {
  return text.split(/[,、]/).map((s) => s.trim()).filter(Boolean);
}

function conditionRow(node, onchange, onremove) {
  const row = h("div", { class: "cond", "data-condition": "" });
  let state = { ...node };

  function draw() {
    const spec = specs[state.field];
    const fieldSel = select(meta.fields.map((f) => [f.field, t(`segments.field.${f.field}`)]), state.field,
      { "aria-label": t("segments.builder"), "data-role": "field" });
    fieldSel.addEventListener("change", () => {
      state = { field: fieldSel.value, ...DEFAULTS[specs[fieldSel.value].kind](specs[fieldSel.value]) };
      draw();
      onchange();
    });
    const parts = [fieldSel];
    if (spec.ops.length > 1) {
      const opSel = select(spec.ops.map((o) => [o, t(`segments.op.${o}`)]), state.op, { "data-role": "op", "aria-label": "op" });
      opSel.addEventListener("change", () => {
        const before = state.op;
        state.op = opSel.value;
        if (spec.kind === "date" || spec.kind === "number") state.value = reshape(spec, before, state.op, state.value);
        draw();
        onchange();
      });
      parts.push(opSel);
    }
    parts.push(...valueControls(spec));
    parts.push(h("button", { type: "button", class: "link", "data-role": "remove", onclick: onremove }, t("segments.remove")));
    row.replaceChildren(...parts.filter(Boolean), h("p", { class: "field-error", hidden: true }));
  }

  function reshape(spec, before, after, value) {
    if (spec.kind === "number") return after === "between" ? [Number(value) || 0, Number(value) || 0] : (Array.isArray(value) ? value[0] : value);
    if (after === "none") return null;
    if (after === "within_days" || after === "over_days") return typeof value === "number" ? value : 30;
    const today = new Date().toISOString().slice(0, 10);
    if (after === "between") return [today, today];
    return typeof value === "string" ? value : today;
  }

  function numberInput(value, set, attrs = {}) {
    const input = h("input", { type: "number", value: value ?? "", step: "1", "data-role": "value", ...attrs });
    input.addEventListener("input", () => { set(input.value === "" ? null : Math.round(Number(input.value))); onchange(); });
    return input;
  }

  function valueControls(spec) {
    const f = state.field;
    if (spec.kind === "number") {
      const money = f === "total_spent";
      const toShow = (v) => (v === null || v === undefined ? "" : money ? v / 10 ** digits : v);
      const toStore = (v) => (v === null ? null : money ? Math.round(v * 10 ** digits) : v);
      const attrs = { min: spec.minimum ?? undefined, max: spec.maximum ?? undefined };
      if (state.op === "between") {
        const [lo, hi] = Array.isArray(state.value) ? state.value : [state.value, state.value];
        return [
          numberInput(toShow(lo), (v) => { state.value = [toStore(v), state.value[1]]; }, attrs),
          h("span", {}, t("segments.value.and")),
          numberInput(toShow(hi), (v) => { state.value = [state.value[0], toStore(v)]; }, attrs),
          money ? h("span", { class: "mk-muted" }, meta.currency) : null,
        ];
      }
      return [numberInput(toShow(state.value), (v) => { state.value = toStore(v); }, attrs), money ? h("span", { class: "mk-muted" }, meta.currency) : null];
    }
    if (spec.kind === "date") {
      if (state.op === "none") return [];
      if (state.op === "within_days" || state.op === "over_days")
        return [numberInput(state.value, (v) => { state.value = v; }, { min: 0 }), h("span", {}, t("segments.value.days"))];
      const dateInput = (value, set) => {
        const input = h("input", { type: "date", value: value || "", "data-role": "value" });
        input.addEventListener("change", () => { set(input.value); onchange(); });
        return input;
      };
      if (state.op === "between") {
        const [a, b] = Array.isArray(state.value) ? state.value : ["", ""];
        return [dateInput(a, (v) => { state.value = [v, state.value[1]]; }), h("span", {}, t("segments.value.and")),
          dateInput(b, (v) => { state.value = [state.value[0], v]; })];
      }
      return [dateInput(state.value, (v) => { state.value = v; })];
    }
    if (spec.kind === "bool") {
      const sel = select([["true", t("segments.value.yes")], ["false", t("segments.value.no")]], String(state.value), { "data-role": "value" });
      sel.addEventListener("change", () => { state.value = sel.value === "true"; onchange(); });
      return [sel];
    }
    if (spec.kind === "choice") {
      const boxes = checkboxes(spec.choices, state.value || [], (v) => choiceLabel(f, v), () => {
        state.value = [...boxes.querySelectorAll("input:checked")].map((i) => i.value);
        onchange();
      });
      return [boxes];
    }
    if (spec.kind === "tags" || (spec.kind === "bought" && f === "bought_product_tag")) {
      const known = f === "customer_tag" ? meta.customer_tags : meta.product_tags;
      const listId = `tags-${f}`;
      const input = h("input", { type: "text", value: (state.value || []).join(", "), list: listId, placeholder: t("segments.value.comma_hint"), "data-role": "value" });
      input.addEventListener("input", () => { state.value = listOf(input.value); onchange(); });
      const out = [input, h("datalist", { id: listId }, ...known.map((tag) => h("option", { value: tag })))];
      if (spec.kind === "bought") out.push(...withinDays());
      return out;
    }
    if (spec.kind === "bought" && f === "bought_product_type") {
      const boxes = checkboxes(meta.product_types, state.value || [], (v) => v, () => {
        state.value = [...boxes.querySelectorAll("input:checked")].map((i) => i.value);
        onchange();
      });
      return [boxes, ...withinDays()];
    }
    if (spec.kind === "bought") {
      // bought_product or bought_collection: pick from the shop's products or collections.
      const choices = f === "bought_collection" ? meta.collections : meta.products;
      const chosen = (state.value || []).map(String);
      const sel = h("select", { multiple: true, size: 4, "data-role": "value", "aria-label": t(`segments.field.${f}`) },
        ...choices.map((p) => h("option", { value: p.id, selected: chosen.includes(String(p.id)) }, p.title)));
      sel.addEventListener("change", () => { state.value = [...sel.selectedOptions].map((o) => Number(o.value)); onchange(); });
      return [sel, ...withinDays()];
    }
    if (spec.kind === "tier") {
      const names = Object.fromEntries(meta.tiers.map((tier) => [String(tier.id), tier.name]));
      const boxes = checkboxes(meta.tiers.map((tier) => String(tier.id)), (state.value || []).map(String), (v) => names[v], () => {
        state.value = [...boxes.querySelectorAll("input:checked")].map((i) => Number(i.value));
        onchange();
      });
      return meta.tiers.length ? [boxes] : [h("span", { class: "mk-muted" }, t("segments.value.no_tiers"))];
    }
    if (spec.kind === "survey") {
      const key = state.value ? `${state.value.survey}|${state.value.question}` : "";
      const questions = meta.surveys.map((s) => [`${s.survey}|${s.question}`, t(`segments.survey.${s.survey}.${s.question}`)]);
      const sel = select([["", t("segments.value.pick")], ...questions], key, { "data-role": "survey", "aria-label": t("segments.value.survey") });
      sel.addEventListener("change", () => {
        const [survey, question] = sel.value.split("|");
        state.value = sel.value ? { survey, question, answers: [] } : null;
        draw();
        onchange();
      });
      const out = [sel];
      if (state.value) {
        const found = meta.surveys.find((s) => s.survey === state.value.survey && s.question === state.value.question);
        const boxes = checkboxes(found ? found.answers : [], state.value.answers || [], (v) => t(`segments.answer.${v}`), () => {
          state.value = { ...state.value, answers: [...boxes.querySelectorAll("input:checked")].map((i) => i.value) };
          onchange();
        });
        out.push(boxes);
      }
      return out;
    }
    return [];
  }

  function withinDays() {
    const input = h("input", { type: "number", min: 1, max: 3650, value: state.within_days ?? "", placeholder: t("segments.value.days"), "data-role": "within_days", "aria-label": t("segments.value.within_days") });
    input.addEventListener("input", () => {
      if (input.value === "") delete state.within_days;
      else state.within_days = Math.round(Number(input.value));
      onchange();
    });
    return [h("span", { class: "mk-muted" }, t("segments.value.within_days")), input];
  }

  draw();
  row.read = () => {
    const out = { field: state.field, op: state.op, value: state.value };
    if (state.within_days) out.within_days = state.within_days;
    return out;
  };
  return row;
}

// -- a group of conditions ---------------------------------------------------------------------

function groupBox(group, onchange, depth = 1, onremove = null) {
  const box = h("div", { class: "cond-group", "data-group": depth });
  const match = select([["all", t("segments.match.all")], ["any", t("segments.match.any")]], group.match || "all",
    { "data-role": "match", "aria-label": t("segments.match.all") });
  match.addEventListener("change", onchange);
  const list = h("div", { class: "mk-stack" });
  const children = [];

  function add(node) {
    let child;
    const remove = () => {
      children.splice(children.indexOf(child), 1);
      child.remove();
      onchange();
    };
    child = node.conditions ? groupBox(node, onchange, depth + 1, remove) : conditionRow(node, onchange, remove);
    children.push(child);
    list.append(child);
  }
  for (const node of group.conditions || []) add(node);

  const firstField = meta.fields[0];
  const actions = h("div", { class: "mk-row" },
    h("button", { type: "button", "data-action": "add-condition", onclick: () => {
      add({ field: "order_count", ...DEFAULTS.number(specs.order_count || firstField) });
      onchange();
    } }, t("segments.add_condition")),
    depth < 2 ? h("button", { type: "button", "data-action": "add-group", onclick: () => {
      add({ match: "any", conditions: [] });
      onchange();
    } }, t("segments.add_group")) : null,
    onremove ? h("button", { type: "button", class: "link", onclick: onremove }, t("segments.remove")) : null);
  box.append(match, list, actions);
  box.read = () => ({ match: match.value, conditions: children.map((c) => c.read()) });
  box.rows = () => children;
  return box;
}

// Map an error path ("definition.conditions[1].conditions[0].value") to its row.
function rowAt(groupEl, path) {
  const steps = [...path.matchAll(/conditions\[(\d+)\]/g)].map((m) => Number(m[1]));
  let el = groupEl;
  for (const index of steps) {
    const rows = el.rows ? el.rows() : [];
    if (!rows[index]) return el;
    el = rows[index];
  }
  return el;
}

// -- the page ----------------------------------------------------------------------------------

async function render() {
  try {
    meta = await api("/api/admin/segments/fields");
  } catch (error) {
    root.replaceChildren(h("p", { class: "critical" }, t("common.error")));
    return;
  }
  specs = Object.fromEntries(meta.fields.map((f) => [f.field, f]));
  digits = meta.currency === "JPY" ? 0 : 2;

  let current = { id: null, name: "", description: "", definition: { match: "all", conditions: [] } };
  const savedList = h("div", { "data-list": "segments" });
  const editorSlot = h("div");
  const countValue = h("p", { class: "live-count", "data-live-count": "" }, "—");
  const countReach = h("p", { class: "mk-muted", "data-live-reachable": "" });
  const countChart = h("figure", { class: "chart", "aria-label": t("segments.count.chart") });
  const sampleList = h("ul", { "data-sample": "" });
  const error = h("p", { class: "field-error", hidden: true, "data-error": "" });
  let group = null;
  let timer = null;
  let sequence = 0;

  async function refreshCount() {
    const mine = ++sequence;
    const definition = group.read();
    countReach.textContent = t("segments.count.counting");
    group.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    group.querySelectorAll(".cond > .field-error").forEach((el) => { el.hidden = true; });
    error.hidden = true;
    try {
      const [counts, sample] = await Promise.all([
        api("/api/admin/segments/count", { method: "POST", body: { definition } }),
        api("/api/admin/segments/sample", { method: "POST", body: { definition } }),
      ]);
      if (mine !== sequence) return;
      countValue.textContent = t("segments.count.live", { count: num(counts.count) });
      countReach.textContent = t("segments.count.reachable", { reachable: num(counts.reachable) });
      root.dataset.count = counts.count;
      root.dataset.reachable = counts.reachable;
      barChart(countChart, [
        { label: t("segments.count.people"), value: counts.count },
        { label: t("segments.count.reach"), value: counts.reachable },
      ], num);
      sampleList.replaceChildren(...(sample.members.length
        ? sample.members.map((m) => h("li", {}, m.name || `#${m.customer_id || m.line_user_id}`))
        : [h("li", { class: "mk-muted" }, t("segments.sample_none"))]));
    } catch (failure) {
      if (mine !== sequence) return;
      showErrors(failure);
      countReach.textContent = "";
    }
  }

  function showErrors(failure) {
    const fields = (failure.data && failure.data.details && failure.data.details.fields) || {};
    const entries = Object.entries(fields);
    if (!entries.length) {
      error.textContent = failure.message;
      error.hidden = false;
      return;
    }
    for (const [path, message] of entries) {
      if (path === "name") {
        const nameField = editorSlot.querySelector("[name=name]");
        nameField.setAttribute("aria-invalid", "true");
        error.textContent = message;
        error.hidden = false;
        continue;
      }
      const target = rowAt(group, path);
      target.setAttribute("aria-invalid", "true");
      const slot = target.querySelector(":scope > .field-error");
      if (slot) {
        slot.textContent = message;
        slot.hidden = false;
      } else {
        error.textContent = message;
        error.hidden = false;
      }
    }
  }

  function changed() {
    clearTimeout(timer);
    timer = setTimeout(refreshCount, 350);
  }

  function drawEditor() {
    group = groupBox(current.definition, changed);
    const name = h("input", { name: "name", value: current.name, required: true, maxlength: 255 });
    const description = h("input", { name: "description", value: current.description || "", maxlength: 1000 });
    const save = h("button", { type: "submit", class: "primary", "data-action": "save" }, t("segments.save"));
    const form = h("form", { class: "mk-form", "data-form": "segment" },
      h("div", { class: "field" }, h("label", {}, t("segments.name"), name)),
      h("div", { class: "field" }, h("label", {}, t("segments.description"), description)),
      group, error,
      h("div", { class: "mk-row" }, save,
        current.id ? h("a", { class: "button", href: withParams("/broadcasts/0", { segment: current.id }) }, t("segments.broadcast")) : null,
        h("button", { type: "button", onclick: () => { current = blank(); drawEditor(); } }, t("segments.new"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { name: name.value, description: description.value, definition: group.read() };
      try {
        const saved = current.id
          ? await api(`/api/admin/segments/${current.id}`, { method: "PUT", body })
          : await api("/api/admin/segments", { method: "POST", body });
        current = saved;
        toast(t("segments.saved_toast"));
        await drawSaved();
        drawEditor();
      } catch (failure) {
        showErrors(failure);
        toast(failure.message, true);
      }
    });
    editorSlot.replaceChildren(card(current.id ? current.name : t("segments.new"), form));
    refreshCount();
  }

  const blank = () => ({ id: null, name: "", description: "", definition: { match: "all", conditions: [] } });

  async function drawSaved() {
    const answer = await api("/api/admin/segments");
    if (!answer.segments.length) {
      savedList.replaceChildren(h("p", { class: "mk-muted" }, t("segments.none_saved")));
      return;
    }
    savedList.replaceChildren(...answer.segments.map((s) => h("div", { class: "segment-item", "data-segment": s.id, "aria-current": current.id === s.id ? "true" : null },
      h("div", {}, h("strong", {}, s.name), s.description ? h("div", { class: "mk-muted" }, s.description) : null),
      h("div", { class: "counts" },
        h("span", { "data-count": s.count }, `${num(s.count)} / `),
        h("span", { "data-reachable": s.reachable, title: t("segments.count.reach") }, `LINE ${num(s.reachable)}`)),
      h("div", { class: "mk-row" },
        h("button", { type: "button", "data-action": "edit", onclick: () => { current = s; drawEditor(); drawSaved(); } }, t("segments.edit")),
        h("button", { type: "button", class: "link", "data-action": "delete", onclick: async () => {
          if (!window.confirm(t("segments.confirm_delete", { name: s.name }))) return;
          try {
            await api(`/api/admin/segments/${s.id}`, { method: "DELETE" });
            toast(t("segments.deleted_toast"));
            if (current.id === s.id) { current = blank(); drawEditor(); }
            await drawSaved();
          } catch (failure) {
            toast(failure.message, true);
          }
        } }, t("segments.delete"))))));
  }

  root.replaceChildren(h("div", { class: "mk-grid" },
    h("div", { class: "mk-stack" }, editorSlot),
    h("div", { class: "mk-stack" },
      card(t("segments.count.people"), countValue, countReach, countChart),
      card(t("segments.sample"), sampleList),
      card(t("segments.saved"), savedList))));
  drawEditor();
  await drawSaved();
  root.dataset.ready = "true";
}

render();
