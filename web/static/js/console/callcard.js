// Call cards: one per call that rang this agent (screen_pop), updated by call_update, with
// the caller's customer record, orders and warranty, tickets and recent calls; creating the
// customer of an unknown caller from the card; catching up with live calls on (re)connect.
import { api, items } from "../api.js";
import { $, afterPaint, fill, fmtDate, fmtDuration, fmtTime, h } from "../dom.js";
import { getLang, t, tOr, tf } from "../i18n.js";
import { openTicket, renderDetail } from "./detail.js";
import { onPrefill, openForm, renderFormCustomer } from "./form.js";
import { clearHangupAsk, focusedKey, hangupSlot, refocusKey } from "./hangup.js";
import { S, fail, isEnded, isOver, quiet } from "./state.js";
import { slaBadge } from "./sla.js";
import { showTab } from "./tabs.js";
import { setActiveCall } from "./transcript.js";

export function onScreenPop(pop) {
  const callId = pop.call_id;
  if (!callId) return;
  const entry = S.calls.get(callId) || { pop, state: "ringing", customer: pop.customer || null, detail: null };
  entry.pop = pop;
  entry.closed = false; // rung again (e.g. transferred back): live for us again
  entry.customer = pop.customer || entry.customer;
  S.calls.set(callId, entry);
  // An order number keyed in at the IVR counts as prefill, like one heard in speech.
  if (pop.order_number) onPrefill({ call_id: callId, ticket_type: null, order_numbers: [String(pop.order_number)], phone_numbers: [] });
  renderCard(callId);
  if (entry.customer && entry.customer.id) loadCustomerDetail(callId, entry.customer.id);
  // The card is what the agent waits for: the transcript panel and the ticket form (a far
  // larger subtree to build and lay out) follow once it is on screen, not in its frame.
  afterPaint(() => {
    if (!S.calls.has(callId)) return; // dismissed meanwhile
    setActiveCall(callId);
    // A fresh call takes the form unless the agent is mid-way through a ticket; a repeated
    // pop of the call the form is already for leaves the agent's edits alone.
    if (!S.form || (S.form.callId !== callId && !S.form.dirty)) openForm(callId);
  });
}

async function loadCustomerDetail(callId, customerId) {
  const detail = await quiet(api("GET", `customers/${encodeURIComponent(customerId)}`), null);
  const entry = S.calls.get(callId);
  if (!detail || !entry) return;
  entry.detail = detail;
  entry.customer = { ...entry.customer, ...detail };
  renderCard(callId);
  if (S.form && S.form.callId === callId) { S.form.customer = entry.customer; renderFormCustomer(); }
}

/** The customer of a call became known (created by the agent): card and form follow. */
export function callCustomerCreated(callId, cust) {
  const entry = S.calls.get(callId);
  if (!entry) return;
  entry.customer = cust;
  renderCard(callId);
  loadCustomerDetail(callId, cust.id);
}

function warranty(order) {
  const end = order.warranty_end ? new Date(order.warranty_end) : null;
  const inW = order.in_warranty ?? (end ? end.getTime() > Date.now() : null);
  if (inW === null || inW === undefined) return h("span", { class: "badge" }, t("warranty_unknown"));
  return h("span", { class: `badge ${inW ? "ok" : "bad"}` },
    inW ? t("in_warranty") : t("out_of_warranty"), end ? ` ${t("warranty_until")} ${fmtDate(end, getLang())}` : "");
}

function section(title, body) {
  return h("section", { class: "mini" }, h("h3", {}, title), body || h("p", { class: "muted" }, t("none")));
}

function customerLine(callId, cust, vip) {
  if (!cust) {
    return h("div", { class: "customer unknown" },
      h("span", { class: "cust-name" }, t("unknown_caller")),
      h("button", { type: "button", class: "small", onclick: () => newCustomerForm(callId) }, t("new_customer")));
  }
  return h("div", { class: "customer" },
    h("span", { class: "cust-name" }, cust.name || "—"),
    vip ? h("span", { class: "badge vip" }, t("vip")) : null,
    cust.company ? h("span", { class: "muted" }, ` · ${cust.company}`) : null);
}

