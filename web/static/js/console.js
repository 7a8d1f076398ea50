// The agent console: call cards from screen_pop, the ticket form prefilled by speech, ticket
// lists and detail, routing, dialling, agent state. Outside text only ever goes through
// textContent (see dom.js h/fill); nothing here builds HTML from strings.
import { api, ApiError, items, logout } from "./api.js";
import { $, $$, fill, fmtDate, fmtDuration, fmtTime, h } from "./dom.js";
import { applyStatic, getLang, langSwitch, t, tf, tOr } from "./i18n.js";
import { HubSocket } from "./socket.js";

const S = {
  me: null,
  types: [],
  groups: [],
  users: [],
  calls: new Map(), // call_id → {pop, state, customer, el}
  transcripts: new Map(), // call_id → [{final, text}]
  prefill: new Map(), // call_id → merged ticket_prefill
  activeCall: null, // the call whose transcript is shown
  form: null, // {callId, customer, caller, el}
  ticket: null, // ticket shown in detail
  tab: "form",
  hangupAsk: null, // {callId, where, until, timer}: a hang-up waiting for the agent's confirmation
};
const PRIORITIES = ["urgent", "high", "normal", "low"];
const STATUSES = ["new", "assigned", "in_progress", "pending_customer", "resolved", "closed", "cancelled"];
const ENDED = new Set(["ended", "abandoned"]);
/** Over for this agent: the call ended, or this agent's leg closed (answered elsewhere,
 * transferred away) while the call goes on. */
const isOver = (entry) => entry.closed || ENDED.has(entry.state);

// -- small helpers ---------------------------------------------------------------------------
const nameOf = (o) => (o ? (getLang() === "zh" && o.name_zh) || o.name || o.key || "" : "");
const typeByKey = (key) => S.types.find((x) => x.key === key);
const userLabel = (u) => `${u.display_name || u.username}${u.extension ? ` (${u.extension})` : ""}`;

function toast(text, kind = "info") {
  const el = $("#toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

function fail(err) {
  const msg = err instanceof ApiError ? `${err.status || ""} ${err.message}` : String(err);
  toast(`${t("error")}: ${msg}`, "error");
}

async function quiet(promise, fallback) {
  try { return await promise; } catch (err) { console.warn(err); return fallback; }
}

function showTab(name) {
  S.tab = name;
  for (const b of $$(".tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of $$(".tab")) s.hidden = s.id !== `tab-${name}`;
  if (name === "mine" || name === "queue") loadList(name);
}

function warranty(order) {
  const end = order.warranty_end ? new Date(order.warranty_end) : null;
  const inW = order.in_warranty ?? (end ? end.getTime() > Date.now() : null);
  if (inW === null || inW === undefined) return h("span", { class: "badge" }, t("warranty_unknown"));
  return h("span", { class: `badge ${inW ? "ok" : "bad"}` },
    inW ? t("in_warranty") : t("out_of_warranty"), end ? ` ${t("warranty_until")} ${fmtDate(end, getLang())}` : "");
}

// -- call cards ------------------------------------------------------------------------------
function onScreenPop(pop) {
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
  setActiveCall(callId);
  // A fresh call takes the form unless the agent is mid-way through a ticket; a repeated pop
  // of the call the form is already for leaves the agent's edits alone.
  if (!S.form || (S.form.callId !== callId && !S.form.dirty)) openForm(callId);
  if (entry.customer && entry.customer.id) loadCustomerDetail(callId, entry.customer.id);
}

async function loadCustomerDetail(callId, customerId) {
  const detail = await quiet(api("GET", `customers/${encodeURIComponent(customerId)}`), null);
  const entry = S.calls.get(callId);
  if (!detail || !entry) return;
  entry.detail = detail;
  entry.customer = { ...entry.customer, ...detail };
  renderCard(callId);
  if (S.form && S.form.callId === callId) S.form.customer = entry.customer;
}

function renderCard(callId) {
  const entry = S.calls.get(callId);
  const { pop } = entry;
  const cust = entry.customer;
  const detail = entry.detail || {};
  const orders = detail.orders || (cust && cust.orders) || [];
  const tickets = pop.tickets || detail.tickets || [];
  const calls = pop.calls || detail.calls || [];
  const vip = cust && (cust.tier === "vip" || cust.vip === true);
  const stateKey = entry.closed && !ENDED.has(entry.state) ? entry.closedAs : entry.state;
  const card = h("article", { class: `card call-card${isOver(entry) ? " ended" : ""}${vip ? " vip" : ""}`,
    dataset: { callId }, "aria-label": t("incoming") },
  h("header", { title: t("transcript"), onclick: () => setActiveCall(callId) },
    h("span", { class: `state st-${stateKey}` }, tOr("st_", stateKey),
      entry.closed && entry.answeredBy ? ` ${entry.answeredBy}` : ""),
    h("strong", { class: "caller" }, pop.caller_number || "—"),
    pop.caller_name && pop.caller_name !== pop.caller_number ? h("span", {}, pop.caller_name) : null,
    pop.queue ? h("span", { class: "muted" }, ` ${t("queue")}: `, pop.queue) : null),
  pop.lookup_error ? h("p", { class: "error" }, pop.lookup_error) : null,
  cust
    ? h("div", { class: "customer" },
      h("span", { class: "cust-name" }, cust.name || "—"),
      vip ? h("span", { class: "badge vip" }, t("vip")) : null,
      cust.company ? h("span", { class: "muted" }, ` · ${cust.company}`) : null)
    : h("div", { class: "customer unknown" },
      h("span", { class: "cust-name" }, t("unknown_caller")),
      h("button", { type: "button", class: "small", onclick: () => newCustomerForm(callId) }, t("new_customer"))),
  h("div", { class: "new-customer-slot" }),
  cust ? section(t("orders"), orders.length ? h("ul", { class: "orders" }, orders.slice(0, 5).map((o) =>
    h("li", {}, h("code", {}, o.number), " ", o.product_name || "", " ", warranty(o)))) : null) : null,
  section(t("open_tickets"), tickets.length ? h("ul", { class: "tickets" }, tickets.slice(0, 6).map((tk) =>
    h("li", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); openTicket(tk.id); } },
      tk.number || `#${tk.id}`), " ", h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)), " ", tk.title || ""))) : null),
  section(t("recent_calls"), calls.length ? h("ul", { class: "calls" }, calls.slice(0, 4).map((c) =>
    h("li", {}, fmtTime(c.started_at, getLang()), " · ", c.state ? tOr("st_", c.state) : "", c.talk_s != null ? ` · ${fmtDuration(c.talk_s)}` : ""))) : null),
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
  if (entry.el && entry.el.isConnected) entry.el.replaceWith(card);
  else $("#call-cards").prepend(card);
  entry.el = card;
  refocusKey(card, refocus);
  $("#call-empty").hidden = S.calls.size > 0;
}

