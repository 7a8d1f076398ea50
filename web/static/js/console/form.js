// The ticket form: opened for a call (or blank, or for a customer), prefilled from speech and
// the IVR without overwriting what the agent typed, extra fields per ticket type, and the
// one-flow create for an unknown caller: the customer (name + the number) is created first,
// then the ticket for them. Re-rendered in a new language with everything typed kept.
// Routing: a supervisor/admin sees, while typing, what the rules would choose (a debounced
// dry run of the form as a sample); what they pick in group/assignee/priority is hand-set and
// wins. Agents may not dry-run (403), so they see what the rules did once the ticket exists.
import { api, items } from "../api.js";
import { $, $$, fill, h } from "../dom.js";
import { getLang, t } from "../i18n.js";
import { describeEvent, dryRunLine, namer } from "../routingwords.js";
import { callCustomerCreated } from "./callcard.js";
import { openTicket } from "./detail.js";
import { suggestKbSoon } from "./kb.js";
import { PRIORITIES, S, fail, nameOf, options, toast, typeByKey, userLabel } from "./state.js";

export function onPrefill(ev) {
  const prev = S.prefill.get(ev.call_id) || { ticket_type: null, order_numbers: [], phone_numbers: [] };
  S.prefill.set(ev.call_id, {
    ticket_type: ev.ticket_type || prev.ticket_type,
    order_numbers: [...new Set([...(prev.order_numbers || []), ...(ev.order_numbers || [])])],
    phone_numbers: [...new Set([...(prev.phone_numbers || []), ...(ev.phone_numbers || [])])],
  });
  if (S.form && S.form.callId === ev.call_id) applyPrefill();
}

/** Put speech-derived values into fields the agent has not touched. */
function applyPrefill() {
  const p = S.prefill.get(S.form.callId);
  if (!p) return;
  const f = S.form.el;
  const put = (name, value) => {
    const input = f.elements[name];
    if (!input || value === null || value === undefined || value === "" || input.dataset.dirty) return;
    if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === value)) return;
    if (input.value === value) return;
    input.value = value;
    input.classList.add("prefilled");
    input.closest("label")?.classList.add("has-prefill");
    if (name === "type") input.dispatchEvent(new Event("change", { bubbles: true }));
  };
  put("type", p.ticket_type);
  put("order_number", p.order_numbers[0]);
  if (!S.form.customer) put("customer_phone", p.phone_numbers[0]);
  if (p.ticket_type && !f.elements.title.dataset.dirty) {
    f.elements.title.value = `${nameOf(typeByKey(p.ticket_type)) || p.ticket_type} · ${S.form.caller || ""}`.trim();
  }
  suggestKbSoon();
}

function field(label, input, cls = "") {
  return h("label", { class: cls }, h("span", {}, label), input);
}

function named(sel, name) { sel.name = name; return sel; }

function buildForm(callId, caller) {
  const extra = h("fieldset", { class: "extra-fields", hidden: true });
  const staff = S.users.filter((u) => u.role === "agent" || u.role === "supervisor");
  const form = h("form", { id: "ticket-form", class: "ticket-form", autocomplete: "off" },
    h("div", { class: "form-head" },
      h("span", { id: "form-customer" }),
      callId ? h("span", { class: "muted" }, `${t("call")}: `, h("code", {}, callId)) : null),
    field(t("title"), h("input", { name: "title", required: true, maxlength: 200, value: caller ? `${t("call")} ${caller}` : "" }), "wide"),
    h("div", { class: "grid3" },
      field(t("type"), named(options(S.types.map((x) => [x.key, nameOf(x)]), null, "—"), "type")),
      field(t("priority"), named(options(PRIORITIES.map((p) => [p, t(`p_${p}`)]), null, t("priority_auto")), "priority")),
      field(t("order_number"), h("input", { name: "order_number", maxlength: 64 }))),
    h("div", { class: "grid3" },
      field(t("group"), named(options(S.groups.map((g) => [g.id, nameOf(g)]), null, t("unassigned")), "group")),
      field(t("assignee"), named(options(staff.map((u) => [u.id, userLabel(u)]), null, t("unassigned")), "assignee")),
      field(t("caller"), h("input", { name: "customer_phone", type: "tel", maxlength: 40, value: caller || "" }))),
    h("fieldset", { class: "new-customer", hidden: true },
      h("legend", {}, t("new_customer_inline")),
      field(t("customer_name"), h("input", { name: "customer_name", maxlength: 200 }))),
    h("p", { id: "rules-preview", class: "rules-preview muted", hidden: true, "aria-live": "polite" }),
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
    previewSoon();
  });
  form.addEventListener("change", (ev) => {
    const el = ev.target;
    if (ev.isTrusted && el.name) { el.dataset.dirty = "1"; el.classList.remove("prefilled"); S.form.dirty = true; }
    if (el.name === "type") renderExtraFields(extra, el.value);
    previewSoon();
  });
  form.addEventListener("submit", submitTicket);
  return form;
}

