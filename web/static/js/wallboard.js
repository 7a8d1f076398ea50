// Supervisor wallboard: queues as large figures coloured by the thresholds, trend charts,
// the agent grid with time in state, live calls, abandoned calls to call back, tickets about
// to breach their SLA; the supervisor's actions (pause with a reason, log out of a queue,
// reassign a ticket, call back, listen/whisper/barge). Laptop mode by default; /wallboard?tv=1
// is TV mode: full screen, large type, no controls, reconnecting on its own.
//
// Data: pushed queue_stats / agent_stats (and the PBX's agent_state) over the hub; seeded
// from GET /api/v1/stats/live and /stats/trend, falling back to GET /api/v1/queues while the
// statistics engine is absent (404). Every piece of outside text goes in through dom.js `h`.
import { api, ApiError, items, logout } from "./api.js";
import { $, $$, fill, fmtDuration, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, setLang, t, tf, tOr } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { pauseReason } from "./routingwords.js";
import { HubSocket, showConnection } from "./socket.js";
import { Chart } from "./wallboard/charts.js";
import { addTrendPoint, clock, daysBefore, hourIn, level, perHour, queueFigures } from "./wallboard/figures.js";

const params = new URLSearchParams(location.search);
const TV = params.get("tv") === "1";
const REASONS = ["break", "lunch", "meeting", "training"];
const STAFF_ROLES = new Set(["agent", "supervisor", "admin"]);

const S = {
  me: null,
  settings: null, // GET wallboard/settings
  thresholds: {
    waiting_amber: 3, waiting_red: 5, longest_wait_amber_s: 30, longest_wait_red_s: 60,
    sl_amber: 0.8, sl_red: 0.6, abandon_amber: 0.05, abandon_red: 0.1, asa_amber_s: 20,
    asa_red_s: 40, aht_amber_s: 300, aht_red_s: 600, sla_risk_minutes: 60,
  },
  queues: new Map(), // queue → latest queue_stats
  agents: new Map(), // extension → merged agent view
  trend: new Map(), // queue → [{t, waiting, sl}]
  hourly: null, // {today: [24], lastWeek: [24]} | "unavailable"
  calls: [],
  abandoned: [],
  risk: [],
  users: [], // active staff (for "ring first" and "reassign")
  people: new Map(), // extension → display name
  engine: false, // the live statistics engine answered (/stats/live)
};

const charts = {};

// --------------------------------------------------------------------------- helpers

function status(text, bad = false) {
  const el = $("#board-status");
  el.textContent = text;
  el.className = bad ? "error" : "muted";
  el.hidden = false;
}

function fail(what, err) {
  const { headline, detail } = describeError(err);
  status(`${what}: ${headline}${detail ? ` (${detail})` : ""}`, true);
}

const agentName = (a) => S.people.get(String(a.extension)) || a.name || String(a.extension || "—");
const userName = (u) => u.display_name || u.username;
const ticketNumber = (id) => `T-${String(id).padStart(6, "0")}`; // tickets.service.ticket_number
const isManager = () => S.me && (S.me.role === "supervisor" || S.me.role === "admin");

/** A ticking element: its text is the time since `sinceMs` (or until, with `until`). */
function ticking(tag, attrs, sinceMs, { until = false } = {}) {
  const el = h(tag, { ...attrs, dataset: { ...(attrs.dataset || {}), [until ? "until" : "since"]: String(sinceMs) } });
  tickOne(el, Date.now());
  return el;
}

function tickOne(el, now) {
  if (el.dataset.since) {
    const s = (now - Number(el.dataset.since)) / 1000;
    el.textContent = clock(s);
    if (el.dataset.amber) {
      const lvl = level(s, Number(el.dataset.amber), Number(el.dataset.red));
      el.closest(".fig")?.setAttribute("data-level", lvl);
    }
  } else if (el.dataset.until) {
    const s = (Number(el.dataset.until) - now) / 1000;
    el.textContent = s >= 0 ? tf("wb_due_in", { t: clock(s) }) : tf("wb_overdue", { t: clock(-s) });
    el.classList.toggle("overdue", s < 0);
  }
}

