// The reports page (/reports, supervisors and admins): filters (local dates of the site's
// zone, buckets, group, agent, type, channel, queue) kept in the address, so a view can be
// bookmarked; figures, two uPlot charts (ticket volume; calls and service level) and tables
// from GET /api/v1/reports/{tickets,agents,queues}; CSV / XLSX downloads of the same
// requests (format=csv|xlsx). Charts use bucket indexes on the x axis with the server's
// local labels, so the browser's own zone never shifts a bucket. uPlot comes from
// /static/vendor (scripts/vendor.py), never a CDN. Outside text only via h()/textContent.
import { api, items, logout } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, langSwitch, t, tOr } from "./i18n.js";
import { rememberLocale } from "./notifyprefs.js";

const CHANNELS = ["phone", "email", "web", "ivr", "api"];
const FILTERS = ["from", "to", "bucket", "group", "agent", "type", "channel", "queue"];
/** Which filters each report takes (the API refuses nothing extra, but says less). */
const TAKES = {
  tickets: ["from", "to", "bucket", "group", "agent", "type", "channel"],
  agents: ["from", "to", "group", "agent", "type", "channel"],
  queues: ["from", "to", "bucket", "group", "queue"],
};
const R = { me: null, groups: [], users: [], types: [], zone: null, data: null, charts: [] };

function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  fill(el, text, detail ? h("small", { class: "detail" }, detail) : null);
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

// --- formatting -----------------------------------------------------------------------------

const dash = "—";
const num = (v) => (v === null || v === undefined ? dash : Number(v).toLocaleString());
const pct = (v) => (v === null || v === undefined ? dash : `${(v * 100).toFixed(1)} %`);
function secs(v) {
  if (v === null || v === undefined) return dash;
  if (v < 120) return `${Math.round(v)} ${t("rp_s")}`;
  if (v < 7200) return `${Math.round(v / 60)} ${t("dur_min")}`;
  return `${(v / 3600).toFixed(1)} ${t("dur_h")}`;
}
/** Today in the site's zone (known from the first report; the browser's until then). */
function today() {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: R.zone || undefined, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  } catch { return new Date().toISOString().slice(0, 10); }
}

/** A bucket's label from its ISO start (local to the site: the text, not the browser). */
function label(start, bucket) {
  const [day, time] = start.split("T");
  return bucket === "hour" ? `${day.slice(5)} ${time.slice(0, 5)}` : day.slice(5);
}

/** Every bucket key of the period ("YYYY-MM-DD" or "YYYY-MM-DDTHH"): the charts' x axis. */
function bucketKeys(from, to, bucket) {
  const keys = [];
  const end = new Date(`${to}T00:00:00Z`);
  for (let d = new Date(`${from}T00:00:00Z`); d <= end; d.setUTCDate(d.getUTCDate() + 1)) {
    const day = d.toISOString().slice(0, 10);
    if (bucket === "hour") for (let hr = 0; hr < 24; hr += 1) keys.push(`${day}T${String(hr).padStart(2, "0")}`);
    else keys.push(day);
  }
  return keys;
}
const keyOf = (start, bucket) => start.slice(0, bucket === "hour" ? 13 : 10);

// --- filters --------------------------------------------------------------------------------

function form() { return $("#filters"); }

function current() {
  const f = form();
  const out = {};
  for (const name of FILTERS) {
    const v = (f.elements[name].value || "").trim();
    if (v) out[name] = v;
  }
  return out;
}

function query(report, extra = {}) {
  const all = current();
  const p = new URLSearchParams();
  for (const name of TAKES[report]) if (all[name]) p.set(name, all[name]);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return `reports/${report}?${p}`;
}

function setRange(days) {
  const end = today();
  const start = new Date(`${end}T00:00:00Z`);
  start.setUTCDate(start.getUTCDate() - (days - 1));
  form().elements.from.value = start.toISOString().slice(0, 10);
  form().elements.to.value = end;
  form().elements.bucket.value = days === 1 ? "hour" : "day";
}

function options(select, list, all) {
  fill(select, h("option", { value: "" }, all), list.map(([v, text]) => h("option", { value: v }, text)));
}

function fillChoices() {
  const f = form().elements;
  const zh = (x) => (document.documentElement.lang === "zh-CN" && x.name_zh) || x.name;
  const keep = FILTERS.map((n) => f[n].value);
  options(f.group, R.groups.map((g) => [g.key, zh(g)]), t("rp_all"));
  options(f.agent, R.users.map((u) => [u.username, u.display_name || u.username]), t("rp_all"));
  options(f.type, R.types.map((x) => [x.key, zh(x)]), t("rp_all"));
  options(f.channel, CHANNELS.map((c) => [c, tOr("ch_", c)]), t("rp_all"));
  fill($("#queue-names"), [...new Set(R.groups.map((g) => g.queue).filter(Boolean))].map((q) => h("option", { value: q })));
  FILTERS.forEach((n, i) => { f[n].value = keep[i]; });
}

// --- rendering ------------------------------------------------------------------------------