/** A blank form, for the call callId (its caller's number and customer), or for a customer. */
export function openForm(callId, { customer = null } = {}) {
  const entry = callId ? S.calls.get(callId) : null;
  const caller = entry ? entry.pop.caller_number : "";
  const form = buildForm(callId, caller);
  S.form = { callId, caller, customer: customer || (entry ? entry.customer : null), el: form, dirty: false };
  fill($("#tab-form"), form);
  renderFormCustomer();
  applyPrefill();
  previewSoon();
}

/** What the agent has in the form: values, prefill marks and dirty flags, by field name. */
function snapshot(form) {
  return [...form.elements].filter((el) => el.name).map((el) => ({
    name: el.name, value: el.value, checked: el.checked,
    dirty: el.dataset.dirty, prefilled: el.classList.contains("prefilled") }));
}

function restore(form, snap) {
  const put = (s) => {
    const el = form.elements[s.name];
    if (!el || el instanceof RadioNodeList) return;
    if (el.type === "checkbox") el.checked = s.checked; else el.value = s.value;
    if (s.dirty) el.dataset.dirty = s.dirty;
    if (s.prefilled) { el.classList.add("prefilled"); el.closest("label")?.classList.add("has-prefill"); }
  };
  const type = snap.find((s) => s.name === "type");
  if (type) { put(type); renderExtraFields($(".extra-fields", form), type.value); }
  for (const s of snap) if (s.name !== "type") put(s);
}

/** The same form in the current language, with everything in it kept. */
export function relabelForm() {
  if (!S.form) return;
  const had = S.form.el.contains(document.activeElement) ? document.activeElement.name : null;
  const snap = snapshot(S.form.el);
  const form = buildForm(S.form.callId, S.form.caller);
  restore(form, snap);
  S.form.el = form;
  fill($("#tab-form"), form);
  renderFormCustomer();
  renderPreview();
  if (had && form.elements[had] && !(form.elements[had] instanceof RadioNodeList)) form.elements[had].focus();
}