function tick() {
  const now = Date.now();
  for (const el of $$("[data-since], [data-until]")) tickOne(el, now);
  if (TV) $("#clock").textContent = new Date(now).toLocaleTimeString(getLang() === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}

// --------------------------------------------------------------------------- queues

function renderQueues() {
  const qs = [...S.queues.values()].sort((a, b) => String(a.queue).localeCompare(String(b.queue)));
  $("#queues").dataset.count = String(Math.min(qs.length, 3)); // TV: fewer queues, larger figures
  if (!qs.length) { fill($("#queues"), h("p", { class: "muted" }, t("no_queue_data"))); return; }
  fill($("#queues"), qs.map((q) => {
    const figs = queueFigures(q, S.thresholds);
    const today = q.windows && q.windows.today;
    return h("div", { class: "queue", dataset: { queue: q.queue } },
      h("div", { class: "queue-name" }, h("strong", {}, q.queue),
        today ? h("span", { class: "muted" }, `${t("wb_offered")} ${today.offered} · ${t("wb_answered")} ${today.answered}`) : null),
      h("div", { class: "figs" }, figs.map((f) => {
        const value = f.key === "longest" && Number(q.waiting) > 0
          ? ticking("span", { class: "fig-value", dataset: { amber: S.thresholds.longest_wait_amber_s, red: S.thresholds.longest_wait_red_s } },
            (Date.parse(q.at || "") || q._seen) - Number(q.longest_wait_s || 0) * 1000)
          : h("span", { class: "fig-value" }, f.text);
        return h("div", { class: `fig fig-${f.key}`, dataset: { level: f.level, fig: f.key } },
          h("span", { class: "fig-label" }, t(f.label)), value,
          f.sub ? h("span", { class: "fig-sub", dataset: { level: f.sub.level } }, `${t(f.sub.label)} ${f.sub.text}`) : null);
      })));
  }));
}

// --------------------------------------------------------------------------- charts

function renderCharts() {
  const big = TV;
  for (const [id, kind] of [["waiting", "trend"], ["sl", "trend"], ["hourly", "hourly"]]) {
    if (!charts[id]) charts[id] = new Chart($(`#chart-${id}`), kind, { big });
  }
  const names = [...S.trend.keys()].sort();
  const xs = [...new Set(names.flatMap((q) => S.trend.get(q).map((p) => p.t)))].sort((a, b) => a - b);
  if (!xs.length) {
    charts.waiting.unavailable("wb_no_trend");
    charts.sl.unavailable("wb_no_trend");
  } else {
    const col = (q, key, scale = 1) => {
      const by = new Map(S.trend.get(q).map((p) => [p.t, p[key]]));
      return xs.map((x) => (by.has(x) && by.get(x) !== null ? by.get(x) * scale : null));
    };
    charts.waiting.draw(xs, Object.fromEntries(names.map((q) => [q, col(q, "waiting")])));
    charts.sl.draw(xs, Object.fromEntries(names.map((q) => [q, col(q, "sl", 100)])), { percent: true });
  }
  if (S.hourly === "unavailable") charts.hourly.unavailable();
  else if (S.hourly) {
    charts.hourly.draw([...Array(24).keys()], { today: S.hourly.today, week: S.hourly.lastWeek },
      { names: { today: t("wb_today"), week: t("wb_last_week") } });
  }
}

let chartsSoon = null;
const renderChartsSoon = () => { if (!chartsSoon) chartsSoon = setTimeout(() => { chartsSoon = null; renderCharts(); }, 500); };

async function loadTrend() {
  try {
    const data = await api("GET", "stats/trend?minutes=60");
    for (const [q, points] of Object.entries(data.queues || {})) {
      const loaded = points.map((p) => ({ t: Math.floor(Date.parse(p.t) / 1000), waiting: p.waiting, sl: p.service_level }));
      // The snapshot (loaded at the same time) or a push may have landed first: a point newer
      // than the engine's last minute stays (an engine just started has no minute yet).
      for (const p of S.trend.get(q) || []) if (!loaded.length || p.t > loaded[loaded.length - 1].t) loaded.push(p);
      S.trend.set(q, loaded);
    }
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) console.warn("trend", err);
    // No statistics engine: the trend starts empty and fills from queue_stats.
  }
}

