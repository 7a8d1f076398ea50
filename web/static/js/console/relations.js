// Merge and link on a ticket's detail (tickets/relations.py on the server): the banners (this
// ticket was merged into another, with a link to it; duplicates merged into this one),
// "Merge into…" (a ticket number, confirmed in the page, no blocking dialog), and the parent
// incident / child tickets panel: link and unlink, and the bulk reply, status change and
// close for every open child. detail.js draws these with each render and passes `open` (show
// a ticket) and `reload` (fetch the shown one again); nothing here binds a listener to a
// persistent element. The relations come with GET /tickets/{id} and are kept in S.relations,
// since the answer of a PATCH does not carry them.
import { api } from "../api.js";
import { fill, h } from "../dom.js";
import { t, tf, tOr } from "../i18n.js";
import { S, STATUSES, fail, options, toast } from "./state.js";

/** "T-000042", "t42", "42" → 42; anything else → null. */
export function ticketIdOf(text) {
  const m = /^\s*(?:[Tt]-?)?0*(\d{1,10})\s*$/.exec(text || "");
  const n = m ? Number(m[1]) : NaN;
  return n >= 1 && n <= 2147483647 ? n : null;
}

const numberOf = (id) => `T-${String(id).padStart(6, "0")}`;

/** Keep the relations a GET /tickets/{id} answer carries (parent_ticket, children, merged). */
export function keepRelations(ticket) {
  S.relations = { id: ticket.id, parent: ticket.parent_ticket || null, children: ticket.children || [], merged: ticket.merged || [] };
}

function relationsOf(tk) {
  return S.relations && S.relations.id === tk.id ? S.relations : { parent: null, children: [], merged: [] };
}

const ref = (r, open) => h("a", { href: "#", class: "ticket-ref", dataset: { ticketId: r.id },
  onclick: (e) => { e.preventDefault(); open(r.id); } }, r.number || numberOf(r.id));

/** The banners over the facts: merged into another ticket (read-only), duplicates merged in. */
export function mergeBanners(tk, open) {
  const merged = relationsOf(tk).merged;
  return [
    tk.merged_into_id ? h("p", { class: "notice merged-banner", id: "merged-banner", role: "status" },
      t("merged_into_banner"), " ", ref({ id: tk.merged_into_id, number: tk.merged_into }, open), " · ", t("read_only")) : null,
    merged.length ? h("p", { class: "notice merged-in" }, t("merged_here"), " ",
      merged.map((r, i) => [i ? ", " : "", ref(r, open)])) : null,
  ];
}

async function act(what, fn) {
  S.mutating += 1;
  try { return await fn(); } catch (err) { fail(err, what); return null; } finally { S.mutating -= 1; }
}

/** "Merge into…": a ticket number, a note, "another customer's ticket", then a confirmation. */
export function mergeForm(tk, reload) {
  const input = h("input", { name: "into", id: "merge-into", placeholder: "T-000042", maxlength: 20, size: 10, "aria-label": t("merge_into") });
  const note = h("input", { name: "note", maxlength: 500, placeholder: t("merge_note"), "aria-label": t("merge_note") });
  const force = h("input", { type: "checkbox", name: "force" });
  const confirmSlot = h("div", { class: "merge-confirm-slot" });
  const go = async (into) => {
    const done = await act(t("merge_into"), () => api("POST", `tickets/${tk.id}/merge`, { into, note: note.value.trim() || null, force: force.checked }));
    if (!done) return;
    toast(tf("merged_done", { dst: done.into.number }));
    reload();
  };
  const form = h("form", { class: "row merge-form", id: "merge-form" },
    input, note, h("label", { class: "inline" }, force, t("merge_force")),
    h("button", { type: "submit" }, t("merge_into")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const into = ticketIdOf(input.value);
    if (!into) { toast(t("merge_which"), "error"); input.focus(); return; }
    fill(confirmSlot, h("div", { class: "merge-confirm", role: "alert" },
      h("span", { class: "prompt" }, tf("merge_confirm", { src: tk.number, dst: numberOf(into) })),
      h("button", { type: "button", class: "danger solid", id: "merge-yes", onclick: () => { fill(confirmSlot); go(into); } }, t("merge_yes")),
      h("button", { type: "button", onclick: () => fill(confirmSlot) }, t("cancel"))));
  });
  return [form, confirmSlot];
}

/** A ticket-number input and a button; calls onId(id) with the number read. */
function numberForm(label, id, onId) {
  const input = h("input", { id, maxlength: 20, size: 10, placeholder: "T-000042", "aria-label": label });
  const form = h("form", { class: "row" }, input, h("button", { type: "submit" }, label));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const found = ticketIdOf(input.value);
    if (!found) { toast(t("merge_which"), "error"); input.focus(); return; }
    onId(found);
  });
  return form;
}