function section(title, body) {
  return h("section", { class: "mini" }, h("h3", {}, title), body || h("p", { class: "muted" }, t("none")));
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
    h("button", { type: "button", onclick: () => slot.replaceChildren() }, t("cancel")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const cust = await api("POST", "customers", { name: name.value.trim(), phones: [entry.pop.caller_number] });
      entry.customer = cust;
      renderCard(callId);
      if (S.form && S.form.callId === callId) { S.form.customer = cust; renderFormCustomer(); }
      loadCustomerDetail(callId, cust.id);
    } catch (err) { fail(err); }
  });
  fill(slot, form);
  name.focus();
}

function onCallUpdate(ev) {
  const entry = S.calls.get(ev.call_id);
  if (!entry || !ev.state) return;
  entry.state = ev.state;
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

// -- hang-up, confirmed in the page ----------------------------------------------------------
// "Hang up" turns into "Hang up this call? [Yes, hang up] [Cancel]" for a few seconds; Escape,
// Cancel or the timeout put the button back. No blocking dialog: calls keep popping meanwhile.
// The pending confirmation lives in S.hangupAsk so that re-renders (call updates) keep it.
const HANGUP_CONFIRM_MS = 5000;

/** A stable key for the focused control inside root (data-hk), to restore after a re-render. */
function focusedKey(root) {
  const el = document.activeElement;
  return root && el && root.contains(el) && el.dataset && el.dataset.hk ? el.dataset.hk : null;
}

function refocusKey(root, key) {
  if (!key) return;
  const el = $(`[data-hk="${key}"]`, root);
  if (el) el.focus();
}

/** The hang-up control for callId at a place ("card" or "detail"): a button, or the question. */
function hangupSlot(callId, where) {
  return h("span", { class: "hangup-slot", dataset: { hangupFor: callId, where } }, hangupControl(callId, where));
}

function hangupControl(callId, where) {
  const ask = S.hangupAsk;
  if (!ask || ask.callId !== callId || ask.where !== where) {
    return h("button", { type: "button", class: "danger", dataset: { hk: "hangup" },
      onclick: () => askHangup(callId, where) }, t("hangup"));
  }
  const bar = h("span", { class: "countdown", "aria-hidden": "true" });
  bar.style.animationDuration = `${HANGUP_CONFIRM_MS}ms`; // CSSOM, allowed by the CSP
  bar.style.animationDelay = `${Math.min(0, ask.until - Date.now() - HANGUP_CONFIRM_MS)}ms`;
  return h("span", { class: "hangup-confirm", role: "group", "aria-label": t("confirm_hangup") },
    h("span", { class: "prompt" }, t("confirm_hangup")),
    h("button", { type: "button", class: "danger solid", dataset: { hk: "confirm" }, onclick: () => hangup(callId) }, t("hangup_yes")),
    h("button", { type: "button", dataset: { hk: "cancel" }, onclick: () => cancelHangup() }, t("cancel")),
    bar);
}

/** Swap the hang-up controls of callId in place (no re-render of the card or detail). */
function redrawHangup(callId) {
  for (const slot of $$(".hangup-slot")) {
    if (slot.dataset.hangupFor !== callId) continue;
    const key = focusedKey(slot);
    fill(slot, hangupControl(callId, slot.dataset.where));
    // Focus inside the question goes back to the button when the question goes away.
    refocusKey(slot, key && !$(`[data-hk="${key}"]`, slot) ? "hangup" : key);
  }
}

function askHangup(callId, where) {
  const entry = S.calls.get(callId);
  if (!entry || isOver(entry)) return;
  if (S.hangupAsk) cancelHangup();
  S.hangupAsk = { callId, where, until: Date.now() + HANGUP_CONFIRM_MS,
    timer: setTimeout(() => cancelHangup(), HANGUP_CONFIRM_MS) };
  redrawHangup(callId);
  const slot = $$(".hangup-slot").find((x) => x.dataset.hangupFor === callId && x.dataset.where === where);
  const yes = slot && $("[data-hk=confirm]", slot);
  if (yes) yes.focus();
}

function clearHangupAsk() {
  const ask = S.hangupAsk;
  if (!ask) return null;
  clearTimeout(ask.timer);
  S.hangupAsk = null;
  return ask;
}

function cancelHangup() {
  const ask = clearHangupAsk();
  if (ask) redrawHangup(ask.callId);
}

async function hangup(callId) {
  clearHangupAsk();
  redrawHangup(callId);
  try { await api("POST", `calls/${encodeURIComponent(callId)}/hangup`); } catch (err) { fail(err); }
}

// -- transcript and prefill ------------------------------------------------------------------
function setActiveCall(callId) {
  S.activeCall = callId;
  $("#transcript-call").textContent = callId || "";
  renderTranscript();
}

function onAsr(ev) {
  const lines = S.transcripts.get(ev.call_id) || [];
  const last = lines[lines.length - 1];
  if (last && !last.final) lines.pop(); // a partial is replaced by what follows it
  lines.push({ final: !!ev.final, text: String(ev.text ?? "") });
  if (lines.length > 500) lines.splice(0, lines.length - 500);
  S.transcripts.set(ev.call_id, lines);
  if (!S.activeCall) setActiveCall(ev.call_id);
  if (ev.call_id === S.activeCall) renderTranscript();
  if (ev.final) suggestKbSoon();
}

function renderTranscript() {
  const box = $("#transcript");
  const lines = S.transcripts.get(S.activeCall) || [];
  if (!lines.length) { fill(box, h("p", { class: "muted" }, t("no_transcript"))); return; }
  fill(box, lines.map((l) => h("p", { class: l.final ? "final" : "partial" }, l.text)));
  box.scrollTop = box.scrollHeight;
}

/** Append the shown call's final transcript lines to the ticket description (agent action). */
function transcriptToDescription() {
  if (!S.form) return;
  const lines = (S.transcripts.get(S.activeCall) || []).filter((l) => l.final).map((l) => l.text);
  if (!lines.length) return;
  const desc = S.form.el.elements.description;
  desc.value = [desc.value.trim(), ...lines].filter(Boolean).join("\n");
  desc.dataset.dirty = "1";
  S.form.dirty = true;
  showTab("form");
  desc.focus();
}

function onPrefill(ev) {
  const prev = S.prefill.get(ev.call_id) || { ticket_type: null, order_numbers: [], phone_numbers: [] };
  const merged = {
    ticket_type: ev.ticket_type || prev.ticket_type,
    order_numbers: [...new Set([...(prev.order_numbers || []), ...(ev.order_numbers || [])])],
    phone_numbers: [...new Set([...(prev.phone_numbers || []), ...(ev.phone_numbers || [])])],
  };
  S.prefill.set(ev.call_id, merged);
  if (S.form && S.form.callId === ev.call_id) applyPrefill();
}

/** Put speech-derived values into fields the agent has not touched. */
function applyPrefill() {
  const p = S.prefill.get(S.form.callId);
  if (!p) return;
  const f = S.form.el;
  const put = (name, value) => {
    const input = f.elements[name];
    if (!input || value === null || value === undefined || value === "" || input.dataset.dirty) return false;
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === value)) return false;
    if (input.value === value) return false;
    input.value = value;
    input.classList.add("prefilled");
    input.closest("label")?.classList.add("has-prefill");
    if (name === "type") input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  };
  put("type", p.ticket_type);
  put("order_number", p.order_numbers[0]);
  if (!S.form.customer) put("customer_phone", p.phone_numbers[0]);
  if (p.ticket_type && !f.elements.title.dataset.dirty) {
    f.elements.title.value = `${nameOf(typeByKey(p.ticket_type)) || p.ticket_type} · ${S.form.caller || ""}`.trim();
  }
  suggestKbSoon();
}