async function loadHourly() {
  const today = S.settings && S.settings.today;
  if (!today) { S.hourly = "unavailable"; return; }
  const week = daysBefore(today, 7);
  try {
    const [a, b] = await Promise.all([today, week].map((d) => api("GET", `reports/queues?from=${d}&to=${d}&bucket=hour`)));
    S.hourly = { today: perHour(a.rows, hourIn(S.settings.timezone)), lastWeek: perHour(b.rows) };
  } catch (err) {
    S.hourly = "unavailable"; // 404: the reports are not installed; anything else: not now
  }
}

// --------------------------------------------------------------------------- agents

const STATE_ALIASES = { in_call: "on_call" };

/** Merge what a message says about one agent. agent_stats (the statistics engine) is the
 * full view and wins; the PBX's member messages and the consoles' agent_state fill in
 * when it is absent. */
function agentSeen(msg, kind) {
  const ext = String(msg.extension || "");
  if (!ext) return;
  const prev = S.agents.get(ext) || { extension: ext, queues: [], _since: Date.now() };
  let next;
  if (kind === "agent_stats") {
    next = { ...prev, ...msg, full: true, queues: Array.isArray(msg.queues) ? msg.queues : prev.queues };
  } else {
    if (prev.full) return; // the engine's view is newer and complete
    const queues = new Set(prev.queues);
    if (msg.queue) { if (msg.removed) queues.delete(msg.queue); else queues.add(msg.queue); }
    let state = msg.state ? (STATE_ALIASES[msg.state] || msg.state) : prev.state;
    if (msg.paused === true) state = msg.paused_reason === "wrapup" ? "wrapup" : "paused";
    if (!queues.size && msg.removed) state = "logged_out";
    next = { ...prev, name: msg.name || prev.name, state, queues: [...queues],
             reason: msg.paused_reason || msg.reason || (state === "paused" ? prev.reason : null),
             state_since: msg.paused_since && state === "paused" ? msg.paused_since : null };
  }
  if (next.state !== prev.state || next.reason !== prev.reason) next._since = Date.now();
  S.agents.set(ext, next);
}

const since = (a) => Date.parse(a.state_since || "") || a._since || Date.now();

function stateLabel(a) {
  const st = tOr("ag_", a.state || "unknown");
  if (!a.reason || (a.state !== "paused" && a.state !== "wrapup")) return st;
  return getLang() === "zh" ? `${st}（${pauseReason(a.reason)}）` : `${st} (${pauseReason(a.reason)})`;
}

function renderAgents() {
  const as = [...S.agents.values()].sort((a, b) => String(a.extension).localeCompare(String(b.extension)));
  if (!as.length) { fill($("#agents"), h("p", { class: "muted" }, t("wb_no_agents"))); return; }
  fill($("#agents"), as.map((a) => {
    const today = a.today || null;
    const paused = a.state === "paused";
    return h("article", { class: `agent st-${a.state || "unknown"}`, dataset: { extension: a.extension, state: a.state || "" } },
      h("header", {}, h("strong", { class: "agent-name" }, agentName(a)), h("span", { class: "agent-ext muted" }, a.extension)),
      h("div", { class: "agent-line" },
        h("span", { class: "agent-state" }, stateLabel(a)),
        ticking("span", { class: "agent-time", title: t("wb_time_in_state") }, since(a))),
      today ? h("dl", { class: "agent-today" },
        h("div", {}, h("dt", {}, t("wb_answered")), h("dd", {}, String(today.answered ?? "—"))),
        h("div", {}, h("dt", {}, t("wb_missed")), h("dd", { class: today.missed ? "warn" : "" }, String(today.missed ?? "—"))),
        h("div", {}, h("dt", {}, t("wb_talk")), h("dd", {}, clock(today.talk_s))),
        h("div", {}, h("dt", {}, t("wb_idle")), h("dd", {}, clock(today.idle_s)))) : null,
      a.ticket_id ? h("div", { class: "agent-ticket" }, TV ? `${t("wb_ticket")} ${ticketNumber(a.ticket_id)}`
        : h("a", { href: `/console#ticket=${a.ticket_id}` }, `${t("wb_ticket")} ${ticketNumber(a.ticket_id)}`)) : null,
      TV ? null : h("div", { class: "agent-actions" },
        paused
          ? h("button", { type: "button", class: "small", onclick: () => pause(a, false) }, t("wb_unpause"))
          : h("button", { type: "button", class: "small", disabled: a.state === "logged_out", onclick: () => openPause(a) }, t("wb_pause")),
        h("button", { type: "button", class: "small", disabled: !a.queues.length && a.state === "logged_out", onclick: () => openLogout(a) }, t("wb_log_out")),
        a.ticket_id ? h("button", { type: "button", class: "small", onclick: () => openReassign({ id: a.ticket_id, number: ticketNumber(a.ticket_id) }) }, t("wb_reassign")) : null));
  }));
  if (TV) fitAgents();
}

