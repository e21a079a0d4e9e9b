// The scenario pages (issue 7): the list with results, the template gallery, the editor
// (campaign_editor.js) and the holdout/lift report with its charts.
import { api, barChart, formatMoney, toast } from "./kizuna.js";
import { editorPage } from "./campaign_editor.js";
import { card, h, intervalChart, locale, num, pct, points, t, tile, withParams } from "./marketing.js";

const API = "/api/admin/campaigns";
const root = document.getElementById("kz-campaigns");
const badge = (status) => h("span", { class: "status-badge", "data-status": status }, t(`campaigns.status.${status}`));

// -- the list and the gallery --------------------------------------------------------------------

function dayLabel(step) {
  const day = t("campaigns.preview.day", { n: step.delay_days });
  return step.at_time ? `${day} ${step.at_time}` : day;
}

async function listPage() {
  const [{ scenarios }, { templates }] = await Promise.all([api(`${API}/scenarios`), api(`${API}/templates`)]);
  const rows = scenarios.map((s) => h("tr", { "data-scenario": s.id, "data-status": s.status },
    h("td", {}, h("a", { href: withParams(`/campaigns/${s.id}`) }, s.name)),
    h("td", {}, badge(s.status)),
    h("td", {}, t(`campaigns.trigger.${s.trigger}`)),
    h("td", { class: "num", "data-stat": "entered" }, num(s.stats.entered)),
    h("td", { class: "num", "data-stat": "active" }, num(s.stats.active)),
    h("td", { class: "num", "data-stat": "converted" }, num(s.stats.converted)),
    h("td", { class: "num", "data-stat": "sent" }, num(s.stats.sent)),
    h("td", {}, s.holdout_percent ? `${s.holdout_percent}%` : "—"),
    h("td", {}, h("a", { href: withParams(`/campaigns/${s.id}/report`), "data-action": "report" }, t("campaigns.action.report")))));
  const gallery = templates.map((tpl) => h("article", { class: "template-card", "data-template": tpl.key },
    h("h3", {}, tpl.name),
    h("p", { class: "mk-muted" }, tpl.summary),
    h("p", {}, h("span", { class: "status-badge" }, t(`campaigns.trigger.${tpl.trigger}`))),
    h("ol", { class: "mini-timeline" }, ...tpl.steps.map((step) => h("li", {},
      h("span", { class: "day-badge" }, dayLabel(step)), " ", step.name,
      step.coupon ? h("span", { class: "mk-muted" }, ` · ${t("campaigns.gallery.coupon")}`) : null))),
    h("button", { type: "button", class: "primary", "data-action": "use-template", onclick: async (event) => {
      event.target.disabled = true;
      try {
        const scenario = await api(`${API}/templates/${tpl.key}`, { method: "POST" });
        location.href = withParams(`/campaigns/${scenario.id}`);
      } catch (failure) {
        event.target.disabled = false;
        toast(failure.message, true);
      }
    } }, t("campaigns.gallery.use"))));
  const columns = ["name", "status", "trigger"].map((c) => h("th", {}, t(`campaigns.col.${c}`)));
  const numbers = ["entered", "active", "converted", "sent"].map((c) => h("th", { class: "num" }, t(`campaigns.col.${c}`)));
  root.replaceChildren(
    h("div", { class: "mk-row" }, h("a", { class: "button primary", href: withParams("/campaigns/new"), "data-action": "new" }, t("campaigns.new"))),
    card(t("campaigns.list"), rows.length
      ? h("table", { class: "mk-table", "data-list": "" },
          h("thead", {}, h("tr", {}, ...columns, ...numbers, h("th", {}, t("campaigns.col.holdout")), h("th", {}))),
          h("tbody", {}, ...rows))
      : h("p", { class: "mk-muted" }, t("campaigns.none"))),
    card(t("campaigns.gallery"), h("p", { class: "mk-muted" }, t("campaigns.gallery.help")),
      h("div", { class: "template-grid", "data-gallery": "" }, ...gallery)));
}

// -- the report -------------------------------------------------------------------------------------

