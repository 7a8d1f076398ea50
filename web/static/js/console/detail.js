// Ticket detail: facts, the status menu (only the moves the server allows for this ticket,
// `allowed_status`), routing, calling the customer, transferring the call, merge and link
// (relations.js), comments, attachments and history in words (routing entries — rules,
// automatic assignment, flow moves — through routingwords.js). The ticket's flow is a strip of
// steps with forward / back (with a reason) / move to a later step. A merged ticket is
// read-only: its banner links to the ticket the work went to, and no control changes it.
// Every control is rebuilt with each render; the one
// listener on the persistent #tab-detail (initDetail, bound once) handles "Call customer" by
// reading the number at click time, so no render can leave a second handler behind.
import { api, items } from "../api.js";
import { $, fill, fmtTime, h } from "../dom.js";
import { getLang, t, tOr, tf } from "../i18n.js";
import { describeEvent, namer } from "../routingwords.js";
import { dial, transferCall } from "./dial.js";
import { focusedKey, hangupSlot, refocusKey } from "./hangup.js";
import { suggestKbSoon } from "./kb.js";
import { keepRelations, mergeBanners, mergeForm, relationsPanel } from "./relations.js";
import { slaPanel } from "./sla.js";
import { S, fail, isOver, nameOf, options, quiet, toast, typeByKey, userLabel, userName, words } from "./state.js";
import { showTab } from "./tabs.js";
import { customerLoaded, describeWorkOrderEvent, workOrdersPanel } from "./workorders.js";
import { setActiveCall } from "./transcript.js";

let openSeq = 0;
/** Show ticket id; transferredFrom (a person's name) notes a ticket that came with a call. */
export async function openTicket(id, transferredFrom) {
  const seq = ++openSeq;
  let ticket;
  try { ticket = await api("GET", `tickets/${encodeURIComponent(id)}`); } catch (err) { fail(err); return; }
  if (seq !== openSeq) return; // the agent opened another ticket meanwhile
  if (!S.ticket || S.ticket.id !== ticket.id) S.extras = null;
  S.ticket = ticket;
  keepRelations(ticket);
  renderDetail(transferredFrom);
  showTab("detail");
  loadDetailExtras(ticket.id);
  loadTicketCustomer(ticket);
}

/** A call-back request's number (the IVR's "3": ``fields.callback_number``), else null. */
function callbackNumber() {
  const f = S.ticket && S.ticket.fields;
  return f && typeof f.callback_number === "string" && f.callback_number ? f.callback_number : null;
}

/** The number "Call customer" dials: a call-back request's own number, else the first phone
 * of the shown ticket's customer. */
function customerPhone() {
  if (callbackNumber()) return callbackNumber();
  const c = S.ticketCustomer;
  if (!S.ticket || !c || c.id !== S.ticket.customer_id) return null;
  const p = c.phones && c.phones[0];
  return p ? p.e164 || String(p) : null;
}

/** Bound once, at start: actions of the detail view that must not depend on a render. */
export function initDetail() {
  $("#tab-detail").addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-action]");
    if (!btn || btn.disabled) return;
    if (btn.dataset.action === "call-customer") dial(customerPhone(), S.ticket && S.ticket.id);
  });
}

async function loadTicketCustomer(tk) {
  if (!tk.customer_id) return;
  if (S.ticketCustomer && S.ticketCustomer.id === tk.customer_id) { renderCustomerFact(); return; }
  const c = await quiet(api("GET", `customers/${tk.customer_id}`), null);
  if (!c || !S.ticket || S.ticket.customer_id !== c.id) return;
  S.ticketCustomer = c;
  renderCustomerFact();
  customerLoaded();
}

function renderCustomerFact() {
  const c = S.ticketCustomer;
  const slot = $("#detail-customer");
  if (!slot || !c || !S.ticket || c.id !== S.ticket.customer_id) return;
  fill(slot, c.name || `#${c.id}`, c.tier === "vip" ? h("span", { class: "badge vip" }, t("vip")) : null);
  // an email ticket's sender: the customer was matched (or made) by the From address
  const channel = $("#detail-channel");
  if (channel && S.ticket.channel === "email" && c.email) fill(channel, tOr("ch_", "email"), " · ", h("span", { class: "sender" }, c.email));
  const btn = $("#call-customer");
  if (btn) btn.disabled = !customerPhone();
}

