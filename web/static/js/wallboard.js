// Supervisor wallboard: queue figures and agent states, live from the hub.
import { api, items, logout } from "./api.js";
import { $, fill, fmtDuration, fmtTime, h } from "./dom.js";
import { applyStatic, getLang, langSwitch, t, tOr } from "./i18n.js";
import { HubSocket } from "./socket.js";

const queues = new Map(); // queue name → latest queue_stats
const agents = new Map(); // extension or user id → latest agent_state

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
  const as = [...agents.values()];
  fill($("#agents"), as.length ? h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("agent"), t("extension"), t("state"), t("pause_reason"), t("since")].map((x) => h("th", {}, x)))),
    h("tbody", {}, as.map((a) => h("tr", {},
      h("td", {}, a.name || a.display_name || a.username || a.user_id || "—"), h("td", {}, a.extension || "—"),
      h("td", {}, a.state ? tOr("", a.state) : "—"), h("td", {}, reasonLabel(a.reason)), h("td", {}, fmtTime(a._seen, getLang())))))) : h("p", { class: "muted" }, t("none")));
}

/** A known pause reason in the UI language; anything else as the PBX sent it. */
function reasonLabel(reason) {
  if (!reason) return "";
  const label = t(`reason_${reason}`);
  return label === `reason_${reason}` ? reason : label;
}

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
  $("#lang-slot").appendChild(langSwitch(render));
  $("#logout").addEventListener("click", logout);
  const me = await api("GET", "auth/me");
  $("#me").textContent = me.display_name || me.username;
  const initial = await api("GET", "queues").catch(() => []);
  for (const q of items(initial)) if (q && q.queue) queues.set(q.queue, { ...q, _seen: new Date().toISOString() });
  for (const q of items(initial)) for (const a of Array.isArray(q.agents) ? q.agents : []) agentSeen(a);
  render();
  new HubSocket((msg) => {
    if (msg.type === "queue_stats" && msg.queue) {
      queues.set(msg.queue, { ...msg, _seen: new Date().toISOString() });
      for (const a of Array.isArray(msg.agents) ? msg.agents : []) agentSeen(a);
    } else if (msg.type === "agent_state" && !msg.removed) agentSeen(msg);
    else return;
    render();
  }, (status) => {
    const el = $("#conn");
    el.textContent = t(status);
    el.className = `conn ${status}`;
    document.body.dataset.ws = status;
  }).connect();
  document.body.dataset.ready = "1";
}

main();