/** TV: a floor larger than the panel gets denser cards (today's figures go, then the
 * extensions and the type shrink) rather than cards cut off at the bottom. */
function fitAgents() {
  const grid = $("#agents");
  const panel = grid.closest(".panel");
  grid.classList.remove("dense", "denser");
  const overflows = () => panel.scrollHeight > panel.clientHeight + 1;
  if (overflows()) grid.classList.add("dense");
  if (overflows()) grid.classList.add("denser");
}

// The action dialog: one <dialog>, its content built fresh for each action.
function openAction(title, body, submitText, onSubmit) {
  const dlg = $("#act");
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { method: "dialog", class: "act-form" },
    h("h2", {}, title), body, err,
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, submitText),
      h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    try {
      await onSubmit(form);
      dlg.close();
    } catch (e) {
      const { headline, detail } = describeError(e);
      err.textContent = `${headline}${detail ? ` (${detail})` : ""}`;
      err.hidden = false;
    } finally { btn.disabled = false; }
  });
  fill(dlg, form);
  dlg.showModal();
  form.querySelector("select, input")?.focus();
}

function openPause(a) {
  const other = h("input", { name: "other", maxlength: "64", placeholder: t("wb_reason_text"), hidden: true });
  const sel = h("select", { name: "reason", onchange: () => { other.hidden = sel.value !== "other"; } },
    REASONS.map((r) => h("option", { value: r }, pauseReason(r))),
    h("option", { value: "other" }, t("wb_reason_other")));
  openAction(tf("wb_pause_title", { name: `${agentName(a)} (${a.extension})` }),
    h("label", { class: "stack" }, h("span", {}, t("pause_reason")), sel, other),
    t("wb_pause"), async () => {
      const reason = sel.value === "other" ? other.value.trim() || null : sel.value;
      await pause(a, true, reason, true);
    });
}

async function pause(a, paused, reason = null, raise = false) {
  try {
    await api("POST", `agents/${encodeURIComponent(a.extension)}/pause`, { paused, reason });
    status(tf(paused ? "wb_paused_ok" : "wb_unpaused_ok", { name: agentName(a) }));
  } catch (err) {
    if (raise) throw err;
    fail(t(paused ? "wb_pause" : "wb_unpause"), err);
  }
}

function openLogout(a) {
  const sel = h("select", { name: "queue" },
    h("option", { value: "" }, t("wb_all_queues")),
    a.queues.map((q) => h("option", { value: q }, q)));
  openAction(tf("wb_logout_title", { name: `${agentName(a)} (${a.extension})` }),
    h("label", { class: "stack" }, h("span", {}, t("queue")), sel),
    t("wb_log_out"), async () => {
      await api("POST", `agents/${encodeURIComponent(a.extension)}/logout`, { queue: sel.value || null });
      status(tf("wb_logged_out_ok", { name: agentName(a) }));
    });
}