const fact = (k, v) => [h("dt", {}, k), h("dd", {}, v)];

function statusForm(tk) {
  const sel = options((tk.allowed_status || []).map((s) => [s, t(`s_${s}`)]), null, t("change_status"));
  sel.setAttribute("aria-label", t("change_status"));
  sel.id = "status-menu";
  const form = h("form", { class: "row" }, sel, h("button", { type: "submit", disabled: !(tk.allowed_status || []).length }, t("apply")));
  form.addEventListener("submit", (e) => { e.preventDefault(); if (sel.value) patchTicket({ status: sel.value }, t("change_status")); });
  return form;
}

function assignForm(tk) {
  const groupSel = options(S.groups.map((g) => [g.id, nameOf(g)]), tk.group_id, t("unassigned"));
  groupSel.setAttribute("aria-label", t("group"));
  const userSel = options(S.users.filter((u) => u.role !== "customer").map((u) => [u.id, userLabel(u)]), tk.assignee_id, t("unassigned"));
  userSel.setAttribute("aria-label", t("assignee"));
  userSel.id = "assignee-menu";
  const form = h("form", { class: "row" }, groupSel, userSel, h("button", { type: "submit" }, t("assign")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const changes = {};
    if (groupSel.value && Number(groupSel.value) !== tk.group_id) changes.group = Number(groupSel.value);
    if (userSel.value && Number(userSel.value) !== tk.assignee_id) changes.assignee = Number(userSel.value);
    if (Object.keys(changes).length) patchTicket(changes, t("assign"));
  });
  return form;
}

function transferForm(tk) {
  const targets = S.users.filter((u) => u.extension && u.id !== S.me.id && u.role !== "customer");
  const sel = options(targets.map((u) => [u.extension, userLabel(u)]), null, t("transfer_to"));
  sel.setAttribute("aria-label", t("transfer_to"));
  sel.id = "transfer-target";
  const form = h("form", { class: "row" }, sel,
    h("button", { type: "submit", id: "transfer-btn", disabled: !tk.call_id }, t("transfer")));
  form.addEventListener("submit", (e) => { e.preventDefault(); if (sel.value) transferCall(S.ticket, sel.value); });
  return form;
}

function facts(tk, type) {
  const assignee = S.users.find((x) => x.id === tk.assignee_id);
  return h("dl", { class: "facts" },
    fact(t("type"), type ? nameOf(type) : tk.type || "—"),
    fact(t("customer"), h("span", { id: "detail-customer" }, tk.customer_id ? `#${tk.customer_id}` : "—")),
    fact(t("f_channel"), h("span", { id: "detail-channel" }, tOr("ch_", tk.channel))),
    fact(t("order_number"), tk.order_number || "—"),
    fact(t("call"), tk.call_id || "—"),
    fact(t("group"), nameOf(S.groups.find((g) => g.id === tk.group_id)) || "—"),
    fact(t("assignee"), assignee ? userLabel(assignee) : "—"),
    fact(t("due"), fmtTime(tk.due_at, getLang())),
    fact(t("updated"), fmtTime(tk.updated_at, getLang())));
}

/** The IVR's own call-back fields: shown by the call-back notice, not as raw keys. */
const CALLBACK_FIELDS = new Set(["callback_number", "callback_hour"]);

function fieldFacts(tk, type) {
  const shown = Object.entries(tk.fields || {}).filter(([k]) => !CALLBACK_FIELDS.has(k));
  if (!shown.length) return null;
  return h("dl", { class: "facts" }, shown.map(([k, val]) => {
    const spec = ((type && type.fields) || []).find((x) => x.key === k);
    const label = spec ? (getLang() === "zh" && spec.label_zh) || spec.label || k : k;
    return fact(label, words(val));
  }));
}