const refRow = (r, open, ...rest) => h("li", { dataset: { ticketId: r.id } }, ref(r, open), " ",
  h("span", { class: "ref-title" }, r.title || ""), " ", h("span", { class: `badge s-${r.status}` }, tOr("s_", r.status)), " ", ...rest);

/** The parent incident / child tickets panel of the shown ticket, with link, unlink and bulk. */
export function relationsPanel(tk, open, reload) {
  const r = relationsOf(tk);
  const readOnly = !!tk.merged_into_id;
  const link = (parentId, childId) => act(t("link"), async () => { await api("POST", `tickets/${parentId}/children/${childId}`); toast(t("saved")); reload(); });
  const unlink = (parentId, childId) => act(t("unlink"), async () => { await api("DELETE", `tickets/${parentId}/children/${childId}`); toast(t("saved")); reload(); });
  const unlinkButton = (parentId, childId) => readOnly ? null
    : h("button", { type: "button", class: "small", onclick: () => unlink(parentId, childId) }, t("unlink"));
  if (readOnly && !tk.parent_id && !r.children.length) return null; // nothing to show or do
  const parts = [h("h3", {}, t("relations"))];
  if (tk.parent_id) {
    const parent = r.parent || { id: tk.parent_id, number: tk.parent, title: "", status: "" };
    parts.push(h("p", { class: "row parent-ref" }, h("span", { class: "muted" }, t("parent_incident")), " ",
      ref(parent, open), " ", parent.title || "", " ", unlinkButton(parent.id, tk.id)));
  }
  if (r.children.length) {
    parts.push(h("h4", {}, t("child_tickets"), ` (${r.children.length})`),
      h("ul", { class: "children", id: "children" }, r.children.map((c) => refRow(c, open, unlinkButton(tk.id, c.id)))));
  }
  // One level: a child gets no children, a parent does not become a child.
  if (!readOnly && !tk.parent_id) {
    parts.push(h("div", { class: "row link-forms" },
      numberForm(t("add_child"), "child-number", (id) => link(tk.id, id)),
      r.children.length ? null : numberForm(t("make_child_of"), "parent-number", (id) => link(id, tk.id))));
  }
  if (!readOnly && r.children.length) parts.push(bulkBox(tk, reload));
  return h("section", { class: "relations", id: "relations" }, parts);
}

/** Reply to, move or close every open child at once; what was skipped stays listed. */
function bulkBox(tk, reload) {
  const run = async (body, what) => {
    const done = await act(what, () => api("POST", `tickets/${tk.id}/children/bulk`, body));
    if (!done) return;
    S.bulk = { id: tk.id, skipped: done.skipped };
    toast(tf("bulk_done", { n: done.applied.length, m: done.skipped.length }));
    reload();
  };
  const text = h("textarea", { rows: 2, maxlength: 20000, id: "bulk-reply", "aria-label": t("bulk_reply"), placeholder: t("bulk_reply") });
  const reply = h("form", { class: "bulk-reply" }, text, h("div", { class: "row" }, h("button", { type: "submit" }, t("bulk_reply"))));
  reply.addEventListener("submit", (e) => {
    e.preventDefault();
    if (text.value.trim()) run({ action: "reply", body: text.value.trim() }, t("bulk_reply"));
  });
  const sel = options(STATUSES.filter((s) => s !== "new").map((s) => [s, t(`s_${s}`)]), null, t("change_status"));
  sel.id = "bulk-status";
  sel.setAttribute("aria-label", t("bulk_status"));
  const status = h("form", { class: "row" }, sel, h("button", { type: "submit" }, t("bulk_status")),
    h("button", { type: "button", id: "bulk-close", onclick: () => run({ action: "close" }, t("bulk_close")) }, t("bulk_close")));
  status.addEventListener("submit", (e) => {
    e.preventDefault();
    if (sel.value) run({ action: "status", status: sel.value }, t("bulk_status"));
  });
  const skipped = S.bulk && S.bulk.id === tk.id ? S.bulk.skipped : [];
  return h("div", { class: "bulk", id: "bulk" }, h("h4", {}, t("bulk_children")), reply, status,
    skipped.length ? h("ul", { class: "bulk-skipped" }, skipped.map((s) => h("li", {},
      h("strong", {}, t("bulk_skipped")), " ", h("code", {}, s.number), " ", s.reason))) : null);
}
