// The agent console's wiring: the hub socket's messages to the part that handles them, the
// tabs, keys and language switch (which re-renders every part at once), and start-up.
// The parts live in js/console/: callcard (call cards), form (ticket form), lists, detail,
// customers, transcript, kb, hangup, dial, agentstate; state.js holds what they share.
// Outside text only ever goes through textContent (dom.js h/fill); nothing builds HTML.
import { api, items, logout } from "./api.js";
import { $, $$, fill, h } from "./dom.js";
import { applyStatic, langSwitch, t } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { HubSocket, showConnection } from "./socket.js";
import { loadAgentState, onAgentState, setState } from "./console/agentstate.js";
import { onCallUpdate, onScreenPop, renderAllCards, resync } from "./console/callcard.js";
import { renderCustomers } from "./console/customers.js";
import { initDetail, onNotification, openTicket, onTicketChanged, onTicketNotice, onTicketTransfer, renderDetail, renderInbox } from "./console/detail.js";
import { dial } from "./console/dial.js";
import { mayDryRun, onPrefill, openForm, relabelForm } from "./console/form.js";
import { cancelHangup, askHangup } from "./console/hangup.js";
import { suggestKb } from "./console/kb.js";
import { LIST_TABS, loadList, mayListAll, refreshListSoon } from "./console/lists.js";
import { S, fail, isOver, quiet } from "./console/state.js";
import { showTab } from "./console/tabs.js";
import { onAsr, renderTranscript, transcriptToDescription } from "./console/transcript.js";

function onMessage(msg) {
  switch (msg.type) {
    case "screen_pop": onScreenPop(msg); break;
    case "call_update": onCallUpdate(msg); break;
    case "asr": onAsr(msg); break;
    case "ticket_prefill": onPrefill(msg); break;
    case "ticket_transfer": onTicketTransfer(msg); break;
    case "ticket_notice": onTicketNotice(msg); break; // a routing rule's "notify"
    case "notification": onNotification(msg); break; // the outbox's console channel
    case "ticket_created": case "ticket_updated":
      onTicketChanged(msg.ticket || msg);
      if (LIST_TABS.includes(S.tab)) refreshListSoon();
      break;
    case "agent_state": onAgentState(msg); break;
    case "hello": resync(); break;
    case "error": console.warn("hub error", msg); break;
    default: break;
  }
}

function renderMe() {
  fill($("#me"), S.me.display_name || S.me.username, S.me.extension ? h("span", { class: "muted" }, ` · ${t("extension")} ${S.me.extension}`) : null);
}

/** A language switch: every part draws itself again, now, keeping what the agent typed. */
function relabel() {
  applyStatic();
  if (S.me) renderMe();
  suggestKb(); // its "no suggestions" line is in the old language otherwise
  renderAllCards();
  renderInbox();
  renderTranscript();
  relabelForm();
  if (S.ticket) renderDetail();
  if (LIST_TABS.includes(S.tab)) loadList(S.tab, { keep: true });
  renderCustomers();
  showConnection(document.body.dataset.ws || "connecting");
  if (prefs) prefs.relabel();
  rememberLocale(); // notifications follow the language picked here
}

let prefs = null; // the notification settings button and dialog

function keys(ev) {
  if (ev.key === "Escape" && S.hangupAsk) { ev.preventDefault(); cancelHangup(); return; }
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const act = {
    n: () => { if (!S.form) openForm(S.activeCall); showTab("form"); S.form.el.elements.title.focus(); },
    t: () => showTab("mine"),
    q: () => showTab("queue"),
    h: () => { const live = [...S.calls.entries()].find(([, e]) => !isOver(e)); if (live) askHangup(live[0], "card"); },
    k: () => $("#dial-to").focus(),
  }[ev.key.toLowerCase()];
  if (act) { ev.preventDefault(); act(); }
}

/** Every listener on the page's persistent elements is bound here, once. */
function bindOnce() {
  $("#lang-slot").appendChild(langSwitch(relabel));
  prefs = mountPrefs($("#prefs-slot"));
  $("#logout").addEventListener("click", logout);
  for (const b of $$(".tabs [role=tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#state-form").addEventListener("submit", setState);
  $("#agent-state").addEventListener("change", () => { $("#pause-reason").hidden = $("#agent-state").value !== "paused"; });
  $("#transcript-to-desc").addEventListener("click", transcriptToDescription);
  $("#dial-form").addEventListener("submit", (e) => { e.preventDefault(); dial($("#dial-to").value.trim()); });
  document.addEventListener("keydown", keys);
  window.addEventListener("hashchange", openLinkedTicket);
  initDetail();
}

async function main() {
  applyStatic();
  bindOnce();
  try { S.me = await api("GET", "auth/me"); } catch (err) { fail(err); return; }
  renderMe();
  $("#tab-btn-all").hidden = !mayListAll();
  $("#routing-link").hidden = !mayDryRun(); // the rules page: supervisors and admins
  $("#sla-link").hidden = !mayDryRun(); // the SLA page: the same
  $("#notify-link").hidden = S.me.role !== "admin"; // outbox and webhooks: admins only
  rememberLocale(S.me.locale);
  const [types, groups, users] = await Promise.all([
    quiet(api("GET", "ticket-types"), []), quiet(api("GET", "groups"), []), quiet(api("GET", "users"), [])]);
  S.types = items(types);
  S.groups = items(groups);
  S.users = items(users);
  S.socket = new HubSocket(onMessage, showConnection);
  S.socket.connect(); // after the lists, so a pop's form has its type options
  loadAgentState();
  if (!S.form) openForm(null);
  renderTranscript();
  fill($("#kb"), h("p", { class: "muted" }, t("no_kb")));
  showTab("form");
  openLinkedTicket();
  document.body.dataset.ready = "1";
}

/** /console#ticket=ID (links from the admin pages) opens that ticket. */
function openLinkedTicket() {
  const m = /^#ticket=(\d+)$/.exec(location.hash);
  if (m) openTicket(Number(m[1]));
}

main();
