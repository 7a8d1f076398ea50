// Supervisor wallboard: queue figures and agent states, live from the hub.
import { api, items, logout } from "./api.js";
import { $, fill, fmtDuration, fmtTime, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, t, tOr } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { pauseReason, pausedFor } from "./routingwords.js";
import { HubSocket, showConnection } from "./socket.js";

const queues = new Map(); // queue name → latest queue_stats
const agents = new Map(); // extension or user id → latest agent_state
let calls = []; // GET /calls/live, refreshed on queue changes and every few seconds
let people = new Map(); // extension → display name of the Hotline user
let me = null;

const pct = (v) => (v === null || v === undefined || Number.isNaN(Number(v)) ? "—"
  : `${Math.round(Number(v) * (Number(v) <= 1 ? 100 : 1))}%`);

function render() {
  const qs = [...queues.values()].sort((a, b) => String(a.queue).localeCompare(String(b.queue)));
  fill($("#queues"), qs.length ? h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("queue"), t("waiting"), t("longest_wait"), t("service_level"), t("abandon_rate"), t("agents"), t("since")].map((x) => h("th", {}, x)))),
    h("tbody", {}, qs.map((q) => h("tr", {},
      h("td", {}, q.queue), h("td", { class: "big" }, q.waiting ?? "—"), h("td", {}, fmtDuration(q.longest_wait_s)),
      h("td", {}, pct(q.service_level)), h("td", {}, pct(q.abandon_rate)),
      h("td", {}, Array.isArray(q.agents) ? String(q.agents.length) : q.agents ?? "—"),
      h("td", {}, fmtTime(q.at || q._seen, getLang())))))) : h("p", { class: "muted" }, t("no_queue_data")));
  renderCalls();
  const as = [...agents.values()];
  fill($("#agents"), as.length ? h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("agent"), t("extension"), t("state"), t("pause_reason"), t("since")].map((x) => h("th", {}, x)))),
    h("tbody", {}, as.map((a) => h("tr", {},
      h("td", {}, people.get(String(a.extension)) || a.name || a.display_name || a.username || a.user_id || "—"), h("td", {}, a.extension || "—"),
      h("td", { class: "agent-state" }, stateText(a)), h("td", {}, timedPause(a) ? "" : pauseReason(a.reason)), h("td", {}, fmtTime(a._seen, getLang())))))) : h("p", { class: "muted" }, t("none")));
}

/** When a paused agent's pause began (ms), if the PBX said; else null. */
function timedPause(a) {
  const since = a.state === "paused" && a.paused_since ? Date.parse(a.paused_since) : NaN;
  return Number.isNaN(since) ? null : since;
}

/** The agent's state; a PBX pause with its start says for how long, with its reason
 * ("暂停 12 分钟（午餐）"), so the reason column stays empty for it. */
function stateText(a) {
  const since = timedPause(a);
  if (since !== null) return pausedFor((Date.now() - since) / 60000, a.reason);
  return a.state ? tOr("", a.state) : "—";
}

const secondsSince = (iso) => (iso ? Math.max(0, (Date.now() - Date.parse(iso)) / 1000) : null);

/** Live calls, with the supervisor's way in: listen, whisper to the agent, barge in. */
function renderCalls() {
  if (!calls.length) { fill($("#calls"), h("p", { class: "muted" }, t("no_live_calls"))); return; }
  const spyButton = (c, mode) => h("button", { type: "button", class: "small",
    disabled: !me || !me.extension, title: me && me.extension ? null : t("extension"),
    onclick: () => spy(c, mode) }, t(`spy_${mode}`));
  fill($("#calls"), h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("caller"), t("queue"), t("state"), t("agent"), t("wait"), t("talk"), t("actions")].map((x) => h("th", {}, x)))),
    h("tbody", {}, calls.map((c) => h("tr", { dataset: { callId: c.call_id } },
      h("td", {}, c.caller_number || "—", " ", c.customer
        ? [h("strong", {}, c.customer.name || ""), c.customer.vip ? [" ", h("span", { class: "badge vip" }, t("vip"))] : null]
        : c.caller_name && c.caller_name !== c.caller_number ? h("span", { class: "muted" }, c.caller_name) : null),
      h("td", {}, c.queue || "—"),
      h("td", {}, tOr("st_", c.state)),
      h("td", {}, c.agent_extension ? `${people.get(c.agent_extension) || ""} ${c.agent_extension}`.trim()
        : (c.ringing || []).join(", ") || "—"),
      h("td", {}, fmtDuration(c.answered_at ? c.wait_s : secondsSince(c.started_at))),
      h("td", {}, c.answered_at ? fmtDuration(secondsSince(c.answered_at)) : "—"),
      h("td", {}, c.agent_extension && c.state !== "ringing" && c.state !== "queued"
        ? h("div", { class: "row" }, ["listen", "whisper", "barge"].map((m) => spyButton(c, m))) : null))))));
}