function cardLists(entry) {
  const detail = entry.detail || {};
  const orders = detail.orders || (entry.customer && entry.customer.orders) || [];
  const tickets = entry.pop.tickets || detail.tickets || [];
  const calls = entry.pop.calls || detail.calls || [];
  return [
    entry.customer ? section(t("orders"), orders.length ? h("ul", { class: "orders" }, orders.slice(0, 5).map((o) =>
      h("li", {}, h("code", {}, o.number), " ", o.product_name || "", " ", warranty(o)))) : null) : null,
    section(t("open_tickets"), tickets.length ? h("ul", { class: "tickets" }, tickets.slice(0, 6).map((tk) =>
      h("li", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); openTicket(tk.id); } },
        tk.number || `#${tk.id}`), " ", h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)), " ", slaBadge(tk), " ", tk.title || ""))) : null),
    section(t("recent_calls"), calls.length ? h("ul", { class: "calls" }, calls.slice(0, 4).map((c) =>
      h("li", {}, fmtTime(c.started_at, getLang()), " · ", c.state ? tOr("st_", c.state) : "", c.talk_s != null ? ` · ${fmtDuration(c.talk_s)}` : ""))) : null),
  ];
}

/** One IVR step in the agent's words ("pressed 1", "checked T-000123"); a kind this page
 * does not know yet reads as it came. Text nodes only: nothing from the call becomes markup. */
function ivrStep(step) {
  const key = `ivr_step_${step.kind}`;
  const detail = String(step.detail ?? "");
  return t(key) === key ? `${step.kind} ${detail}`.trim() : tf(key, { detail }).trim();
}

/** What the caller did in the phone menu before this phone rang (pop.ivr), or nothing. */
function ivrJourney(ivr) {
  if (!ivr || !Array.isArray(ivr.steps)) return null;
  return h("section", { class: "mini ivr-journey", title: ivr.summary || "" },
    h("h3", {}, t("ivr_journey"), " ", h("span", { class: "badge" }, tOr("ivr_out_", ivr.outcome))),
    h("ol", { class: "ivr-steps" }, ivr.steps.slice(-8).map((s) =>
      h("li", {}, h("span", { class: "muted" }, fmtDuration(s.at_s)), " ", ivrStep(s)))));
}

export function renderCard(callId) {
  const entry = S.calls.get(callId);
  const { pop } = entry;
  const cust = entry.customer;
  const vip = cust && (cust.tier === "vip" || cust.vip === true);
  const stateKey = entry.closed && !isEnded(entry.state) ? entry.closedAs : entry.state;
  const card = h("article", { class: `card call-card${isOver(entry) ? " ended" : ""}${vip ? " vip" : ""}`,
    dataset: { callId }, "aria-label": t("incoming") },
  h("header", { title: t("transcript"), onclick: () => setActiveCall(callId) },
    h("span", { class: `state st-${stateKey}` }, tOr("st_", stateKey),
      entry.closed && entry.answeredBy ? ` ${entry.answeredBy}` : ""),
    h("strong", { class: "caller" }, pop.caller_number || "—"),
    pop.caller_name && pop.caller_name !== pop.caller_number ? h("span", {}, pop.caller_name) : null,
    pop.queue ? h("span", { class: "muted" }, ` ${t("queue")}: `, pop.queue) : null),
  pop.lookup_error ? h("p", { class: "error" }, pop.lookup_error) : null,
  ivrJourney(pop.ivr),
  customerLine(callId, cust, vip),
  h("div", { class: "new-customer-slot" }),
  cardLists(entry),
  h("footer", { class: "row" },
    h("button", { type: "button", class: "primary", onclick: () => {
      if (!S.form || S.form.callId !== callId) openForm(callId);
      showTab("form");
      S.form.el.elements.title.focus();
    } }, t("new_ticket")),
    isOver(entry)
      ? h("button", { type: "button", onclick: () => dismissCall(callId) }, t("dismiss"))
      : hangupSlot(callId, "card")));
  const refocus = focusedKey(entry.el);
  const slot = entry.el && $(".new-customer-slot", entry.el);
  if (slot && slot.childNodes.length) $(".new-customer-slot", card).append(...slot.childNodes); // a name being typed
  if (entry.el && entry.el.isConnected) entry.el.replaceWith(card);
  else $("#call-cards").prepend(card);
  entry.el = card;
  refocusKey(card, refocus);
  $("#call-empty").hidden = S.calls.size > 0;
}

/** Every card again (a language switch); a half-typed new customer's labels would stay in
 * the old language, so that little form closes. */