// -- ticket form -----------------------------------------------------------------------------
function options(list, value, blank) {
  const out = blank !== undefined ? [h("option", { value: "" }, blank)] : [];
  for (const [v, label] of list) out.push(h("option", { value: String(v) }, label));
  const sel = h("select", {}, out);
  if (value !== undefined && value !== null) sel.value = String(value);
  return sel;
}

function field(label, input, cls = "") {
  return h("label", { class: cls }, h("span", {}, label), input);
}

function openForm(callId) {
  const entry = callId ? S.calls.get(callId) : null;
  const caller = entry ? entry.pop.caller_number : "";
  const typeSel = options(S.types.map((x) => [x.key, nameOf(x)]), null, "—");
  typeSel.name = "type";
  const prio = options(PRIORITIES.map((p) => [p, t(`p_${p}`)]), "normal");
  prio.name = "priority";
  const group = options(S.groups.map((g) => [g.id, nameOf(g)]), null, t("unassigned"));
  group.name = "group";
  const assignee = options(S.users.filter((u) => u.role === "agent" || u.role === "supervisor")
    .map((u) => [u.id, userLabel(u)]), null, t("unassigned"));
  assignee.name = "assignee";
  const extra = h("fieldset", { class: "extra-fields", hidden: true });
  const form = h("form", { id: "ticket-form", class: "ticket-form", autocomplete: "off" },
    h("div", { class: "form-head" },
      h("span", { id: "form-customer" }),
      callId ? h("span", { class: "muted" }, `${t("call")}: `, h("code", {}, callId)) : null),
    field(t("title"), h("input", { name: "title", required: true, maxlength: 200, value: caller ? `${t("call")} ${caller}` : "" }), "wide"),
    h("div", { class: "grid3" },
      field(t("type"), typeSel), field(t("priority"), prio),
      field(t("order_number"), h("input", { name: "order_number", maxlength: 64 }))),
    h("div", { class: "grid3" },
      field(t("group"), group), field(t("assignee"), assignee),
      field(t("caller"), h("input", { name: "customer_phone", maxlength: 40, value: caller || "" }))),
    extra,
    field(t("description"), h("textarea", { name: "description", rows: 4, maxlength: 20000 }), "wide"),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "create-ticket" }, t("save_ticket")),
      h("span", { class: "muted" }, h("span", { class: "prefill-dot" }), ` ${t("prefilled")}`)));
  // Anything the agent types is theirs: later prefill must not overwrite it.
  form.addEventListener("input", (ev) => {
    const el = ev.target;
    if (el.name) { el.dataset.dirty = "1"; el.classList.remove("prefilled"); }
    S.form.dirty = true;
    if (el.name === "title") suggestKbSoon();
  });
  form.addEventListener("change", (ev) => {
    const el = ev.target;
    if (ev.isTrusted && el.name) { el.dataset.dirty = "1"; el.classList.remove("prefilled"); S.form.dirty = true; }
    if (el.name === "type") renderExtraFields(extra, el.value);
  });
  form.addEventListener("submit", submitTicket);
  S.form = { callId, caller, customer: entry ? entry.customer : null, el: form, dirty: false };
  fill($("#tab-form"), form);
  renderFormCustomer();
  applyPrefill();
}

function renderFormCustomer() {
  const slot = $("#form-customer");
  if (!slot) return;
  const c = S.form.customer;
  fill(slot, `${t("customer")}: `, c ? h("strong", {}, c.name || `#${c.id}`) : h("em", {}, t("unknown_caller")));
}

function renderExtraFields(box, typeKey) {
  const type = typeByKey(typeKey);
  const specs = (type && type.fields) || [];
  box.hidden = !specs.length;
  fill(box, specs.length ? h("legend", {}, t("fields")) : null, specs.map((spec) => {
    const label = (getLang() === "zh" && spec.label_zh) || spec.label || spec.key;
    let input;
    if (spec.type === "choice") input = options((spec.options || []).map((o) => [o, o]), null, "—");
    else if (spec.type === "bool") input = h("input", { type: "checkbox" });
    else input = h("input", { type: spec.type === "number" ? "number" : spec.type === "date" ? "date" : "text", maxlength: 500 });
    input.name = `f_${spec.key}`;
    input.dataset.field = spec.key;
    input.dataset.kind = spec.type || "text";
    if (spec.required) input.required = true;
    return field(label, input);
  }));
}