const noteText = (from) => `${t("transferred_in")} ${t("from")} ${from}`;

export function renderDetail(transferredFrom) {
  const tk = S.ticket;
  const box = $("#tab-detail");
  // A re-render of the same ticket (a call update, a language switch) keeps the comment being
  // typed; comments, attachments and history are drawn again from what was loaded.
  const same = box.dataset.ticketId === String(tk.id);
  const draftBox = $(".comment-form textarea", box);
  const draft = same && draftBox ? draftBox.value : "";
  const from = transferredFrom === undefined && same ? box.dataset.from || "" : transferredFrom || "";
  box.dataset.ticketId = String(tk.id);
  box.dataset.from = from;
  const refocus = focusedKey(box);
  const type = typeByKey(tk.type);
  const readOnly = !!tk.merged_into_id; // merged: the server refuses every change
  const reload = () => openTicket(tk.id);
  const callButtons = h("div", { class: "row" },
    h("button", { type: "button", id: "call-customer", dataset: { action: "call-customer" }, disabled: !customerPhone() },
      callbackNumber() ? `${t("call_back")} ${callbackNumber()}` : t("call_customer")),
    tk.call_id && S.calls.has(tk.call_id) && !isOver(S.calls.get(tk.call_id))
      ? hangupSlot(tk.call_id, "detail") : null);
  fill(box,
    from ? h("p", { class: "notice" }, noteText(from)) : null,
    mergeBanners(tk, openTicket),
    h("header", { class: "detail-head" },
      h("h2", {}, h("code", {}, tk.number), " ", tk.title),
      h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)),
      h("span", { class: `badge p-${tk.priority}` }, tOr("p_", tk.priority))),
    facts(tk, type),
    slaPanel(tk),
    tk.description ? h("p", { class: "description" }, tk.description) : null,
    callbackNumber() ? h("p", { class: "notice callback-request" }, t("callback_request"), " ",
      h("strong", {}, callbackNumber()), " · ",
      Number.isInteger(tk.fields.callback_hour) ? `${String(tk.fields.callback_hour).padStart(2, "0")}:00` : t("callback_asap")) : null,
    fieldFacts(tk, type),
    flowStrip(tk, readOnly),
    readOnly ? h("section", { class: "actions" }, callButtons) : h("section", { class: "actions" },
      h("h3", {}, t("route")),
      statusForm(tk), assignForm(tk), callButtons, transferForm(tk), mergeForm(tk, reload)),
    relationsPanel(tk, openTicket, reload),
    workOrdersPanel(tk, readOnly, () => loadDetailExtras(tk.id)),
    h("div", { class: "detail-cols" },
      h("section", {}, h("h3", {}, t("comments")), h("div", { id: "comments" }), readOnly ? null : commentForm()),
      h("section", {}, h("h3", {}, t("attachments")), h("div", { id: "attachments" }), readOnly ? null : uploadForm(),
        h("h3", {}, t("history")), h("ol", { id: "history", class: "history" }))));
  if (draft && $(".comment-form textarea", box)) $(".comment-form textarea", box).value = draft;
  refocusKey(box, refocus);
  renderExtras();
  renderCustomerFact();
  suggestKbSoon();
}

function commentForm() {
  const body = h("textarea", { name: "body", rows: 2, maxlength: 20000, required: true, "aria-label": t("add_comment"), placeholder: t("add_comment") });
  // Comments are internal notes unless ticked; on an email ticket a reply is what the customer
  // is waiting for (a public comment is mailed to them), so there it starts ticked.
  const email = S.ticket.channel === "email";
  const pub = h("input", { type: "checkbox", name: "public", checked: email });
  const form = h("form", { class: "comment-form" }, body,
    h("div", { class: "row" }, h("label", { class: "inline" }, pub, t("public")), h("button", { type: "submit" }, t("send"))),
    email ? h("p", { class: "muted hint" }, t("email_reply_public")) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `tickets/${S.ticket.id}/comments`, { body: body.value, public: pub.checked });
      body.value = "";
      pub.checked = S.ticket.channel === "email";
      loadDetailExtras(S.ticket.id);
    } catch (err) { fail(err, t("add_comment")); }
  });
  return form;
}

