// The ticket's service level in the detail view: per target "due in 1 h 20 min (business
// time)" / "overdue by …" / met, paused while waiting for the customer (GET tickets/{id}/sla,
// the server counts business time in the policy's calendar), and its supervision orders (督办):
// shown to everyone on the ticket, created and withdrawn by supervisors and admins. A
// breached-ticket badge for lists (slaBadge) uses only the ticket's own fields.
import { api } from "../api.js";
import { fill, fmtTime, h } from "../dom.js";
import { getLang, t, tOr, tf } from "../i18n.js";
import { S, fail, toast, userName } from "./state.js";

const OPEN = new Set(["new", "assigned", "in_progress", "pending_customer"]);

/** Seconds as "1 h 20 min" / "1 小时 20 分" (whole minutes; days as hours). */
export function fmtSpan(seconds) {
  const m = Math.max(0, Math.round(Math.abs(seconds) / 60));
  const hours = Math.floor(m / 60);
  const mins = m % 60;
  const parts = [];
  if (hours) parts.push(`${hours} ${t("dur_h")}`);
  if (mins || !hours) parts.push(`${mins} ${t("dur_min")}`);
  return parts.join(" ");
}

/** Is an open ticket past a due time (or recorded as breached)? */
export function isBreached(tk, now = Date.now()) {
  if (!OPEN.has(tk.status)) return false;
  if (tk.sla_breached_at) return true;
  if (tk.sla_paused) return false;
  return !!tk.due_at && new Date(tk.due_at).getTime() < now;
}

/** The list badge: "overdue" for a breached open ticket, else nothing. */
export function slaBadge(tk) {
  return isBreached(tk) ? h("span", { class: "badge sla-breached", title: t("sla_breached_hint") }, t("sla_breached")) : null;
}

function targetLine(x, clock) {
  const label = tOr("sla_t_", x.target);
  let text;
  let cls = "";
  if (x.met_at) {
    text = tf(x.met_at > x.due_at ? "sla_met_late" : "sla_met", { at: fmtTime(x.met_at, getLang()) });
  } else if (x.business_seconds_left === null || x.business_seconds_left === undefined) {
    text = fmtTime(x.due_at, getLang());
  } else if (x.business_seconds_left >= 0 && !x.breached) {
    text = tf("sla_due_in", { left: fmtSpan(x.business_seconds_left) });
    if (clock.business_time) text += t("sla_business");
  } else {
    text = tf("sla_overdue_by", { left: fmtSpan(x.business_seconds_left) });
    if (clock.business_time) text += t("sla_business");
    cls = "sla-over";
  }
  return h("li", { class: cls, dataset: { target: x.target } },
    h("strong", {}, label), " ", text,
    h("small", { class: "muted" }, ` · ${fmtTime(x.due_at, getLang())}`));
}

function orderItem(tk, o, reload) {
  const mayCancel = o.status === "open" && S.me && ["supervisor", "admin"].includes(S.me.role);
  return h("li", { class: `order order-${o.status}`, dataset: { orderId: o.id } },
    h("span", { class: `badge sv-${o.status}` }, tOr("sv_", o.status)), " ",
    h("strong", {}, o.note), " ",
    h("small", { class: "muted" }, tf("sv_by", { who: userName(o.created_by_id), at: fmtTime(o.deadline_at, getLang()) })),
    mayCancel ? h("button", { type: "button", class: "small", onclick: async () => {
      try { await api("POST", `tickets/${tk.id}/supervision/${o.id}/cancel`); reload(); } catch (err) { fail(err, t("sv_cancel")); }
    } }, t("sv_cancel")) : null);
}

function orderForm(tk, reload) {
  const note = h("input", { type: "text", maxlength: 2000, required: true, placeholder: t("sv_note"), "aria-label": t("sv_note") });
  const deadline = h("input", { type: "datetime-local", required: true, "aria-label": t("sv_deadline") });
  const form = h("form", { class: "row order-form" }, note,
    h("label", { class: "inline" }, t("sv_deadline"), " ", deadline),
    h("button", { type: "submit", class: "primary" }, t("sv_create")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `tickets/${tk.id}/supervision`, { note: note.value, deadline_at: deadline.value });
      toast(t("sv_created"));
      reload();
    } catch (err) { fail(err, t("sv_create")); }
  });
  return form;
}

/** The SLA panel of ticket tk: filled when the clock arrives. */
export function slaPanel(tk) {
  const box = h("section", { class: "sla-panel", id: "sla-panel", "aria-live": "polite" }, h("h3", {}, t("sla")));
  const load = async () => {
    let clock;
    try {
      clock = await api("GET", `tickets/${tk.id}/sla`);
    } catch (err) { fill(box, h("h3", {}, t("sla")), h("p", { class: "muted" }, t("sla_unavailable"))); return; }
    if (!box.isConnected && S.ticket && S.ticket.id !== tk.id) return;
    const manager = S.me && ["supervisor", "admin"].includes(S.me.role);
    fill(box,
      h("h3", {}, t("sla"), " ", h("small", { class: "muted" }, clock.policy)),
      clock.paused ? h("p", { class: "notice" }, t("sla_paused")) : null,
      h("ul", { class: "sla-targets" }, clock.targets.map((x) => targetLine(x, clock))),
      h("h4", {}, t("supervision")),
      clock.orders.length ? h("ul", { class: "orders" }, clock.orders.map((o) => orderItem(tk, o, load))) : h("p", { class: "muted" }, t("no_orders")),
      manager && OPEN.has(tk.status) && !tk.merged_into_id ? orderForm(tk, load) : null);
  };
  load();
  return box;
}