function formFields(form) {
  const out = {};
  for (const el of $$("[data-field]", form)) {
    if (el.dataset.kind === "bool") out[el.dataset.field] = el.checked;
    else if (el.value !== "") out[el.dataset.field] = el.dataset.kind === "number" ? Number(el.value) : el.value;
  }
  return out;
}

async function submitTicket(ev) {
  ev.preventDefault();
  const f = ev.target;
  const v = (n) => (f.elements[n] ? f.elements[n].value.trim() : "");
  const body = {
    title: v("title"), description: v("description"), priority: v("priority") || "normal",
    channel: S.form.callId ? "phone" : "web", fields: formFields(f),
  };
  if (v("type")) body.type = v("type");
  if (v("order_number")) body.order_number = v("order_number");
  if (S.form.callId) body.call_id = S.form.callId;
  if (S.form.customer && S.form.customer.id) body.customer_id = S.form.customer.id;
  else if (v("customer_phone")) body.customer_phone = v("customer_phone");
  if (v("group")) body.group = Number(v("group"));
  if (v("assignee")) body.assignee = Number(v("assignee"));
  const btn = $("#create-ticket");
  btn.disabled = true;
  try {
    const ticket = await api("POST", "tickets", body);
    toast(`${t("created")}: ${ticket.number}`);
    S.form.dirty = false;
    openForm(null);
    await openTicket(ticket.id);
  } catch (err) { fail(err); } finally { btn.disabled = false; }
}

// -- ticket lists ----------------------------------------------------------------------------
// A list shows a page of PAGE rows; "load more" appends the next page (offset = rows received
// so far) until the server's total is reached. A new query (tab opened, filter changed,
// refresh) starts again at one page; a live refresh (a ticket changed, language switch) keeps
// as many rows as were loaded.
const PAGE = 50;
const API_MAX_LIMIT = 200; // GET /api/v1/tickets caps limit at 200
const KEEP_MAX = 1000; // a live refresh reloads at most this many rows
const listSeq = { mine: 0, queue: 0 };
const listState = { mine: { status: "", q: "" }, queue: { status: "", q: "", group: "" } };
/** What each list shows: {params, ids, offset, total, tbody, more, count, loading}. */
const lists = { mine: null, queue: null };

function listParams(which) {
  const st = listState[which];
  const params = new URLSearchParams();
  if (which === "mine") params.set("assignee", "me");
  else {
    const gid = st.group || (S.me.group_ids && S.me.group_ids[0]) || "";
    if (gid) params.set("group_id", String(gid));
  }
  if (st.status) params.set("status", st.status);
  if (st.q) params.set("q", st.q);
  return params;
}

/** One page of tickets: {rows, total}. A bare-array answer counts as complete. */
async function fetchTickets(params, offset, limit) {
  const p = new URLSearchParams(params);
  p.set("limit", String(limit));
  p.set("offset", String(offset));
  const data = await api("GET", `tickets?${p}`);
  const rows = items(data);
  const total = data && !Array.isArray(data) && Number.isFinite(data.total) ? data.total : offset + rows.length;
  return { rows, total };
}

function ticketRow(tk) {
  const tr = h("tr", { tabindex: 0, class: "clickable", dataset: { id: tk.id } },
    h("td", {}, h("code", {}, tk.number)), h("td", {}, tk.title),
    h("td", {}, h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status))),
    h("td", {}, tOr("p_", tk.priority)), h("td", {}, fmtTime(tk.due_at, getLang())),
    h("td", {}, fmtTime(tk.updated_at, getLang())));
  tr.addEventListener("click", () => openTicket(tk.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openTicket(tk.id); });
  return tr;
}

/** Show the list's "N of TOTAL" and the load-more button while rows remain. */
function renderListMore(which) {
  const L = lists[which];
  if (!L || !L.count) return;
  const shown = L.ids.size;
  L.count.textContent = tf("list_count", { n: shown, total: Math.max(L.total, shown) });
  const more = !L.exhausted && L.offset < L.total;
  if (!more) { if (L.more) L.more.remove(); L.more = null; return; }
  if (!L.more) {
    L.more = h("button", { type: "button", class: "load-more", dataset: { hk: "more" }, onclick: () => loadMore(which) });
    L.count.after(L.more);
  }
  // Not disabled while loading: a disabled button would drop the keyboard focus.
  L.more.setAttribute("aria-busy", String(!!L.loading));
  L.more.textContent = L.loading ? t("loading") : t("load_more");
}

