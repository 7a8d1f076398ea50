// Field visits on a ticket's detail: the ticket's work orders (number, status, engineer,
// window, address) and "Send an engineer", the form that creates one (POST
// /tickets/{id}/work_orders) — by default given at once to the best-ranked engineer
// (auto_assign), else left on the dispatcher board (/dispatch) for a supervisor. Address and
// contact start from the customer; the window is a site-local day and two times; the
// required skills default to the ticket type's on the server. detail.js draws the panel with
// each render and reloads it with the ticket; nothing here binds to a persistent element.
import { api, items } from "../api.js";
import { fill, fmtTime, h } from "../dom.js";
import { getLang, t, tOr, tf } from "../i18n.js";
import { PRIORITIES, S, fail, toast, userName } from "./state.js";

let seq = 0;
/** The form drawn last: the customer may arrive after it (see customerLoaded). */
let current = null;

/** The panel for ticket `tk` (its list fills in when loaded); `changed`: after a new order
 * (the detail reloads its history). */
export function workOrdersPanel(tk, readOnly, changed) {
  const list = h("div", { id: "work-orders" }, h("p", { class: "muted" }, t("loading")));
  const box = h("section", { class: "work-orders" }, h("h3", {}, t("wo_title")), list);
  const form = readOnly ? null : newOrderForm(tk, () => { loadWorkOrders(tk.id, list); changed(); });
  if (form) box.append(form);
  loadWorkOrders(tk.id, list);
  return box;
}

async function loadWorkOrders(ticketId, list) {
  const mine = ++seq;
  let orders;
  try { orders = items(await api("GET", `tickets/${ticketId}/work_orders`)); } catch (err) {
    if (mine === seq) fill(list, h("p", { class: "muted" }, t("wo_none")));
    return;
  }
  if (mine !== seq || !S.ticket || S.ticket.id !== ticketId) return;
  const lang = getLang();
  fill(list, orders.length ? h("ul", { class: "wo-list" }, orders.map((o) => h("li", { dataset: { workOrder: o.id } },
    h("code", {}, o.number), " ",
    h("span", { class: `badge wo-${o.status}` }, tOr("wo_s_", o.status)), " ",
    o.engineer ? o.engineer.name : h("span", { class: "muted" }, t("wo_unassigned")),
    o.window_start ? ` · ${fmtTime(o.window_start, lang)}–${fmtTime(o.window_end, lang).slice(-5)}` : "",
    o.address ? h("div", { class: "muted" }, o.address) : null,
    o.fail_reason ? h("div", { class: "muted" }, `${t("reason")}: ${o.fail_reason}`) : null)))
    : h("p", { class: "muted" }, t("wo_none")));
}

/** Today in the site's zone as YYYY-MM-DD (the server reads the window in that zone). */
function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** Address and contact from the ticket's customer, read when the form opens (the customer
 * loads after the detail is drawn); what the agent already typed is kept. */
function prefill(tk, address, contact) {
  const customer = S.ticketCustomer && S.ticketCustomer.id === tk.customer_id ? S.ticketCustomer : null;
  if (!customer) return;
  const phone = customer.phones && customer.phones[0];
  if (!address.value && customer.address) address.value = customer.address;
  if (!contact.value && phone) contact.value = phone.e164 || String(phone);
}

/** detail.js: the shown ticket's customer has loaded; an open form takes their address. */
export function customerLoaded() {
  if (current && current.address.isConnected) prefill(current.tk, current.address, current.contact);
}