export function renderAllCards() {
  for (const [id, entry] of S.calls) {
    if (entry.el) $(".new-customer-slot", entry.el).replaceChildren();
    renderCard(id);
  }
}

function dismissCall(callId) {
  if (S.hangupAsk && S.hangupAsk.callId === callId) clearHangupAsk();
  const entry = S.calls.get(callId);
  if (entry && entry.el) entry.el.remove();
  S.calls.delete(callId);
  $("#call-empty").hidden = S.calls.size > 0;
}

function newCustomerForm(callId) {
  const entry = S.calls.get(callId);
  const slot = $(".new-customer-slot", entry.el);
  const name = h("input", { required: true, maxlength: 200, "aria-label": t("customer_name"), placeholder: t("customer_name") });
  const form = h("form", { class: "row" }, name,
    h("button", { type: "submit", class: "primary" }, t("create")),
    h("button", { type: "button", onclick: () => $(".new-customer-slot", entry.el).replaceChildren() }, t("cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const cust = await api("POST", "customers", { name: name.value.trim(), phones: [entry.pop.caller_number] });
      callCustomerCreated(callId, cust);
      if (S.form && S.form.callId === callId) { S.form.customer = cust; renderFormCustomer(); }
    } catch (err) { fail(err, t("new_customer")); }
  });
  fill(slot, form);
  name.focus();
}

export function onCallUpdate(ev) {
  const entry = S.calls.get(ev.call_id);
  if (!entry || !ev.state) return;
  entry.state = ev.state;
  if (Array.isArray(ev.changed) && ev.changed.includes("caller_number")) {
    // The caller ID came after the pop (late caller ID): the card and the form take it.
    entry.pop = { ...entry.pop, caller_number: ev.caller_number, caller_name: ev.caller_name };
    if (ev.customer && ev.customer.id) {
      entry.customer = ev.customer;
      loadCustomerDetail(ev.call_id, ev.customer.id);
    }
  }
  const mine = S.me.extension;
  if (mine && Array.isArray(ev.closed_for) && ev.closed_for.includes(mine)) {
    entry.closed = true;
    entry.answeredBy = ev.answered_by && ev.answered_by !== mine ? ev.answered_by : null;
    entry.closedAs = entry.answeredBy ? "elsewhere" : "left";
  }
  if (isOver(entry) && S.hangupAsk && S.hangupAsk.callId === ev.call_id) clearHangupAsk();
  renderCard(ev.call_id);
  if (S.ticket && S.ticket.call_id === ev.call_id && S.tab === "detail") renderDetail();
}

async function popFromLive(c) {
  const pop = { type: "screen_pop", call_id: c.call_id, pbx: c.pbx, caller_number: c.caller_number,
    caller_name: c.caller_name, queue: c.queue, order_number: c.order_number,
    customer: null, tickets: [], calls: [] };
  if (c.caller_number) {
    const found = items(await quiet(api("GET", `customers?phone=${encodeURIComponent(c.caller_number)}`), []));
    if (found.length) pop.customer = found[0];
  }
  return pop;
}

/** On every (re)connect: calls live for this agent that we have no card for (the console
 * was opened mid-call, or pops were missed while the socket was down) get one; cards of calls
 * that ended meanwhile are marked so. */
export async function resync() {
  const before = new Set(S.calls.keys()); // cards made while we ask are newer than the answer
  const answer = await quiet(api("GET", "calls/live"), null);
  if (answer === null) return; // unknown is not "no calls"
  const live = items(answer);
  const mine = S.me.extension;
  for (const c of live) {
    const forMe = mine && ((c.ringing || []).includes(mine) || c.agent_extension === mine);
    if (!forMe) continue;
    const entry = S.calls.get(c.call_id);
    if (entry) { if (c.state) { entry.state = c.state; renderCard(c.call_id); } continue; }
    const pop = await popFromLive(c);
    if (S.calls.has(c.call_id)) continue; // the real pop came while we looked the caller up
    onScreenPop(pop);
    const entryNow = S.calls.get(c.call_id);
    if (entryNow && c.state) { entryNow.state = c.state; renderCard(c.call_id); }
  }
  const liveIds = new Set(live.map((c) => c.call_id));
  for (const [id, entry] of S.calls) {
    if (before.has(id) && !liveIds.has(id) && !isOver(entry)) { entry.state = "ended"; renderCard(id); }
  }
}