async function loadList(which, { keep = false } = {}) {
  const box = $(`#tab-${which}`);
  const st = listState[which];
  const params = listParams(which);
  const prev = lists[which];
  // A live refresh of the same query keeps what was loaded, focus and scroll included.
  const same = keep && prev && prev.params === params.toString();
  const want = same ? Math.min(KEEP_MAX, Math.max(PAGE, prev.ids.size)) : PAGE;
  const active = document.activeElement;
  const focusId = same && box.contains(active) ? (active.dataset.hk ? `hk:${active.dataset.hk}` : active.dataset.id) : null;
  const scroll = same ? box.scrollTop : 0;
  const oldQ = same ? $("input[name=q]", box) : null; // search text typed but not yet submitted
  const filters = h("form", { class: "row filters" },
    which === "queue" ? (() => {
      const mine = S.groups.filter((g) => !S.me.group_ids || !S.me.group_ids.length || S.me.group_ids.includes(g.id));
      const sel = options(mine.map((g) => [g.id, nameOf(g)]), st.group || (S.me.group_ids || [])[0]);
      sel.setAttribute("aria-label", t("group"));
      sel.addEventListener("change", () => { st.group = sel.value; loadList(which); });
      return sel;
    })() : null,
    (() => {
      const sel = options(STATUSES.map((s) => [s, t(`s_${s}`)]), st.status, t("all_status"));
      sel.setAttribute("aria-label", t("status"));
      sel.addEventListener("change", () => { st.status = sel.value; loadList(which); });
      return sel;
    })(),
    h("input", { type: "search", name: "q", value: st.q, placeholder: t("search"), "aria-label": t("search") }),
    h("button", { type: "submit" }, t("refresh")));
  filters.addEventListener("submit", (e) => { e.preventDefault(); st.q = filters.elements.q.value.trim(); loadList(which); });
  const seq = ++listSeq[which];
  const rows = [];
  const ids = new Set();
  let offset = 0;
  let total = 0;
  let exhausted = false;
  try {
    do {
      const page = await fetchTickets(params, offset, Math.min(API_MAX_LIMIT, want - rows.length));
      if (seq !== listSeq[which]) return; // a newer load (filter change) is under way
      offset += page.rows.length;
      total = page.total;
      for (const tk of page.rows) if (!ids.has(tk.id)) { ids.add(tk.id); rows.push(tk); }
      if (!page.rows.length) exhausted = true;
    } while (!exhausted && rows.length < want && offset < total);
  } catch (err) { fail(err); }
  if (seq !== listSeq[which]) return;
  if (oldQ) filters.elements.q.value = oldQ.value;
  const L = { params: params.toString(), ids, offset, total, exhausted, tbody: null, more: null, count: null, loading: false };
  lists[which] = L;
  if (!rows.length) { fill(box, filters, h("p", { class: "muted" }, t("empty"))); return; }
  L.tbody = h("tbody", {}, rows.map(ticketRow));
  const table = h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("number"), t("title"), t("status"), t("priority"), t("due"), t("updated")].map((x) => h("th", {}, x)))),
    L.tbody);
  L.count = h("span", { class: "list-count muted", role: "status", "aria-live": "polite", tabindex: -1 });
  fill(box, filters, table, h("div", { class: "row list-more" }, L.count));
  renderListMore(which);
  if (same) {
    box.scrollTop = scroll;
    const back = focusId && (focusId.startsWith("hk:")
      ? $(`[data-hk="${focusId.slice(3)}"]`, box) : $(`tr[data-id="${CSS.escape(focusId)}"]`, box));
    if (back) back.focus({ preventScroll: true });
    else if (oldQ && active === oldQ) {
      filters.elements.q.focus({ preventScroll: true });
      filters.elements.q.setSelectionRange(oldQ.selectionStart, oldQ.selectionEnd);
    }
  }
}

/** Append the next page; keyboard focus moves to the first new row. */
async function loadMore(which) {
  const L = lists[which];
  if (!L || L.loading || !L.tbody) return;
  const seq = listSeq[which];
  const hadFocus = !!L.more && document.activeElement === L.more;
  L.loading = true;
  renderListMore(which);
  let page = null;
  try { page = await fetchTickets(new URLSearchParams(L.params), L.offset, PAGE); } catch (err) { fail(err); }
  if (seq !== listSeq[which] || lists[which] !== L) return; // the list was reloaded meanwhile
  L.loading = false;
  let first = null;
  if (page) {
    L.offset += page.rows.length;
    L.total = page.total;
    if (!page.rows.length) L.exhausted = true;
    const fresh = page.rows.filter((tk) => !L.ids.has(tk.id)); // rows shifted by new tickets
    for (const tk of fresh) L.ids.add(tk.id);
    const trs = fresh.map(ticketRow);
    L.tbody.append(...trs);
    first = trs[0] || null;
  }
  renderListMore(which);
  if (first && hadFocus) first.focus();
  else if (hadFocus && L.more) L.more.focus();
  else if (hadFocus) L.count.focus();
}

// -- ticket detail ---------------------------------------------------------------------------
let openSeq = 0;
async function openTicket(id, note) {
  const seq = ++openSeq;
  let ticket;
  try { ticket = await api("GET", `tickets/${encodeURIComponent(id)}`); } catch (err) { fail(err); return; }
  if (seq !== openSeq) return; // the agent opened another ticket meanwhile
  S.ticket = ticket;
  renderDetail(note);
  showTab("detail");
  loadDetailExtras(ticket.id);
}