function kpi(key, value, hint) {
  return h("div", { class: "rp-kpi", dataset: { kpi: key } },
    h("span", { class: "label" }, t(key)), h("span", { class: "value" }, value),
    hint ? h("span", { class: "hint" }, hint) : null);
}

function renderKpis() {
  const { tickets, queues } = R.data;
  const tk = tickets.total;
  const c = queues.total;
  fill($("#kpis"),
    kpi("rp_created", num(tk.created)), kpi("rp_solved", num(tk.solved)),
    kpi("rp_fcr", pct(tk.fcr_rate)), kpi("rp_frt", secs(tk.first_response_avg_s)),
    kpi("rp_res", secs(tk.resolution_avg_s)), kpi("rp_overdue", pct(tk.overdue_rate)),
    kpi("rp_reopen", pct(tk.reopen_rate)), kpi("rp_csat", dash, t("rp_csat_hint")),
    kpi("rp_offered", num(c.offered)), kpi("rp_answered", num(c.answered)),
    kpi("service_level", pct(c.service_level), `≤ ${queues.sl_threshold_s} ${t("rp_s")}`),
    kpi("abandon_rate", pct(c.abandon_rate)), kpi("rp_asa", secs(c.asa_s)), kpi("rp_aht", secs(c.aht_s)));
}

function table(el, columns, rows) {
  if (!rows.length) { fill(el, h("tbody", {}, h("tr", {}, h("td", { class: "muted" }, t("rp_empty"))))); return; }
  fill(el, h("thead", {}, h("tr", {}, columns.map(([key, , isNum]) => h("th", { class: isNum ? "num" : "" }, t(key))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map(([, get, isNum]) => h("td", { class: isNum ? "num" : "" }, get(r)))))));
}

const TICKET_COLS = [
  ["rp_created", (r) => num(r.created), true], ["rp_solved", (r) => num(r.solved), true],
  ["rp_fcr", (r) => pct(r.fcr_rate), true], ["rp_frt", (r) => secs(r.first_response_avg_s), true],
  ["rp_res", (r) => secs(r.resolution_avg_s), true], ["rp_overdue", (r) => pct(r.overdue_rate), true],
  ["rp_reopen", (r) => pct(r.reopen_rate), true],
];

function renderTables() {
  const { tickets, agents, queues } = R.data;
  const zh = document.documentElement.lang === "zh-CN";
  table($("#t-queues"), [
    ["rp_bucket_start", (r) => label(r.bucket_start, queues.bucket)], ["queue", (r) => r.queue],
    ["rp_offered", (r) => num(r.offered), true], ["rp_answered", (r) => num(r.answered), true],
    ["rp_abandoned", (r) => num(r.abandoned), true], ["rp_short", (r) => num(r.short_abandoned), true],
    ["rp_in_sl", (r) => num(r.answered_within_sl), true], ["service_level", (r) => pct(r.service_level), true],
    ["abandon_rate", (r) => pct(r.abandon_rate), true], ["rp_asa", (r) => secs(r.asa_s), true],
    ["rp_aht", (r) => secs(r.aht_s), true],
  ], queues.rows);
  table($("#t-agents"), [
    ["agent", (r) => r.name], ["extension", (r) => r.extension || dash],
    ["rp_handled", (r) => num(r.tickets_handled), true], ["rp_solved", (r) => num(r.tickets_solved), true],
    ["rp_fcr", (r) => pct(r.fcr_rate), true], ["rp_res", (r) => secs(r.resolution_avg_s), true],
    ["rp_offered", (r) => num(r.calls_offered), true], ["rp_answered", (r) => num(r.calls_answered), true],
    ["rp_missed", (r) => num(r.calls_missed), true], ["rp_talk", (r) => secs(r.talk_s), true],
    ["rp_aht", (r) => secs(r.aht_s), true], ["rp_idle", () => dash, true], ["rp_csat", () => dash, true],
  ], agents.rows);
  table($("#t-types"), [["type", (r) => (r.type ? (zh && r.type_name_zh) || r.type_name || r.type : t("rp_untyped"))], ...TICKET_COLS], tickets.by_type);
  table($("#t-channels"), [["rp_channel", (r) => tOr("ch_", r.channel)], ...TICKET_COLS], tickets.by_channel);
  table($("#t-buckets"), [["rp_bucket_start", (r) => label(r.bucket_start, tickets.bucket)], ...TICKET_COLS], tickets.by_bucket);
}

const COUNT_AXIS = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] };

function chart(el, labels, series, data, axes) {
  const width = Math.max(280, el.clientWidth || 600);
  const opts = {
    width, height: 230, legend: { live: false },
    // counts from 0 in whole steps; the service level in percent on its own axis
    scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] }, pct: { range: [0, 100] } },
    axes: [{ values: (u, splits) => splits.map((i) => labels[i] ?? ""), space: 60 }, ...axes],
    series: [{}, ...series],
  };
  const plot = new window.uPlot(opts, [labels.map((_, i) => i), ...data], el);
  // follows its panel's width (a phone turned, a window resized) before the next paint
  const watch = new ResizeObserver(() => {
    const w = Math.max(280, el.clientWidth);
    if (w !== plot.width) plot.setSize({ width: w, height: 230 });
  });
  watch.observe(el);
  R.charts.push([plot, watch]);
}