async function reportPage(id) {
  const report = await api(`${API}/scenarios/${id}/report`);
  const money = (minor) => formatMoney(Math.round(minor || 0), report.currency, locale);
  const groups = [["treatment", report.treatment], ["holdout", report.holdout]];
  const rows = groups.map(([key, g]) => h("tr", { "data-group": key },
    h("td", {}, t(`campaigns.report.${key}`)),
    h("td", { class: "num", "data-cell": "entrants" }, num(g.entrants)),
    h("td", { class: "num", "data-cell": "converted" }, num(g.converted)),
    h("td", { class: "num", "data-cell": "conversion_rate" }, pct(g.conversion_rate)),
    h("td", { class: "num", "data-cell": "revenue_per_entrant" }, g.revenue_per_entrant === null ? "—" : money(g.revenue_per_entrant)),
    report.subscription ? h("td", { class: "num", "data-cell": "continuation_rate" }, pct(g.continuation_rate)) : null));
  const head = ["group", "entrants", "converted", "conversion_rate", "revenue_per_entrant", ...(report.subscription ? ["continuation_rate"] : [])]
    .map((c, i) => h("th", { class: i ? "num" : null }, t(`campaigns.report.col.${c}`, { days: report.window_days })));
  const ratesChart = h("figure", { class: "chart", "aria-label": t("campaigns.report.rates_chart"), "data-chart": "rates" });
  const sections = [
    h("div", { class: "mk-tiles" },
      tile(t("campaigns.report.entrants"), num(report.treatment.entrants + report.holdout.entrants), { key: "entrants" }),
      tile(t("campaigns.report.holdout_share"), `${report.holdout_percent}%`, { key: "holdout_percent" }),
      tile(t("campaigns.report.window"), t("campaigns.report.days", { n: report.window_days }), { key: "window" })),
    h("table", { class: "mk-table", "data-groups": "" }, h("thead", {}, h("tr", {}, ...head)), h("tbody", {}, ...rows)),
    h("h3", {}, t("campaigns.report.rates_chart")), ratesChart,
  ];
  const open = report.treatment.window_open + report.holdout.window_open;
  if (open) sections.push(h("p", { class: "mk-muted", "data-open": open }, t("campaigns.report.window_open", { n: num(open), days: report.window_days })));
  if (!report.holdout.entrants) sections.push(h("p", { class: "mk-notice", "data-no-holdout": "" }, t("campaigns.report.no_holdout")));

  // Each difference: its sentence, the interval on a line through zero, and what it means.
  const difference = (key, interval, format) => {
    if (!interval) return null;
    const chart = h("figure", { class: "chart", "aria-label": t(`campaigns.report.${key}_chart`), "data-chart": key });
    intervalChart(chart, interval, format);
    return h("div", { class: "mk-stack", "data-difference": key, "data-significant": String(interval.significant) },
      h("h3", {}, t(`campaigns.report.${key}`)),
      h("p", {}, t("campaigns.report.interval", { estimate: format(interval.estimate), low: format(interval.low), high: format(interval.high) })),
      chart,
      h("p", { class: interval.significant ? "mk-notice info" : "mk-muted" },
        t(interval.significant ? "campaigns.report.significant" : "campaigns.report.not_significant")));
  };
  sections.push(
    difference("conversion", report.conversion_difference, points),
    difference("revenue", report.revenue_per_entrant_difference, money),
    report.subscription ? difference("continuation", report.continuation_difference, points) : null);
  if (report.incremental_revenue !== null) sections.push(h("p", { "data-incremental": "" }, t("campaigns.report.incremental", { amount: money(report.incremental_revenue) })));
  sections.push(h("p", { class: "mk-muted" }, t("campaigns.report.method")));

  root.replaceChildren(
    h("p", {}, h("a", { href: withParams(`/campaigns/${id}`) }, t("campaigns.report.back"))),
    h("h2", { class: "mk-row" }, report.scenario.name, " ", badge(report.scenario.status)),
    card(t("campaigns.report"), ...sections.filter(Boolean)));
  const bars = groups.map(([key, g]) => ({ label: t(`campaigns.report.${key}`), value: Math.round(1000 * (g.conversion_rate || 0)) / 10 }));
  if (report.subscription) bars.push(...groups.map(([key, g]) => ({ label: `${t(`campaigns.report.${key}`)} · ${t("campaigns.report.col.continuation_rate")}`, value: Math.round(1000 * (g.continuation_rate || 0)) / 10 })));
  barChart(ratesChart, bars, (v) => `${v}%`);
}

async function start() {
  try {
    const page = root.dataset.page;
    if (page === "campaigns") await listPage();
    else if (page === "campaigns_report") await reportPage(Number(root.dataset.id));
    else await editorPage(root, Number(root.dataset.id) || 0);
    root.dataset.ready = "true";
  } catch (failure) {
    root.replaceChildren(h("p", { class: "critical" }, `${t("common.error")} (${failure.message})`));
  }
}

start();