function renderDetail(note) {
  const tk = S.ticket;
  const box = $("#tab-detail");
  // A re-render of the same ticket (a call update, a language switch) keeps the comment being
  // typed and the comments/attachments/history already loaded.
  const same = box.dataset.ticketId === String(tk.id);
  const draftBox = $(".comment-form textarea", box);
  const draft = same && draftBox ? draftBox.value : "";
  const kept = same ? ["comments", "attachments", "history"]
    .map((id) => [id, $(`#${id}`, box)]).filter(([, el]) => el).map(([id, el]) => [id, [...el.childNodes]]) : [];
  box.dataset.ticketId = String(tk.id);
  const refocus = focusedKey(box);
  const type = typeByKey(tk.type);
  const statusSel = options((tk.allowed_status || []).map((s) => [s, t(`s_${s}`)]), null, t("change_status"));
  statusSel.setAttribute("aria-label", t("change_status"));
  const statusForm = h("form", { class: "row" }, statusSel, h("button", { type: "submit" }, t("apply")));
  statusForm.addEventListener("submit", (e) => { e.preventDefault(); if (statusSel.value) patchTicket({ status: statusSel.value }); });

  const groupSel = options(S.groups.map((g) => [g.id, nameOf(g)]), tk.group_id, t("unassigned"));
  groupSel.setAttribute("aria-label", t("group"));
  const userSel = options(S.users.filter((u) => u.role !== "customer").map((u) => [u.id, userLabel(u)]), tk.assignee_id, t("unassigned"));
  userSel.setAttribute("aria-label", t("assignee"));
  const assignForm = h("form", { class: "row" }, groupSel, userSel, h("button", { type: "submit" }, t("assign")));
  assignForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const changes = {};
    if (groupSel.value && Number(groupSel.value) !== tk.group_id) changes.group = Number(groupSel.value);
    if (userSel.value && Number(userSel.value) !== tk.assignee_id) changes.assignee = Number(userSel.value);
    if (Object.keys(changes).length) patchTicket(changes);
  });

  const targets = S.users.filter((u) => u.extension && u.id !== S.me.id && u.role !== "customer");
  const xferSel = options(targets.map((u) => [u.extension, userLabel(u)]), null, t("transfer_to"));
  xferSel.setAttribute("aria-label", t("transfer_to"));
  xferSel.id = "transfer-target";
  const xferForm = h("form", { class: "row" }, xferSel,
    h("button", { type: "submit", id: "transfer-btn", disabled: !tk.call_id }, t("transfer")));
  xferForm.addEventListener("submit", (e) => { e.preventDefault(); if (xferSel.value) transferCall(xferSel.value); });

  const phone = tk.customer_phone || (S.ticketCustomer && S.ticketCustomer.id === tk.customer_id
    && S.ticketCustomer.phones && S.ticketCustomer.phones[0] && S.ticketCustomer.phones[0].e164);
  fill(box,
    note ? h("p", { class: "notice" }, note) : null,
    h("header", { class: "detail-head" },
      h("h2", {}, h("code", {}, tk.number), " ", tk.title),
      h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)),
      h("span", { class: `badge p-${tk.priority}` }, tOr("p_", tk.priority))),
    h("dl", { class: "facts" },
      fact(t("type"), type ? nameOf(type) : tk.type || "—"),
      fact(t("customer"), h("span", { id: "detail-customer" }, tk.customer_id ? `#${tk.customer_id}` : "—")),
      fact(t("order_number"), tk.order_number || "—"),
      fact(t("call"), tk.call_id || "—"),
      fact(t("group"), nameOf(S.groups.find((g) => g.id === tk.group_id)) || "—"),
      fact(t("assignee"), (() => { const u = S.users.find((x) => x.id === tk.assignee_id); return u ? userLabel(u) : "—"; })()),
      fact(t("due"), fmtTime(tk.due_at, getLang())),
      fact(t("updated"), fmtTime(tk.updated_at, getLang()))),
    tk.description ? h("p", { class: "description" }, tk.description) : null,
    Object.keys(tk.fields || {}).length ? h("dl", { class: "facts" },
      Object.entries(tk.fields).map(([k, val]) => {
        const spec = ((type && type.fields) || []).find((x) => x.key === k);
        const label = spec ? (getLang() === "zh" && spec.label_zh) || spec.label || k : k;
        return fact(label, typeof val === "object" ? JSON.stringify(val) : String(val));
      })) : null,
    h("section", { class: "actions" },
      h("h3", {}, t("route")),
      statusForm, assignForm,
      h("div", { class: "row" },
        h("button", { type: "button", onclick: forwardTicket, disabled: !(type && type.flow && type.flow.length) }, t("forward")),
        h("button", { type: "button", id: "call-customer", disabled: !phone, onclick: () => dial(phone) }, t("call_customer")),
        tk.call_id && S.calls.has(tk.call_id) && !isOver(S.calls.get(tk.call_id))
          ? hangupSlot(tk.call_id, "detail") : null),
      xferForm),
    h("div", { class: "detail-cols" },
      h("section", {}, h("h3", {}, t("comments")), h("div", { id: "comments" }), commentForm()),
      h("section", {}, h("h3", {}, t("attachments")), h("div", { id: "attachments" }), uploadForm(),
        h("h3", {}, t("history")), h("ol", { id: "history", class: "history" }))));
  if (draft) $(".comment-form textarea", box).value = draft;
  refocusKey(box, refocus);
  for (const [id, nodes] of kept) $(`#${id}`, box).append(...nodes);
  if (tk.customer_id) {
    quiet(api("GET", `customers/${tk.customer_id}`), null).then((c) => {
      if (!c || !S.ticket || S.ticket.id !== tk.id) return;
      S.ticketCustomer = c;
      const slot = $("#detail-customer");
      if (slot) fill(slot, c.name || `#${c.id}`, c.tier === "vip" ? h("span", { class: "badge vip" }, t("vip")) : null);
      const p = c.phones && c.phones[0] && (c.phones[0].e164 || c.phones[0]);
      const btn = $("#call-customer");
      if (btn && p) { btn.disabled = false; btn.onclick = () => dial(p); }
    });
  }
  suggestKbSoon();
}

const fact = (k, v) => [h("dt", {}, k), h("dd", {}, v)];

function commentForm() {
  const body = h("textarea", { name: "body", rows: 2, maxlength: 20000, required: true, "aria-label": t("add_comment"), placeholder: t("add_comment") });
  const pub = h("input", { type: "checkbox", name: "public" });
  const form = h("form", { class: "comment-form" }, body,
    h("div", { class: "row" }, h("label", { class: "inline" }, pub, t("public")), h("button", { type: "submit" }, t("send"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `tickets/${S.ticket.id}/comments`, { body: body.value, public: pub.checked });
      body.value = "";
      loadDetailExtras(S.ticket.id);
    } catch (err) { fail(err); }
  });
  return form;
}

function uploadForm() {
  // The browser's own file button speaks the browser's language; this one speaks the UI's.
  const input = h("input", { type: "file", name: "file", required: true, "aria-label": t("choose_file") });
  const picked = h("span", { class: "muted file-name" }, t("no_file"));
  input.addEventListener("change", () => { picked.textContent = input.files.length ? input.files[0].name : t("no_file"); });
  const form = h("form", { class: "row" },
    h("label", { class: "file-pick" }, input, h("span", { class: "button" }, t("choose_file"))),
    picked, h("button", { type: "submit" }, t("upload")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!input.files.length) return;
    const data = new FormData();
    data.append("file", input.files[0]);
    try {
      await api("POST", `tickets/${S.ticket.id}/attachments`, data, { form: true });
      input.value = "";
      picked.textContent = t("no_file");
      loadDetailExtras(S.ticket.id);
    } catch (err) { fail(err); }
  });
  return form;
}

let extrasSeq = 0;
async function loadDetailExtras(id) {
  const seq = ++extrasSeq; // a slower, older load must not overwrite a newer one
  const [comments, history, attachments] = await Promise.all([
    quiet(api("GET", `tickets/${id}/comments`), []),
    quiet(api("GET", `tickets/${id}/history`), []),
    quiet(api("GET", `tickets/${id}/attachments`), []),
  ]);
  if (seq !== extrasSeq || !S.ticket || S.ticket.id !== id || !$("#comments")) return;
  const userName = (uid) => { const u = S.users.find((x) => x.id === uid); return u ? u.display_name || u.username : uid ? `#${uid}` : "—"; };
  const cs = items(comments);
  fill($("#comments"), cs.length ? h("ul", { class: "comments" }, cs.map((c) => h("li", {},
    h("div", { class: "muted" }, userName(c.author_id), " · ", fmtTime(c.created_at, getLang()), c.public ? ` · ${t("public")}` : ""),
    h("p", {}, c.body)))) : h("p", { class: "muted" }, t("none")));
  const as = items(attachments);
  fill($("#attachments"), as.length ? h("ul", {}, as.map((a) => h("li", {},
    h("a", { href: `/api/v1/tickets/${id}/attachments/${a.id}`, target: "_blank", rel: "noopener" }, a.filename),
    ` (${Math.ceil((a.size || 0) / 1024)} KB)`))) : h("p", { class: "muted" }, t("none")));
  fill($("#history"), items(history).map((e) => h("li", {},
    h("span", { class: "muted" }, fmtTime(e.at, getLang()), " · ", userName(e.actor_id), " · "),
    h("strong", {}, tOr("ev_", e.kind)), " ", summarize(e.data, userName))));
}