function renderCharts() {
  for (const [plot, watch] of R.charts) { watch.disconnect(); plot.destroy(); }
  R.charts = [];
  const { tickets, queues } = R.data;
  const bucket = tickets.bucket;
  const keys = bucketKeys(tickets.from, tickets.to, bucket);
  const labels = keys.map((k) => (bucket === "hour" ? `${k.slice(5, 10)} ${k.slice(11)}:00` : k.slice(5)));
  const at = new Map(keys.map((k, i) => [k, i]));
  const zeros = () => keys.map(() => 0);
  const created = zeros(); const solved = zeros();
  for (const r of tickets.by_bucket) {
    const i = at.get(keyOf(r.bucket_start, bucket));
    if (i !== undefined) { created[i] = r.created; solved[i] = r.solved; }
  }
  chart($("#chart-tickets"), labels,
    [{ label: t("rp_created"), stroke: "#1f6feb", width: 2 }, { label: t("rp_solved"), stroke: "#1a7f37", width: 2 }],
    [created, solved], [COUNT_AXIS]);
  const offered = zeros(); const answered = zeros(); const abandoned = zeros();
  const inSl = zeros(); const base = zeros();
  for (const r of queues.rows) {
    const i = at.get(keyOf(r.bucket_start, queues.bucket));
    if (i === undefined) continue;
    offered[i] += r.offered; answered[i] += r.answered; abandoned[i] += r.abandoned;
    inSl[i] += r.answered_within_sl; base[i] += r.offered - r.short_abandoned;
  }
  const sl = keys.map((_, i) => (base[i] ? (100 * inSl[i]) / base[i] : null));
  chart($("#chart-calls"), labels, [
    { label: t("rp_offered"), stroke: "#1f6feb", width: 2 },
    { label: t("rp_answered"), stroke: "#1a7f37", width: 2 },
    { label: t("rp_abandoned"), stroke: "#c62828", width: 2 },
    { label: `${t("service_level")} %`, stroke: "#b26a00", width: 2, dash: [6, 4], scale: "pct" },
  ], [offered, answered, abandoned, sl], [COUNT_AXIS, { scale: "pct", side: 1, grid: { show: false }, values: (u, v) => v.map((x) => `${x}%`) }]);
}

function renderExports() {
  for (const slot of document.querySelectorAll(".rp-export")) {
    const report = slot.dataset.report;
    fill(slot, h("a", { href: `/api/v1/${query(report, { format: "csv" })}`, download: "" }, "CSV"),
      h("a", { href: `/api/v1/${query(report, { format: "xlsx" })}`, download: "" }, "XLSX"));
  }
}

function render() {
  if (!R.data) return;
  renderKpis(); renderTables(); renderCharts(); renderExports();
}

async function load() {
  const status = $("#rp-status");
  status.hidden = false;
  status.textContent = t("loading");
  document.body.dataset.ready = "0";
  const asked = current();
  if (asked.from && asked.to) history.replaceState(null, "", `/reports?${new URLSearchParams(asked)}`);
  try {
    const [tickets, agents, queues] = await Promise.all(
      ["tickets", "agents", "queues"].map((r) => api("GET", query(r))));
    R.data = { tickets, agents, queues };
    R.zone = tickets.timezone;
    // no dates asked: the server's default period (the last 7 days of the site)
    form().elements.from.value = tickets.from;
    form().elements.to.value = tickets.to;
    status.hidden = true;
    render();
  } catch (err) {
    const { headline, detail } = describeError(err);
    status.textContent = `${headline}${err.fields ? `: ${err.fields.join("; ")}` : ""}`;
    toast(headline, "error", detail);
  }
  document.body.dataset.ready = "1";
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(() => { fillChoices(); render(); rememberLocale(); }));
  $("#logout").addEventListener("click", logout);
  try {
    R.me = await api("GET", "auth/me");
    [R.groups, R.users, R.types] = await Promise.all([
      api("GET", "groups").then(items), api("GET", "users").then(items), api("GET", "ticket-types").then(items)]);
  } catch (err) {
    const { headline, detail } = describeError(err);
    toast(headline, "error", detail);
    R.groups = R.groups || []; R.users = R.users || []; R.types = R.types || [];
  }
  R.users = (R.users || []).filter((u) => ["agent", "supervisor", "admin"].includes(u.role));
  if (R.me) $("#me").textContent = R.me.display_name || R.me.username;
  fillChoices();
  const asked = new URLSearchParams(location.search);
  for (const name of FILTERS) if (asked.get(name)) form().elements[name].value = asked.get(name);
  form().addEventListener("submit", (e) => { e.preventDefault(); load(); });
  for (const b of document.querySelectorAll("[data-days]")) b.addEventListener("click", () => { setRange(Number(b.dataset.days)); load(); });
  await load();
}

main();
