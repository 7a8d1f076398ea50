// The agent's own state (available / paused with a reason / wrap-up). The menu shows what the
// server confirmed: a change that fails (no PBX, 503; the PBX refused, 409) puts the menu back
// to the last confirmed state and says why in the UI language.
import { api, items } from "../api.js";
import { $ } from "../dom.js";
import { t } from "../i18n.js";
import { S, fail, quiet, toast } from "./state.js";

/** agent_state comes from the API ({state, reason}) or from the PBX ({paused, paused_reason}). */
function agentStateOf(ev) {
  if (ev.state) return { state: ev.state, reason: ev.reason || null };
  if (ev.paused === undefined) return null;
  const reason = ev.paused_reason || null;
  return { state: ev.paused ? (reason === "wrapup" ? "wrapup" : "paused") : "available", reason };
}

/** Put the menu on st ({state, reason}), the state the server says this agent is in. */
function showState(st) {
  S.agentState = st;
  const sel = $("#agent-state");
  if ([...sel.options].some((o) => o.value === st.state)) sel.value = st.state;
  const reason = $("#pause-reason");
  if (st.reason && [...reason.options].some((o) => o.value === st.reason)) reason.value = st.reason;
  reason.hidden = sel.value !== "paused";
}

export async function setState(ev) {
  ev.preventDefault();
  const state = $("#agent-state").value;
  const body = { state };
  if (state === "paused") body.reason = $("#pause-reason").value;
  try {
    const answer = await api("POST", "agents/me/state", body);
    showState({ state: (answer && answer.state) || state, reason: (answer && answer.reason) || body.reason || null });
    toast(`${t("state")}: ${t(state)}`);
  } catch (err) {
    showState(S.agentState);
    fail(err, t("state_not_changed"));
  }
}

export function onAgentState(ev) {
  const mine = ev.user_id === S.me.id || (ev.extension && S.me.extension && String(ev.extension) === S.me.extension);
  const st = agentStateOf(ev);
  if (mine && st) showState(st);
}

/** The state the PBX has for this agent's queue membership, if it knows one. */
export async function loadAgentState() {
  if (!S.me.extension) return;
  for (const q of items(await quiet(api("GET", "queues"), []))) {
    const member = (q.agents || []).find((a) => a.extension && String(a.extension) === S.me.extension);
    const st = member && agentStateOf(member);
    if (st) { showState(st); return; }
  }
}
