// The customers panel: find a customer by name, phone (any written form, or a part of it) or
// order number; create one with a name and phone numbers; open one with their orders,
// tickets and recent calls, and start a ticket or a call for them.
import { api, items } from "../api.js";
import { $, fill, fmtDuration, fmtTime, h } from "../dom.js";
import { getLang, t, tOr } from "../i18n.js";
import { openTicket } from "./detail.js";
import { dial } from "./dial.js";
import { ticketForCustomer } from "./form.js";
import { S, fail, toast } from "./state.js";
import { slaBadge } from "./sla.js";
import { showTab } from "./tabs.js";

/** The panel's state: the search typed, the results, the customer opened (with detail). */
const C = { q: "", results: null, open: null, seq: 0 };

const phonesOf = (c) => (c.phones || []).map((p) => p.e164 || String(p));

function searchForm() {
  const q = h("input", { type: "search", name: "q", value: C.q, maxlength: 100, placeholder: t("customer_search"), "aria-label": t("customer_search") });
  const form = h("form", { class: "row filters", id: "customer-search" }, q, h("button", { type: "submit" }, t("search")));
  form.addEventListener("submit", (e) => { e.preventDefault(); C.q = q.value.trim(); search(); });
  return form;
}

function createForm() {
  const name = h("input", { name: "name", required: true, maxlength: 200, placeholder: t("customer_name"), "aria-label": t("customer_name") });
  const phones = h("input", { name: "phones", type: "tel", maxlength: 400, placeholder: t("phones_placeholder"), "aria-label": t("phones") });
  const form = h("form", { class: "row", id: "customer-create" }, name, phones, h("button", { type: "submit", class: "primary" }, t("create")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const list = phones.value.split(/[,，;；]/).map((x) => x.trim()).filter(Boolean);
    try {
      const cust = await api("POST", "customers", { name: name.value.trim(), phones: list });
      toast(`${t("customer_created")}: ${cust.name}`);
      form.reset();
      await openCustomer(cust.id);
    } catch (err) { fail(err, t("new_customer")); }
  });
  return h("details", { class: "create-customer" }, h("summary", {}, t("new_customer")), form);
}

function resultList() {
  if (C.results === null) return null;
  if (!C.results.length) return h("p", { class: "muted" }, t("no_customers"));
  return h("ul", { class: "customer-results" }, C.results.map((c) => h("li", {},
    h("a", { href: "#", dataset: { customerId: c.id }, onclick: (e) => { e.preventDefault(); openCustomer(c.id); } }, c.name),
    c.tier === "vip" ? [" ", h("span", { class: "badge vip" }, t("vip"))] : null,
    " ", h("span", { class: "muted" }, phonesOf(c).join(", ")))));
}

function customerCard(c) {
  const tickets = c.tickets || [];
  const calls = c.calls || [];
  const phone = phonesOf(c)[0];
  return h("article", { class: "card customer-card", dataset: { customerId: c.id } },
    h("header", {}, h("strong", { class: "cust-name" }, c.name),
      c.tier === "vip" ? [" ", h("span", { class: "badge vip" }, t("vip"))] : null,
      c.company ? h("span", { class: "muted" }, ` · ${c.company}`) : null),
    h("p", {}, `${t("phones")}: `, phonesOf(c).join(", ") || t("none")),
    h("h3", {}, t("orders")), (c.orders || []).length ? h("ul", {}, c.orders.map((o) =>
      h("li", {}, h("code", {}, o.number), " ", o.product_name || ""))) : h("p", { class: "muted" }, t("none")),
    h("h3", {}, t("open_tickets")), tickets.length ? h("ul", { class: "tickets" }, tickets.map((tk) =>
      h("li", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); openTicket(tk.id); } }, tk.number || `#${tk.id}`),
        " ", h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)), " ", slaBadge(tk), " ", tk.title || ""))) : h("p", { class: "muted" }, t("none")),
    h("h3", {}, t("recent_calls")), calls.length ? h("ul", {}, calls.map((x) =>
      h("li", {}, fmtTime(x.started_at, getLang()), " · ", x.state ? tOr("st_", x.state) : "", x.talk_s != null ? ` · ${fmtDuration(x.talk_s)}` : "")))
      : h("p", { class: "muted" }, t("none")),
    h("footer", { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => { ticketForCustomer(c); showTab("form"); } }, t("ticket_for_customer")),
      h("button", { type: "button", disabled: !phone, onclick: () => dial(phone) }, t("call_customer"))));
}

/** The whole panel from C, in the current language (also on a language switch). */
export function renderCustomers() {
  const box = $("#tab-customers");
  const typed = $("#customer-search input[name=q]", box);
  if (typed) C.q = typed.value;
  fill(box, searchForm(), createForm(), resultList(), C.open ? customerCard(C.open) : null);
}

async function search() {
  const seq = ++C.seq;
  try {
    const found = items(await api("GET", `customers?${new URLSearchParams({ q: C.q, limit: "50" })}`));
    if (seq !== C.seq) return;
    C.results = found;
  } catch (err) { fail(err, t("search")); return; }
  renderCustomers();
}

export async function openCustomer(id) {
  try { C.open = await api("GET", `customers/${encodeURIComponent(id)}`); } catch (err) { fail(err); return; }
  if (S.tab !== "customers") showTab("customers");
  renderCustomers();
}