function openReassign(ticket) {
  const sel = h("select", { name: "assignee" },
    S.users.map((u) => h("option", { value: String(u.id), selected: u.id === ticket.assignee_id }, `${userName(u)}${u.extension ? ` (${u.extension})` : ""}`)));
  openAction(tf("wb_reassign_title", { ticket: ticket.number }),
    h("label", { class: "stack" }, h("span", {}, t("assignee")), sel),
    t("wb_reassign"), async () => {
      await api("PATCH", `tickets/${ticket.id}`, { assignee: Number(sel.value) });
      const u = S.users.find((x) => String(x.id) === sel.value);
      status(tf("wb_reassigned_ok", { ticket: ticket.number, name: u ? userName(u) : sel.value }));
      loadRisk();
    });
}

// --------------------------------------------------------------------------- live calls

const secondsSince = (iso) => (iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : null);

/** Live calls, with the supervisor's way in: listen, whisper to the agent, barge in. */
function renderCalls() {
  if (!S.calls.length) { fill($("#calls"), h("p", { class: "muted" }, t("no_live_calls"))); return; }
  const spyButton = (c, mode) => h("button", { type: "button", class: "small",
    disabled: !S.me || !S.me.extension, title: S.me && S.me.extension ? null : t("extension"),
    onclick: () => spy(c, mode) }, t(`spy_${mode}`));
  const head = [t("caller"), t("queue"), t("state"), t("agent"), t("wait"), t("talk")];
  if (!TV) head.push(t("actions"));
  fill($("#calls"), h("table", { class: "list calls" },
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, S.calls.map((c) => h("tr", { dataset: { callId: c.call_id } },
      h("td", {}, c.caller_number || "—", " ", c.customer
        ? [h("strong", {}, c.customer.name || ""), c.customer.vip ? [" ", h("span", { class: "badge vip" }, t("vip"))] : null]
        : c.caller_name && c.caller_name !== c.caller_number ? h("span", { class: "muted" }, c.caller_name) : null),
      h("td", {}, c.queue || "—"),
      h("td", {}, tOr("st_", c.state)),
      h("td", {}, c.agent_extension ? `${S.people.get(c.agent_extension) || ""} ${c.agent_extension}`.trim()
        : (c.ringing || []).join(", ") || "—"),
      h("td", {}, fmtDuration(c.answered_at ? c.wait_s : secondsSince(c.started_at))),
      h("td", {}, c.answered_at ? fmtDuration(secondsSince(c.answered_at)) : "—"),
      TV ? null : h("td", {}, c.agent_extension && c.state !== "ringing" && c.state !== "queued"
        ? h("div", { class: "row" }, ["listen", "whisper", "barge"].map((m) => spyButton(c, m))) : null))))));
}

async function spy(call, mode) {
  try {
    await api("POST", `calls/${encodeURIComponent(call.call_id)}/spy`, { extension: call.agent_extension, mode });
    status(t("spying"));
  } catch (err) {
    fail(t(`spy_${mode}`), err);
  }
}

let callsTimer = null;
async function loadCalls() {
  clearTimeout(callsTimer);
  S.calls = items(await api("GET", "calls/live").catch(() => S.calls));
  renderCalls();
  callsTimer = setTimeout(loadCalls, 3000);
}
let callsSoon = null;
const loadCallsSoon = () => { clearTimeout(callsSoon); callsSoon = setTimeout(loadCalls, 300); };

// --------------------------------------------------------------------------- abandoned

function renderCallbackFrom() {
  const sel = $("#callback-from");
  const keep = sel.value;
  const mine = S.me && S.me.extension ? tf("wb_my_phone", { ext: S.me.extension }) : t("wb_my_phone_none");
  fill(sel, h("option", { value: "" }, mine),
    S.users.filter((u) => u.extension && (!S.me || u.id !== S.me.id))
      .map((u) => h("option", { value: u.extension }, `${userName(u)} (${u.extension})`)));
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
}

