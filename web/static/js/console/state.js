// The console's shared state and the small helpers every part uses: who is logged in, the
// reference lists (types, groups, users), the toast, and turning API failures into words.
// Each part of the console owns its own slice of S (named below); nothing else writes it.
import { $ } from "../dom.js";
import { describeError } from "../errors.js";
import { getLang, t } from "../i18n.js";

export const S = {
  me: null,
  types: [],
  groups: [],
  users: [],
  socket: null, // the HubSocket (main.js)
  calls: new Map(), // call_id → {pop, state, customer, el} (callcard.js)
  transcripts: new Map(), // call_id → [{final, text}] (transcript.js)
  prefill: new Map(), // call_id → merged ticket_prefill (form.js)
  activeCall: null, // the call whose transcript is shown (transcript.js)
  form: null, // {callId, customer, caller, el, dirty} (form.js)
  ticket: null, // ticket shown in detail (detail.js)
  ticketCustomer: null, // that ticket's customer record (detail.js)
  extras: null, // {id, comments, history, attachments} of that ticket (detail.js)
  relations: null, // {id, parent, children, merged} of that ticket, from its GET (relations.js)
  bulk: null, // {id, skipped} the last bulk action on that parent left out (relations.js)
  inbox: [], // tickets transferred to this agent: [{ticket, from}] (detail.js)
  mutating: 0, // changes of the shown ticket in flight (detail.js)
  tab: "form",
  hangupAsk: null, // a hang-up waiting for the agent's confirmation (hangup.js)
  agentState: { state: "available", reason: null }, // last state the server confirmed (agentstate.js)
};

export const PRIORITIES = ["urgent", "high", "normal", "low"];
export const STATUSES = ["new", "assigned", "in_progress", "pending_customer", "resolved", "closed", "cancelled"];
const ENDED = new Set(["ended", "abandoned"]);
export const isEnded = (state) => ENDED.has(state);
/** Over for this agent: the call ended, or this agent's leg closed (answered elsewhere,
 * transferred away) while the call goes on. */
export const isOver = (entry) => entry.closed || ENDED.has(entry.state);

export const nameOf = (o) => (o ? (getLang() === "zh" && o.name_zh) || o.name || o.key || "" : "");
export const typeByKey = (key) => S.types.find((x) => x.key === key);
export const userLabel = (u) => `${u.display_name || u.username}${u.extension ? ` (${u.extension})` : ""}`;
export function userName(uid) {
  const u = S.users.find((x) => x.id === uid);
  return u ? u.display_name || u.username : uid ? `#${uid}` : "—";
}

/** Show a short message; an error gets a headline and a smaller detail line. */
export function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  el.replaceChildren(document.createTextNode(text));
  if (detail) {
    const small = document.createElement("small");
    small.className = "detail";
    small.textContent = detail;
    el.appendChild(small);
  }
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

/** Report a failed action: what failed (optional, UI language), why, and the server's text. */
export function fail(err, what = "") {
  const { headline, detail } = describeError(err);
  toast(what ? `${what}: ${headline}` : headline, "error", detail);
}

export async function quiet(promise, fallback) {
  try { return await promise; } catch (err) { console.warn(err); return fallback; }
}

/** A <select> from [[value, label]…], with an optional blank first option. */
export function options(list, value, blank) {
  const sel = document.createElement("select");
  const add = (v, label) => {
    const o = document.createElement("option");
    o.value = String(v); o.textContent = label; sel.appendChild(o);
  };
  if (blank !== undefined) add("", blank);
  for (const [v, label] of list) add(v, label);
  if (value !== undefined && value !== null) sel.value = String(value);
  return sel;
}

/** A value in words for people: booleans as yes/no in the UI language, lists and objects
 * item by item. */
export function words(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? t("yes") : t("no");
  if (Array.isArray(v)) return v.map(words).join(", ");
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${words(x)}`).join(", ");
  return String(v);
}