function newOrderForm(tk, reload) {
  const field = (label, input) => h("label", {}, h("span", {}, label), input);
  const address = h("input", { name: "address", maxlength: 255 });
  const contact = h("input", { name: "contact_phone", maxlength: 32 });
  current = { tk, address, contact };
  prefill(tk, address, contact);
  const day = h("input", { type: "date", name: "day", value: today(), required: true });
  const from = h("input", { type: "time", name: "from", value: "09:00", required: true });
  const to = h("input", { type: "time", name: "to", value: "12:00", required: true });
  const minutes = h("input", { type: "number", name: "duration_min", min: 5, max: 720, step: 5, value: 60, required: true });
  const priority = h("select", { name: "priority" }, PRIORITIES.map((p) =>
    h("option", { value: p, selected: p === tk.priority }, tOr("p_", p))));
  const skills = h("input", { name: "required_skills", maxlength: 200, placeholder: t("wo_skills_hint") });
  const lat = h("input", { type: "number", name: "lat", step: "any", min: -90, max: 90, placeholder: "31.23" });
  const lon = h("input", { type: "number", name: "lon", step: "any", min: -180, max: 180, placeholder: "121.47" });
  const notes = h("textarea", { name: "notes", rows: 2, maxlength: 4000 });
  const auto = h("input", { type: "checkbox", name: "auto_assign", checked: true });
  const out = h("p", { class: "muted", role: "status" });
  const form = h("form", { class: "wo-form", id: "wo-form", hidden: true },
    h("div", { class: "wo-grid" },
      field(t("wo_address"), address), field(t("wo_contact"), contact),
      field(t("wo_day"), day), field(t("wo_from"), from), field(t("wo_to"), to),
      field(t("wo_duration"), minutes), field(t("priority"), priority), field(t("wo_skills"), skills),
      field(t("wo_lat"), lat), field(t("wo_lon"), lon)),
    field(t("wo_notes"), notes),
    h("label", { class: "inline" }, auto, t("wo_auto")),
    h("div", { class: "row" }, h("button", { type: "submit", id: "wo-create" }, t("wo_create")),
      h("button", { type: "button", onclick: () => { form.hidden = true; open.hidden = false; } }, t("cancel"))),
    out);
  const open = h("button", { type: "button", id: "wo-new", onclick: () => {
    prefill(tk, address, contact);
    form.hidden = false;
    open.hidden = true;
    address.focus();
  } }, t("wo_new"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      address: address.value.trim() || null, contact_phone: contact.value.trim() || null,
      window_start: `${day.value}T${from.value}`, window_end: `${day.value}T${to.value}`,
      duration_min: Number(minutes.value), priority: priority.value, notes: notes.value,
      auto_assign: auto.checked,
    };
    const wanted = skills.value.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
    if (wanted.length) body.required_skills = wanted;
    if (lat.value !== "" || lon.value !== "") { body.lat = Number(lat.value); body.lon = Number(lon.value); }
    const btn = form.querySelector("#wo-create");
    btn.disabled = true;
    try {
      const order = await api("POST", `tickets/${tk.id}/work_orders`, body);
      toast(order.engineer ? tf("wo_created_to", { number: order.number, name: order.engineer.name })
        : tf("wo_created_pending", { number: order.number }));
      form.hidden = true;
      open.hidden = false;
      notes.value = "";
      reload();
    } catch (err) { fail(err, t("wo_new")); } finally { btn.disabled = false; }
  });
  return h("div", {}, open, form);
}

/** A field-visit history entry in words ("WO-000007 → Zhao 赵工 · rank 1 · 10.2 km"), or
 * null for other kinds (detail.js falls back to its own). */
export function describeWorkOrderEvent(kind, data) {
  if (!kind.startsWith("work_order_")) return null;
  const d = data || {};
  const who = (id) => (id ? userName(id) : t("wo_unassigned"));
  const parts = [d.number || ""];
  const lang = getLang();
  switch (kind) {
    case "work_order_created":
      if (d.window_start) parts.push(`${fmtTime(d.window_start, lang)}–${fmtTime(d.window_end, lang).slice(-5)}`);
      if (d.required_skills && d.required_skills.length) parts.push(d.required_skills.join(", "));
      break;
    case "work_order_assigned":
      parts.push(`→ ${who(d.engineer_id)}`);
      if (d.rank) parts.push(tf("wo_rank", { n: d.rank }));
      if (typeof d.distance_km === "number") parts.push(`${d.distance_km.toFixed(1)} km`);
      if (d.auto) parts.push(t("wo_auto_short"));
      break;
    case "work_order_status":
      parts.push(`${tOr("wo_s_", d.from)} → ${tOr("wo_s_", d.to)}`);
      if (d.reason) parts.push(`${t("reason")}: ${d.reason}`);
      break;
    case "work_order_declined":
      parts.push(who(d.engineer_id));
      if (d.reason) parts.push(`${t("reason")}: ${d.reason}`);
      break;
    case "work_order_reassigned":
      parts.push(`${who(d.from_engineer_id)} → ${who(d.to_engineer_id)}`);
      if (d.reason) parts.push(`${t("reason")}: ${d.reason}`);
      break;
    case "work_order_file":
      parts.push(d.kind === "signature" ? t("wo_signature") : t("wo_photo"));
      if (d.signed_by) parts.push(d.signed_by);
      break;
    default: break;
  }
  return parts.filter(Boolean).join(" · ");
}