function renderAbandoned() {
  const open = S.abandoned.filter((x) => x.callback_status === "open");
  $("#abandoned-count").textContent = open.length ? String(open.length) : "";
  $("#abandoned-count").dataset.level = open.length ? "amber" : "ok";
  if (!S.abandoned.length || (TV && !open.length)) { fill($("#abandoned"), h("p", { class: "muted" }, t("wb_no_abandoned"))); return; }
  // TV: the ones still to call back; laptop: those first, then the ones done today.
  const rows = (TV ? open : [...open, ...S.abandoned.filter((x) => x.callback_status !== "open")]).slice(0, TV ? 6 : 50);
  const lang = getLang() === "zh" ? "zh-CN" : "en-GB";
  fill($("#abandoned"), h("ul", { class: "abandoned" }, rows.map((x) => {
    const last = x.attempts[x.attempts.length - 1];
    return h("li", { class: `ab ab-${x.callback_status}`, dataset: { callId: x.call_id } },
      h("div", { class: "ab-main" },
        h("span", { class: "ab-time" }, new Date(x.started_at).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" })),
        h("strong", { class: "ab-number" }, x.caller_number || "—"),
        x.customer_name ? h("span", { class: "ab-customer" }, x.customer_name) : null,
        h("span", { class: "muted" }, `${x.queue || ""} · ${t("wb_waited")} ${clock(x.wait_s)}`)),
      h("div", { class: "ab-status" },
        h("span", { class: `badge ${x.callback_status === "done" ? "ok" : "bad"}` }, t(`wb_st_${x.callback_status}`)),
        x.returned_at ? h("span", { class: "badge ok" }, t("wb_returned")) : null,
        x.attempts.length ? h("span", { class: "muted ab-attempts", title: last ? `${last.by || ""} ${last.extension} ${last.outcome}` : null },
          tf("wb_attempts", { n: x.attempts.length })) : null,
        x.done_by ? h("span", { class: "muted" }, x.done_by) : null),
      TV || x.callback_status === "done" ? null : h("div", { class: "ab-actions" },
        h("button", { type: "button", class: "small primary", disabled: !x.caller_number, onclick: () => callBack(x) }, t("wb_call_back")),
        h("button", { type: "button", class: "small", onclick: () => markDone(x) }, t("wb_done"))));
  })));
}

async function callBack(x) {
  const ext = $("#callback-from").value || null;
  try {
    const out = await api("POST", `abandoned/${encodeURIComponent(x.call_id)}/callback`, { extension: ext });
    status(ext ? tf("wb_callback_from", { number: x.caller_number, ext }) : tf("wb_calling_back", { number: x.caller_number }));
    replaceAbandoned(out);
  } catch (err) {
    fail(t("wb_call_back"), err);
    loadAbandoned();
  }
}

async function markDone(x) {
  try {
    replaceAbandoned(await api("POST", `abandoned/${encodeURIComponent(x.call_id)}/done`, {}));
  } catch (err) {
    fail(t("wb_done"), err);
    loadAbandoned();
  }
}

function replaceAbandoned(row) {
  S.abandoned = S.abandoned.map((x) => (x.call_id === row.call_id ? row : x));
  renderAbandoned();
}

async function loadAbandoned() {
  try {
    S.abandoned = await api("GET", "abandoned?status=all&limit=100");
    renderAbandoned();
  } catch (err) { console.warn("abandoned", err); }
}
let abandonedSoon = null;
const loadAbandonedSoon = () => { clearTimeout(abandonedSoon); abandonedSoon = setTimeout(loadAbandoned, 1500); };

// --------------------------------------------------------------------------- SLA at risk

function renderRisk() {
  $("#risk-count").textContent = S.risk.length ? String(S.risk.length) : "";
  if (!S.risk.length) { fill($("#risk"), h("p", { class: "muted" }, t("wb_no_risk"))); return; }
  fill($("#risk"), h("ul", { class: "risk" }, S.risk.slice(0, TV ? 6 : 20).map((r) => h("li", { class: `risk-row p-${r.priority}`, dataset: { ticketId: r.id } },
    h("div", { class: "risk-main" },
      TV ? h("strong", {}, r.number) : h("a", { href: `/console#ticket=${r.id}` }, r.number),
      h("span", { class: `badge p-${r.priority}` }, tOr("p_", r.priority)),
      h("span", { class: "risk-title" }, r.title)),
    h("div", { class: "risk-meta" },
      h("span", { class: "muted" }, t(`wb_${r.target}`)),
      ticking("span", { class: "risk-due" }, Date.parse(r.due_at), { until: true }),
      h("span", { class: "muted" }, r.assignee || t("unassigned")),
      TV ? null : h("button", { type: "button", class: "small", onclick: () => openReassign(r) }, t("wb_reassign")))))));
}

async function loadRisk() {
  try {
    S.risk = await api("GET", "sla/at-risk?limit=20");
    renderRisk();
  } catch (err) { console.warn("risk", err); }
}

// --------------------------------------------------------------------------- settings

const TH_ROWS = [
  ["waiting", "waiting_amber", "waiting_red", 1],
  ["longest_wait", "longest_wait_amber_s", "longest_wait_red_s", 1],
  ["wb_th_sl", "sl_amber", "sl_red", 100],
  ["wb_th_abandon", "abandon_amber", "abandon_red", 100],
  ["wb_th_asa", "asa_amber_s", "asa_red_s", 1],
  ["wb_th_aht", "aht_amber_s", "aht_red_s", 1],
];

function settingsFields(values) {
  const input = (name, v, scale) => h("input", { type: "number", name, min: "0", step: "1", required: true,
    max: scale === 100 ? "100" : null, value: String(Math.round(Number(v) * scale)), dataset: { scale: String(scale) } });
  fill($("#settings-fields"),
    h("span", {}, ""), h("span", { class: "th-head amber" }, t("wb_th_amber")), h("span", { class: "th-head red" }, t("wb_th_red")),
    TH_ROWS.map(([label, amber, red, scale]) => [
      h("span", { class: "th-label" }, t(label)), input(amber, values[amber], scale), input(red, values[red], scale)]),
    h("span", { class: "th-label" }, t("wb_th_risk")), input("sla_risk_minutes", values.sla_risk_minutes, 1), h("span", {}, ""));
}

function openSettings() {
  $("#settings-error").hidden = true;
  settingsFields(S.thresholds);
  $("#settings").showModal();
}

async function saveSettings(ev) {
  ev.preventDefault();
  const thresholds = {};
  for (const el of $$("#settings-fields input")) {
    const scale = Number(el.dataset.scale);
    thresholds[el.name] = scale === 100 ? Number(el.value) / 100 : Number(el.value);
  }
  try {
    const out = await api("PUT", "wallboard/settings", { thresholds, version: S.settings ? S.settings.version : undefined });
    useSettings(out);
    $("#settings").close();
    status(t("wb_saved"));
  } catch (err) {
    const { headline, detail } = describeError(err);
    $("#settings-error").textContent = `${headline}${detail ? ` (${detail})` : ""}`;
    $("#settings-error").hidden = false;
    if (err instanceof ApiError && err.status === 409) loadSettings();
  }
}

function useSettings(s) {
  S.settings = s;
  S.thresholds = { ...S.thresholds, ...s.thresholds };
  renderQueues();
}

async function loadSettings() {
  try { useSettings(await api("GET", "wallboard/settings")); } catch (err) { console.warn("settings", err); }
}

// --------------------------------------------------------------------------- live data

async function loadSnapshot() {
  try {
    const live = await api("GET", "stats/live");
    S.engine = true;
    for (const q of live.queues || []) S.queues.set(q.queue, { ...q, _seen: Date.now() });
    for (const a of live.agents || []) agentSeen(a, "agent_stats");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) console.warn("stats/live", err);
    const initial = items(await api("GET", "queues").catch(() => []));
    for (const q of initial) if (q && q.queue) S.queues.set(q.queue, { ...q, _seen: Date.now() });
    for (const q of initial) for (const a of Array.isArray(q.agents) ? q.agents : []) agentSeen(a, "member");
  }
  for (const q of S.queues.values()) addTrendPoint(S.trend.get(q.queue) || S.trend.set(q.queue, []).get(q.queue), q, Date.now());
}