// History entries in words: field names and values in the UI language, people and groups by
// name. Updates are {field: {from, to}}; "created" lists the first values.
const HISTORY_SKIP = new Set(["call_id", "comment_id", "attachment_id", "reason", "note"]);
function historyValue(key, v, userName) {
  if (v === null || v === undefined || v === "") return "—";
  if (key === "status") return tOr("s_", v);
  if (key === "priority") return tOr("p_", v);
  if (key === "assignee_id") return userName(v);
  if (key === "group_id") return nameOf(S.groups.find((g) => g.id === v)) || `#${v}`;
  if (key === "type" || key === "type_key") return nameOf(typeByKey(v)) || String(v);
  if (key === "channel") return tOr("ch_", v);
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function summarize(data, userName) {
  if (!data || typeof data !== "object") return "";
  const label = (k) => tOr("f_", k.replace(/_id$/, ""));
  const parts = [];
  for (const [k, v] of Object.entries(data)) {
    if (HISTORY_SKIP.has(k)) continue;
    if (v && typeof v === "object" && "to" in v) {
      parts.push(`${label(k)}: ${historyValue(k, v.from, userName)} → ${historyValue(k, v.to, userName)}`);
    } else if (v !== null && v !== undefined && v !== "") {
      parts.push(`${label(k)}: ${historyValue(k, v, userName)}`);
    }
  }
  if (data.reason) parts.push(`${t("reason")}: ${data.reason}`);
  if (data.note) parts.push(String(data.note));
  return parts.join(" · ").slice(0, 400);
}

async function patchTicket(changes) {
  S.mutating = (S.mutating || 0) + 1;
  try {
    S.ticket = await api("PATCH", `tickets/${S.ticket.id}`, { ...changes, version: S.ticket.version });
    toast(t("saved"));
    renderDetail();
    loadDetailExtras(S.ticket.id);
  } catch (err) {
    fail(err);
    if (err.status === 409) openTicket(S.ticket.id); // someone else changed it: show theirs
  } finally { S.mutating -= 1; }
}

async function forwardTicket() {
  S.mutating = (S.mutating || 0) + 1;
  try {
    S.ticket = await api("POST", `tickets/${S.ticket.id}/forward`);
    toast(t("saved"));
    renderDetail();
    loadDetailExtras(S.ticket.id);
  } catch (err) { fail(err); } finally { S.mutating -= 1; }
}

async function transferCall(extension) {
  const tk = S.ticket;
  try {
    await api("POST", `calls/${encodeURIComponent(tk.call_id)}/transfer`, { extension, ticket_id: tk.id });
    toast(`${t("transfer")} → ${extension}`);
  } catch (err) { fail(err); }
}

function onTicketTransfer(ev) {
  const tk = ev.ticket || {};
  if (ev.call_id) { socket.watch(ev.call_id); setActiveCall(ev.call_id); }
  const note = `${t("transferred_in")} ${t("from")} ${ev.from_user || "?"}`;
  const card = h("article", { class: "card transfer-card", dataset: { ticketId: tk.id } },
    h("header", {}, h("strong", {}, t("transferred_in")), " ", h("span", { class: "muted" }, `${t("from")} ${ev.from_user || "?"}`)),
    h("p", {}, h("code", {}, tk.number || `#${tk.id}`), " ", tk.title || ""),
    h("footer", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => openTicket(tk.id, note) }, t("open")),
      h("button", { type: "button", onclick: () => card.remove() }, t("dismiss"))));
  $("#inbox").prepend(card);
  if (tk.id) openTicket(tk.id, note);
}

function onTicketUpdated(ev) {
  const tk = ev.ticket || ev;
  // Only a newer version (someone else's change) reloads. Our own change's event can arrive
  // before our PATCH's answer: while one is in flight, the answer is what counts.
  if (S.ticket && tk.id === S.ticket.id && tk.version > S.ticket.version && S.tab === "detail"
      && !S.mutating) {
    openTicket(tk.id);
  }
  if (S.tab === "mine" || S.tab === "queue") refreshListSoon();
}

/** Live refresh of the list on screen; a burst of ticket events makes one reload. */
let refreshTimer = null;
function refreshListSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (S.tab === "mine" || S.tab === "queue") loadList(S.tab, { keep: true }); }, 200);
}

// -- calls, KB, state -------------------------------------------------------------------------
async function dial(to) {
  if (!to) return;
  try { await api("POST", "calls/originate", { to }); toast(`${t("calling")} ${to}`); } catch (err) { fail(err); }
}

let kbTimer = null;
function suggestKbSoon() {
  clearTimeout(kbTimer);
  kbTimer = setTimeout(suggestKb, 250);
}

suggestKb.seq = 0;
async function suggestKb() {
  const parts = [];
  let type = "";
  if (S.tab === "detail" && S.ticket) { parts.push(S.ticket.title); type = S.ticket.type || ""; }
  else if (S.form) {
    const f = S.form.el.elements;
    parts.push(f.title.value);
    type = f.type.value;
    const lines = (S.transcripts.get(S.form.callId) || []).filter((l) => l.final).slice(-3);
    parts.push(...lines.map((l) => l.text));
  }
  const q = parts.join(" ").replace(/\s+/g, " ").trim().slice(0, 500);
  const box = $("#kb");
  if (!q) { fill(box, h("p", { class: "muted" }, t("no_kb"))); return; }
  const params = new URLSearchParams({ q });
  if (type) params.set("type", type);
  const seq = ++suggestKb.seq; // an older, slower answer must not replace a newer one
  const arts = items(await quiet(api("GET", `kb/suggest?${params}`), []));
  if (seq !== suggestKb.seq) return;
  fill(box, arts.length ? arts.slice(0, 5).map((a) => h("details", { class: "kb" },
    h("summary", {}, a.title), h("p", {}, (a.body || "").slice(0, 1200)))) : h("p", { class: "muted" }, t("no_kb")));
}