async function spy(call, mode) {
  try {
    await api("POST", `calls/${encodeURIComponent(call.call_id)}/spy`, { extension: call.agent_extension, mode });
    status(t("spying"));
  } catch (err) {
    const { headline, detail } = describeError(err);
    status(`${t(`spy_${mode}`)}: ${headline} (${detail})`, true);
  }
}

function status(text, bad = false) {
  const el = $("#board-status");
  el.textContent = text;
  el.className = bad ? "error" : "muted";
  el.hidden = false;
}

let callsTimer = null;
async function loadCalls() {
  clearTimeout(callsTimer);
  calls = items(await api("GET", "calls/live").catch(() => calls));
  renderCalls();
  callsTimer = setTimeout(loadCalls, 3000);
}
let callsSoon = null;
const loadCallsSoon = () => { clearTimeout(callsSoon); callsSoon = setTimeout(loadCalls, 300); };

/** The API's agent_state ({state, reason}) and the PBX's ({paused, paused_reason}) describe
 * the same agent: merge them by extension. */
function agentSeen(msg) {
  const key = String(msg.extension || msg.user_id || "");
  if (!key) return;
  const st = msg.state ? { state: msg.state, reason: msg.reason || "" }
    : { state: msg.paused ? (msg.paused_reason === "wrapup" ? "wrapup" : "paused") : "available",
        reason: msg.paused_reason || "" };
  agents.set(key, { ...(agents.get(key) || {}), ...msg, ...st, _seen: new Date().toISOString() });
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(() => { render(); prefs.relabel(); rememberLocale(); }));
  const prefs = mountPrefs($("#prefs-slot"));
  $("#logout").addEventListener("click", logout);
  me = await api("GET", "auth/me");
  $("#me").textContent = me.display_name || me.username;
  $("#routing-link").hidden = !(me.role === "supervisor" || me.role === "admin");
  $("#sla-link").hidden = !(me.role === "supervisor" || me.role === "admin"); // the SLA page: the same
  $("#notify-link").hidden = me.role !== "admin";
  rememberLocale(me.locale);
  const users = items(await api("GET", "users").catch(() => []));
  people = new Map(users.filter((u) => u.extension).map((u) => [String(u.extension), u.display_name || u.username]));
  const initial = await api("GET", "queues").catch(() => []);
  for (const q of items(initial)) if (q && q.queue) queues.set(q.queue, { ...q, _seen: new Date().toISOString() });
  for (const q of items(initial)) for (const a of Array.isArray(q.agents) ? q.agents : []) agentSeen(a);
  render();
  setInterval(render, 30000); // the minutes in pause go on without a message
  loadCalls();
  new HubSocket((msg) => {
    if (msg.type === "queue_stats" && msg.queue) {
      loadCallsSoon(); // a caller joined, left or was answered
      queues.set(msg.queue, { ...msg, _seen: new Date().toISOString() });
      for (const a of Array.isArray(msg.agents) ? msg.agents : []) agentSeen(a);
    } else if (msg.type === "agent_state" && !msg.removed) agentSeen(msg);
    else return;
    render();
  }, showConnection).connect();
  document.body.dataset.ready = "1";
}

main();