function renderAll() {
  renderQueues();
  renderAgents();
  renderCalls();
  renderAbandoned();
  renderRisk();
  if (!TV) renderCallbackFrom();
  renderCharts();
}

function onMessage(msg) {
  if (msg.type === "queue_stats" && msg.queue) {
    const prev = S.queues.get(msg.queue);
    // A message without windows (the PBX bridge's own) refreshes what it has and keeps the
    // statistics engine's windows of the last extended one.
    S.queues.set(msg.queue, { ...(msg.windows ? {} : prev), ...msg, at: msg.at || null, _seen: Date.now() });
    const merged = S.queues.get(msg.queue);
    const points = S.trend.get(msg.queue) || S.trend.set(msg.queue, []).get(msg.queue);
    addTrendPoint(points, merged, Date.now());
    if (!S.engine) for (const a of Array.isArray(msg.agents) ? msg.agents : []) agentSeen(a, "member");
    const todayAbandoned = (q) => (q && q.windows && q.windows.today ? q.windows.today.abandoned : null);
    if (!prev || prev.abandoned !== msg.abandoned || todayAbandoned(prev) !== todayAbandoned(merged)) {
      loadAbandonedSoon(); // a caller gave up: the list has a new row
    }
    loadCallsSoon();
    renderQueues();
    if (!S.engine) renderAgents();
    renderChartsSoon();
  } else if (msg.type === "agent_stats") {
    agentSeen(msg, "agent_stats");
    renderAgents();
  } else if (msg.type === "agent_state") {
    agentSeen(msg, "member");
    renderAgents();
  } else if (msg.type === "call_update") {
    loadCallsSoon();
  }
}