async function setState(ev) {
  ev.preventDefault();
  const state = $("#agent-state").value;
  const body = { state };
  if (state === "paused") body.reason = $("#pause-reason").value;
  try { await api("POST", "agents/me/state", body); toast(`${t("state")}: ${t(state)}`); } catch (err) { fail(err); }
}

/** agent_state comes from the API ({state, reason}) or from the PBX ({paused, paused_reason}). */
function agentStateOf(ev) {
  if (ev.state) return { state: ev.state, reason: ev.reason || null };
  if (ev.paused === undefined) return null;
  const reason = ev.paused_reason || null;
  return { state: ev.paused ? (reason === "wrapup" ? "wrapup" : "paused") : "available", reason };
}

function onAgentState(ev) {
  const mine = ev.user_id === S.me.id || (ev.extension && S.me.extension && String(ev.extension) === S.me.extension);
  const st = agentStateOf(ev);
  if (!mine || !st) return;
  const sel = $("#agent-state");
  if ([...sel.options].some((o) => o.value === st.state)) sel.value = st.state;
  const reason = $("#pause-reason");
  if (st.reason && [...reason.options].some((o) => o.value === st.reason)) reason.value = st.reason;
  reason.hidden = sel.value !== "paused";
}

/** On every (re)connect: calls live for this agent that we have no card for (the console
 * was opened mid-call, or pops were missed while the socket was down) get one; cards of calls
 * that ended meanwhile are marked so. */
async function resync() {
  const before = new Set(S.calls.keys()); // cards made while we ask are newer than the answer
  const answer = await quiet(api("GET", "calls/live"), null);
  if (answer === null) return; // unknown is not "no calls"
  const live = items(answer);
  const mine = S.me.extension;
  const liveIds = new Set(live.map((c) => c.call_id));
  for (const c of live) {
    const forMe = mine && ((c.ringing || []).includes(mine) || c.agent_extension === mine);
    if (!forMe) continue;
    const entry = S.calls.get(c.call_id);
    if (entry) { if (c.state) { entry.state = c.state; renderCard(c.call_id); } continue; }
    const pop = { type: "screen_pop", call_id: c.call_id, pbx: c.pbx, caller_number: c.caller_number,
      caller_name: c.caller_name, queue: c.queue, order_number: c.order_number,
      customer: null, tickets: [], calls: [] };
    if (c.caller_number) {
      const found = items(await quiet(api("GET", `customers?phone=${encodeURIComponent(c.caller_number)}`), []));
      if (found.length) pop.customer = found[0];
    }
    if (S.calls.has(c.call_id)) continue; // the real pop came while we looked the caller up
    onScreenPop(pop);
    const entryNow = S.calls.get(c.call_id);
    if (entryNow && c.state) { entryNow.state = c.state; renderCard(c.call_id); }
  }
  for (const [id, entry] of S.calls) {
    if (before.has(id) && !liveIds.has(id) && !isOver(entry)) { entry.state = "ended"; renderCard(id); }
  }
}

// -- wiring ----------------------------------------------------------------------------------
const socket = new HubSocket((msg) => {
  switch (msg.type) {
    case "screen_pop": onScreenPop(msg); break;
    case "call_update": onCallUpdate(msg); break;
    case "asr": onAsr(msg); break;
    case "ticket_prefill": onPrefill(msg); break;
    case "ticket_transfer": onTicketTransfer(msg); break;
    case "ticket_created": case "ticket_updated": onTicketUpdated(msg); break;
    case "agent_state": onAgentState(msg); break;
    case "hello": resync(); break;
    case "error": console.warn("hub error", msg); break;
    default: break;
  }
}, (status) => {
  const el = $("#conn");
  el.textContent = t(status);
  el.className = `conn ${status}`;
  document.body.dataset.ws = status;
});

function renderMe() {
  fill($("#me"), S.me.display_name || S.me.username, S.me.extension ? h("span", { class: "muted" }, ` · ${t("extension")} ${S.me.extension}`) : null);
}

function relabel() {
  applyStatic();
  if (S.me) renderMe();
  suggestKb(); // its "no suggestions" line is in the old language otherwise
  for (const id of S.calls.keys()) renderCard(id);
  renderTranscript();
  if (S.ticket && S.tab === "detail") renderDetail();
  if (S.tab === "mine" || S.tab === "queue") loadList(S.tab, { keep: true });
  const conn = $("#conn");
  conn.textContent = t(document.body.dataset.ws || "connecting");
}

function keys(ev) {
  if (ev.key === "Escape" && S.hangupAsk) { ev.preventDefault(); cancelHangup(); return; }
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const k = ev.key.toLowerCase();
  const act = {
    n: () => { if (!S.form) openForm(S.activeCall); showTab("form"); S.form.el.elements.title.focus(); },
    t: () => showTab("mine"),
    q: () => showTab("queue"),
    h: () => { const live = [...S.calls.entries()].find(([, e]) => !isOver(e)); if (live) askHangup(live[0], "card"); },
    k: () => $("#dial-to").focus(),
  }[k];
  if (act) { ev.preventDefault(); act(); }
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(relabel));
  $("#logout").addEventListener("click", logout);
  for (const b of $$(".tabs [role=tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#state-form").addEventListener("submit", setState);
  $("#agent-state").addEventListener("change", () => { $("#pause-reason").hidden = $("#agent-state").value !== "paused"; });
  $("#transcript-to-desc").addEventListener("click", transcriptToDescription);
  $("#dial-form").addEventListener("submit", (e) => { e.preventDefault(); dial($("#dial-to").value.trim()); });
  document.addEventListener("keydown", keys);
  try { S.me = await api("GET", "auth/me"); } catch (err) { fail(err); return; }
  renderMe();
  const [types, groups, users] = await Promise.all([
    quiet(api("GET", "ticket-types"), []), quiet(api("GET", "groups"), []), quiet(api("GET", "users"), [])]);
  S.types = items(types);
  S.groups = items(groups);
  S.users = items(users);
  socket.connect(); // after the lists, so a pop's form has its type options
  if (!S.form) openForm(null);
  renderTranscript();
  fill($("#kb"), h("p", { class: "muted" }, t("no_kb")));
  showTab("form");
  document.body.dataset.ready = "1";
}

main();