function uploadForm() {
  // The browser's own file button speaks the browser's language; this one speaks the UI's.
  const input = h("input", { type: "file", name: "file", required: true, "aria-label": t("choose_file") });
  const picked = h("span", { class: "muted file-name" }, t("no_file"));
  input.addEventListener("change", () => { picked.textContent = input.files.length ? input.files[0].name : t("no_file"); });
  // Staff uploads are internal unless ticked: the customer sees only public attachments.
  const pub = h("input", { type: "checkbox", name: "public" });
  const form = h("form", { class: "row upload-form" },
    h("label", { class: "file-pick" }, input, h("span", { class: "button" }, t("choose_file"))),
    picked, h("label", { class: "inline" }, pub, t("public")), h("button", { type: "submit" }, t("upload")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!input.files.length) return;
    const data = new FormData();
    data.append("file", input.files[0]);
    data.append("public", pub.checked ? "true" : "false");
    try {
      await api("POST", `tickets/${S.ticket.id}/attachments`, data, { form: true });
      input.value = "";
      pub.checked = false;
      picked.textContent = t("no_file");
      loadDetailExtras(S.ticket.id);
    } catch (err) { fail(err, t("upload")); }
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
  if (seq !== extrasSeq || !S.ticket || S.ticket.id !== id) return;
  S.extras = { id, comments: items(comments), history: items(history), attachments: items(attachments) };
  renderExtras();
}

/** Comments, attachments and history of the shown ticket, from S.extras, in the UI language. */
function renderExtras() {
  const x = S.extras;
  if (!x || !S.ticket || x.id !== S.ticket.id || !$("#comments")) return;
  fill($("#comments"), x.comments.length ? h("ul", { class: "comments" }, x.comments.map((c) => h("li", {},
    // a comment that came by email: its sender (a customer without a login has no user id)
    h("div", { class: "muted" }, c.author_id || !c.email_from ? userName(c.author_id) : c.email_from, " · ",
      fmtTime(c.created_at, getLang()), c.public ? ` · ${t("public")}` : "",
      c.merged_from_id ? ` · ${t("merged_from")} T-${String(c.merged_from_id).padStart(6, "0")}` : "",
      c.email_from ? ` · ${t("via_email")}` : ""),
    h("p", {}, c.body)))) : h("p", { class: "muted" }, t("none")));
  fill($("#attachments"), x.attachments.length ? h("ul", { class: "attachments" }, x.attachments.map((a) => h("li", {},
    h("a", { href: `/api/v1/tickets/${x.id}/attachments/${a.id}`, target: "_blank", rel: "noopener" }, a.filename),
    ` (${Math.ceil((a.size || 0) / 1024)} KB) `,
    h("span", { class: `badge ${a.public ? "att-public" : "att-internal"}` }, t(a.public ? "public" : "internal")), " ",
    S.ticket.merged_into_id ? null : visibilityButton(x.id, a)))) : h("p", { class: "muted" }, t("none")));
  const names = namer(S.groups, S.users, getLang());
  fill($("#history"), x.history.map((e) => h("li", { dataset: { kind: e.kind } },
    h("span", { class: "muted" }, fmtTime(e.at, getLang()), " · ", e.actor_id ? userName(e.actor_id) : e.kind === "email_received" ? e.data.sender : t("routing_rules"), " · "),
    h("strong", {}, tOr("ev_", e.kind)), " ", describeEvent(e.kind, e.data, names) ?? describeWorkOrderEvent(e.kind, e.data) ?? summarize(e.data))));
}

/** Publish an attachment to the customer, or make it internal again. */
function visibilityButton(ticketId, a) {
  const b = h("button", { type: "button", class: "small" }, t(a.public ? "make_internal" : "make_public"));
  b.addEventListener("click", async () => {
    try {
      await api("PATCH", `tickets/${ticketId}/attachments/${a.id}`, { public: !a.public });
      loadDetailExtras(ticketId);
    } catch (err) { fail(err, t("attachments")); }
  });
  return b;
}

// History entries in words: field names and values in the UI language, people and groups by
// name, yes/no for booleans. Updates are {field: {from, to}}; "created" lists the first values.
const HISTORY_SKIP = new Set(["call_id", "comment_id", "attachment_id", "reason", "note",
  "into_id", "from_id", "child_id", "parent_id", "followed", "force", "message_id", "sender_name"]);
function historyValue(key, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (key === "status") return tOr("s_", v);
  if (key === "priority") return tOr("p_", v);
  if (key === "assignee_id") return userName(v);
  if (key === "group_id") return nameOf(S.groups.find((g) => g.id === v)) || `#${v}`;
  if (key === "type" || key === "type_key") return nameOf(typeByKey(v)) || String(v);
  if (key === "channel") return tOr("ch_", v);
  if (key === "outcome") return tOr("mo_", v);
  return words(v);
}

export function summarize(data) {
  if (!data || typeof data !== "object") return "";
  const label = (k) => tOr("f_", k.replace(/_id$/, ""));
  const parts = [];
  for (const [k, v] of Object.entries(data)) {
    if (HISTORY_SKIP.has(k) || (Array.isArray(v) && !v.length)) continue;
    if (v && typeof v === "object" && "to" in v) {
      parts.push(`${label(k)}: ${historyValue(k, v.from)} → ${historyValue(k, v.to)}`);
    } else if (v !== null && v !== undefined && v !== "") {
      parts.push(`${label(k)}: ${historyValue(k, v)}`);
    }
  }
  if (data.reason) parts.push(`${t("reason")}: ${data.reason}`);
  if (data.note) parts.push(String(data.note));
  return parts.join(" · ").slice(0, 400);
}

async function patchTicket(changes, what) {
  S.mutating += 1;
  try {
    S.ticket = await api("PATCH", `tickets/${S.ticket.id}`, { ...changes, version: S.ticket.version });
    toast(t("saved"));
    renderDetail();
    loadDetailExtras(S.ticket.id);
  } catch (err) {
    fail(err, what);
    if (err.status === 409) openTicket(S.ticket.id); // someone else changed it: show theirs
  } finally { S.mutating -= 1; }
}

/** The ticket's flow: one chip per step (group name, "required" mark, the current one
 * highlighted), then forward, back (asks for a reason, in the page) and move to a later step. */
function flowStrip(tk, readOnly = false) {
  const steps = tk.flow || [];
  if (!steps.length) return null;
  const at = tk.flow_step || 0;
  const names = namer(S.groups, [], getLang());
  const done = readOnly || ["resolved", "closed", "cancelled"].includes(tk.status);
  // later steps, up to the first required one (a required step cannot be skipped)
  const stop = steps.findIndex((s, i) => i > at && s.required);
  const later = steps.map((s, i) => [i, s]).filter(([i]) => i > at && (stop < 0 || i <= stop));
  const reason = h("input", { name: "flow_note", maxlength: 200, required: true, placeholder: t("flow_reason"), "aria-label": t("flow_reason") });
  const backForm = h("form", { class: "row flow-back", hidden: true }, reason,
    h("button", { type: "submit", class: "primary" }, t("flow_back")),
    h("button", { type: "button", onclick: () => { backForm.hidden = true; } }, t("cancel")));
  backForm.addEventListener("submit", (e) => { e.preventDefault(); if (reason.value.trim()) moveFlow({ move: "back", note: reason.value.trim() }, t("flow_back")); });
  const stepSel = options(later.map(([i, s]) => [i + 1, `${tf("flow_step_n", { n: i + 1 })} · ${names.group(s.group)}`]), null, t("flow_to"));
  stepSel.setAttribute("aria-label", t("flow_to"));
  stepSel.id = "flow-step-menu";
  stepSel.disabled = done || !later.length;
  const toForm = h("form", { class: "row" }, stepSel, h("button", { type: "submit", id: "flow-go", disabled: done || !later.length }, t("flow_go")));
  toForm.addEventListener("submit", (e) => { e.preventDefault(); if (stepSel.value) moveFlow({ move: "to", step: Number(stepSel.value) }, t("flow_to")); });
  return h("section", { class: "flow", "aria-label": t("flow") },
    h("h3", {}, t("flow")),
    h("ol", { class: "flow-strip" }, steps.map((s, i) => h("li", {
      class: `flow-step${i === at ? " current" : ""}${i < at ? " passed" : ""}${s.required ? " required" : ""}`,
      "aria-current": i === at ? "step" : null, title: i === at ? t("flow_current") : null },
    h("span", { class: "flow-n" }, String(i + 1)), " ", names.group(s.group),
    s.required ? h("span", { class: "badge flow-req" }, t("flow_required")) : null))),
    h("div", { class: "row flow-actions" },
      h("button", { type: "button", id: "flow-forward", disabled: done || at >= steps.length - 1,
        onclick: () => moveFlow({ move: "forward" }, t("forward")) }, t("forward")),
      h("button", { type: "button", id: "flow-back", disabled: done || at === 0,
        onclick: () => { backForm.hidden = false; reason.focus(); } }, t("flow_back")),
      toForm),
    backForm);
}

async function moveFlow(body, what) {
  S.mutating += 1;
  try {
    S.ticket = await api("POST", `tickets/${S.ticket.id}/flow`, body);
    toast(t("saved"));
    renderDetail();
    loadDetailExtras(S.ticket.id);
  } catch (err) { fail(err, what); } finally { S.mutating -= 1; }
}

/** A ticket transferred to this agent with its call: a card in the inbox, and it opens. */
export function onTicketTransfer(ev) {
  const tk = ev.ticket || {};
  if (ev.call_id) { S.socket.watch(ev.call_id); setActiveCall(ev.call_id); }
  S.inbox.unshift({ ticket: tk, from: ev.from_user || "?" });
  renderInbox();
  if (tk.id) openTicket(tk.id, ev.from_user || "?");
}

/** A rule's "notify" named this user: a card in the inbox (not opened: the agent may be busy). */
export function onTicketNotice(ev) {
  const tk = ev.ticket || {};
  if (!S.me || !(ev.user_ids || []).includes(S.me.id) || !tk.id) return;
  const rules = (ev.rules || []).join(", ");
  S.inbox.unshift({ ticket: tk, rules });
  renderInbox();
  toast(tf("rule_notice", { number: tk.number || `#${tk.id}` }), "info", rules);
}

/** The outbox's console channel: a notification rendered for us (subject, ticket number). */
export function onNotification(ev) {
  if (!S.me || !(ev.user_ids || []).includes(S.me.id)) return;
  toast(ev.subject || "", "info", ev.number || "");
}

export function renderInbox() {
  fill($("#inbox"), S.inbox.map((item) => h("article", { class: "card transfer-card", dataset: { ticketId: item.ticket.id } },
    item.rules !== undefined
      ? h("header", {}, h("strong", {}, t("rule_notice_title")), " ", h("span", { class: "muted" }, tf("hist_rule", { rule: item.rules, changes: "" })))
      : h("header", {}, h("strong", {}, t("transferred_in")), " ", h("span", { class: "muted" }, `${t("from")} ${item.from}`)),
    h("p", {}, h("code", {}, item.ticket.number || `#${item.ticket.id}`), " ", item.ticket.title || ""),
    h("footer", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => openTicket(item.ticket.id, item.from) }, t("open")),
      h("button", { type: "button", onclick: () => { S.inbox.splice(S.inbox.indexOf(item), 1); renderInbox(); } }, t("dismiss"))))));
}

/** Only a newer version (someone else's change) reloads. Our own change's event can arrive
 * before our PATCH's answer: while one is in flight, the answer is what counts. */
export function onTicketChanged(tk) {
  if (S.ticket && tk.id === S.ticket.id && tk.version > S.ticket.version && S.tab === "detail" && !S.mutating) {
    openTicket(tk.id);
  }
}