// --------------------------------------------------------------------------- start

function enterTv() {
  document.body.classList.add("tv");
  let refit = null;
  window.addEventListener("resize", () => { cancelAnimationFrame(refit); refit = requestAnimationFrame(fitAgents); });
  const lang = params.get("lang");
  if (lang === "zh" || lang === "en") setLang(lang);
  // Full screen needs a gesture: the first click or key on the TV's page asks for it.
  const full = () => {
    if (!document.fullscreenElement && document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().catch(() => {});
    }
  };
  document.addEventListener("click", full, { once: true });
  document.addEventListener("keydown", full, { once: true });
}

async function main() {
  if (TV) enterTv();
  applyStatic();
  let prefs = null;
  if (!TV) {
    $("#lang-slot").appendChild(langSwitch(() => {
      applyStatic();
      renderAll();
      if (prefs) prefs.relabel();
      if (document.body.dataset.ws) showConnection(document.body.dataset.ws); // the pill, relabelled
      $("#board-status").hidden = true; // said in the other language
      rememberLocale();
    }));
    prefs = mountPrefs($("#prefs-slot"));
    $("#logout").addEventListener("click", logout);
    $("#settings-open").addEventListener("click", openSettings);
    $("#settings-form").addEventListener("submit", saveSettings);
    $("#settings-cancel").addEventListener("click", () => $("#settings").close());
    $("#settings-defaults").addEventListener("click", () => settingsFields(S.settings ? S.settings.defaults : S.thresholds));
  }
  document.body.appendChild(h("dialog", { id: "act", class: "wb-act" }));
  S.me = await api("GET", "auth/me");
  $("#me").textContent = S.me.display_name || S.me.username;
  $("#routing-link").hidden = !isManager();
  $("#sla-link").hidden = !isManager();
  $("#notify-link").hidden = S.me.role !== "admin";
  if (!TV) rememberLocale(S.me.locale);
  const users = items(await api("GET", "users").catch(() => []));
  S.users = users.filter((u) => u.is_active !== false && STAFF_ROLES.has(u.role));
  S.people = new Map(users.filter((u) => u.extension).map((u) => [String(u.extension), userName(u)]));
  await loadSettings();
  await Promise.all([loadSnapshot(), loadTrend(), loadHourly(), loadAbandoned(), loadRisk()]);
  renderAll();
  loadCalls();
  tick();
  setInterval(tick, 1000);
  setInterval(loadRisk, 60000);
  setInterval(loadAbandoned, 30000);
  setInterval(() => loadHourly().then(renderCharts), 300000);
  let wasOnline = false;
  new HubSocket(onMessage, (st) => {
    showConnection(st);
    // Back after a drop (the server restarted, the network came back): resynchronise.
    if (st === "online" && wasOnline === "lost") loadSnapshot().then(renderAll);
    if (st === "online") wasOnline = true;
    else if (wasOnline) wasOnline = "lost";
  }).connect();
  document.body.dataset.ready = "1";
}

main();