/** The form's customer line; with no known customer, the fields to create one inline. */
export function renderFormCustomer() {
  const slot = $("#form-customer");
  if (!slot) return;
  const c = S.form.customer;
  fill(slot, `${t("customer")}: `, c ? h("strong", {}, c.name || `#${c.id}`) : h("em", {}, t("unknown_caller")));
  const inline = $(".new-customer", S.form.el);
  inline.hidden = !!c;
  S.form.el.elements.customer_phone.closest("label").hidden = !!c;
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

/** The customer the ticket is for: the known one; the one owning the typed number; or, for a
 * number nobody has (or a name without a number), a new customer named as typed (or by the
 * number) — created now. Neither number nor name: no customer. */
async function customerFor(phone, name) {
  if (S.form.customer && S.form.customer.id) return S.form.customer;
  if (!phone && !name) return null;
  const found = phone ? items(await api("GET", `customers?phone=${encodeURIComponent(phone)}`)) : [];
  const cust = found[0] || await api("POST", "customers", { name: name || phone, phones: phone ? [phone] : [] });
  if (!found[0]) toast(`${t("customer_created")}: ${cust.name}`);
  S.form.customer = cust;
  if (S.form.callId) callCustomerCreated(S.form.callId, cust);
  renderFormCustomer();
  return cust;
}

function ticketBody(f, customer) {
  const v = (n) => (f.elements[n] ? f.elements[n].value.trim() : "");
  const body = {
    title: v("title"), description: v("description"),
    channel: S.form.callId ? "phone" : "web", fields: formFields(f),
  };
  if (v("priority")) body.priority = v("priority");
  if (v("type")) body.type = v("type");
  if (v("order_number")) body.order_number = v("order_number");
  if (S.form.callId) body.call_id = S.form.callId;
  if (customer) body.customer_id = customer.id;
  if (v("group")) body.group = Number(v("group"));
  if (v("assignee")) body.assignee = Number(v("assignee"));
  const transcript = liveTranscript();
  if (transcript) body.transcript = transcript;
  return body;
}

/** The final lines of the form's call's live transcript (what the rules may test), or ""
 * (a form not opened for a call has none: another call's words must not route it). */
function liveTranscript() {
  const id = S.form && S.form.callId;
  const lines = (id && S.transcripts.get(id)) || [];
  return lines.filter((l) => l.final).map((l) => l.text).join("\n").slice(0, 20000);
}

// --- what the rules would do ----------------------------------------------------------------

export const mayDryRun = () => !!S.me && (S.me.role === "supervisor" || S.me.role === "admin");
let previewTimer = 0;
let previewSeq = 0;
let preview = null; // {text} of the last answer, kept for a language switch: {out} or {error}

/** Ask the rules again a moment after the typing stops (supervisors and admins only). */
export function previewSoon() {
  if (!mayDryRun() || !S.form) return;
  clearTimeout(previewTimer);
  previewTimer = setTimeout(runPreview, 400);
}

/** The form as a sample ticket for the dry run: group by key, assignee by username. */
function sampleOf(f) {
  const v = (n) => (f.elements[n] ? f.elements[n].value.trim() : "");
  const sample = { title: v("title").slice(0, 200), description: v("description").slice(0, 20000),
    transcript: liveTranscript(), channel: S.form.callId ? "phone" : "web" };
  // as creation does: the agent's priority, else the type's default
  const type = typeByKey(v("type"));
  const priority = v("priority") || (type && type.default_priority);
  if (priority) sample.priority = priority;
  if (v("type")) sample.type = v("type");
  if (v("order_number")) sample.order_number = v("order_number");
  if (S.form.customer && S.form.customer.id) sample.customer_id = S.form.customer.id;
  const g = S.groups.find((x) => String(x.id) === v("group"));
  if (g) sample.group = g.key;
  const u = S.users.find((x) => String(x.id) === v("assignee"));
  if (u) sample.assignee = u.username;
  return sample;
}

async function runPreview() {
  if (!S.form) return;
  const seq = ++previewSeq;
  const f = S.form.el;
  const sample = sampleOf(f);
  try {
    const out = await api("POST", "routing/dry-run", { sample, trigger: "created" });
    if (seq !== previewSeq || !S.form || S.form.el !== f) return;
    preview = { out, group: sample.group || null, assignee: sample.assignee || null };
  } catch (err) {
    if (seq !== previewSeq) return;
    preview = null;
    if (err.status !== 403) console.warn("dry run", err);
  }
  renderPreview();
}

/** "Rules: VIP refunds → Group 财务组, Assignee ben (…)"; what the agent chose is marked. */
function renderPreview() {
  const slot = $("#rules-preview");
  if (!slot) return;
  if (!mayDryRun() || !preview) { slot.hidden = true; return; }
  const names = namer(S.groups, S.users, getLang());
  const { out } = preview;
  const hand = [];
  if (preview.group) hand.push(`${t("group")} ${names.group(preview.group)}`);
  if (preview.assignee) hand.push(`${t("assignee")} ${names.user(preview.assignee)}`);
  slot.hidden = false;
  fill(slot, h("strong", {}, `${t("rules_preview")}: `), h("span", { class: "rules-line" }, dryRunLine(out, names)),
    hand.length ? h("span", {}, ` · ${t("by_hand")}: ${hand.join(", ")}`) : h("small", { class: "hint" }, ` · ${t("rules_override")}`));
}

/** For an agent (no dry run): what the rules did with the ticket just created. */
async function showRouted(ticket) {
  let history = [];
  try { history = items(await api("GET", `tickets/${ticket.id}/history`)); } catch (err) { console.warn(err); return; }
  const names = namer(S.groups, S.users, getLang());
  const lines = history.filter((e) => ["rule_applied", "auto_assigned", "assignment_waiting"].includes(e.kind))
    .map((e) => describeEvent(e.kind, e.data, names));
  const group = S.groups.find((g) => g.id === ticket.group_id);
  const who = S.users.find((u) => u.id === ticket.assignee_id);
  const facts = `${t("group")}: ${group ? names.group(group.key) : "—"} · ${t("assignee")}: ${who ? userLabel(who) : "—"}`;
  toast(`${t("created")}: ${ticket.number}`, "info", `${t("rules_routed")}: ${[facts, ...lines].join(" · ")}`);
}

async function submitTicket(ev) {
  ev.preventDefault();
  const f = ev.target;
  const btn = $("#create-ticket");
  btn.disabled = true;
  try {
    const customer = await customerFor(f.elements.customer_phone.value.trim(), f.elements.customer_name.value.trim());
    const ticket = await api("POST", "tickets", ticketBody(f, customer));
    toast(`${t("created")}: ${ticket.number}`);
    S.form.dirty = false;
    preview = null;
    openForm(null);
    await openTicket(ticket.id);
    if (!mayDryRun()) showRouted(ticket);
  } catch (err) { fail(err, t("save_ticket")); } finally { btn.disabled = false; }
}

/** Start a ticket for a known customer (from the customers panel). */
export function ticketForCustomer(customer) {
  openForm(null, { customer });
}
