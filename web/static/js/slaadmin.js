// The SLA page (/admin/sla): policies (targets per priority and optional type / customer tier /
// flow step, in business minutes of a calendar; reminder share; ordered escalation steps) and
// calendars (working spans per weekday, zone, holiday region, the site's closed and extra
// working days, or 24×7). Admins edit, supervisors read (the server enforces it; the page only
// hides what would be refused). A 422 names the field ("escalation[1].user: …"), shown in the
// toast. Outside text only goes in through h()/textContent.
import { api, items, logout } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, langSwitch, t, tOr, tf } from "./i18n.js";
import { rememberLocale } from "./notifyprefs.js";

const PRIORITIES = ["urgent", "high", "normal", "low"];
const ACTIONS = ["notify_supervisors", "raise_priority", "assign_group", "assign_user"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const P = { me: null, policies: [], calendars: [], editing: null };
const isAdmin = () => P.me && P.me.role === "admin";

function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  fill(el, text, detail ? h("small", { class: "detail" }, detail) : null);
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}
function fail(err, what) {
  const { headline, detail } = describeError(err);
  toast(what ? `${what}: ${headline}` : headline, "error", detail);
}

/** Minutes as "1 h 30 min" / "1 小时 30 分". */
function mins(n) {
  const hrs = Math.floor(n / 60);
  const m = n % 60;
  return [hrs ? `${hrs} ${t("dur_h")}` : "", m || !hrs ? `${m} ${t("dur_min")}` : ""].filter(Boolean).join(" ");
}
const calName = (id) => { const c = P.calendars.find((x) => x.id === id); return c ? c.name : `#${id}`; };
function stepText(s) {
  return tf("esc_step", { after: mins(s.after_minutes), action: tOr("esc_", s.action) }) + (s.user ? ` ${s.user}` : "");
}

// --- policies -------------------------------------------------------------------------------

function renderPolicies() {
  const head = h("tr", {}, [t("rule_name"), t("priority"), t("sla_criteria"), t("sla_calendar"), t("sla_t_first_response"), t("sla_t_resolution"), t("sla_reminder"), t("sla_escalation"), ""].map((x) => h("th", {}, x)));
  fill($("#policies"), h("thead", {}, head), h("tbody", {}, P.policies.map((p) => h("tr", { class: p.enabled ? "" : "off", dataset: { id: p.id } },
    h("td", {}, p.name), h("td", {}, tOr("p_", p.priority)),
    h("td", {}, [p.type_key && `${t("type")}: ${p.type_key}`, p.customer_tier && `${t("tier")}: ${p.customer_tier}`,
      p.flow_step !== null && p.flow_step !== undefined && tf("flow_step_n", { n: p.flow_step + 1 })].filter(Boolean).join(" · ") || "—"),
    h("td", {}, calName(p.calendar_id)), h("td", {}, mins(p.first_response_minutes)), h("td", {}, mins(p.resolution_minutes)),
    h("td", {}, `${Math.round(p.reminder_share * 100)} %`),
    h("td", {}, p.escalation.length ? p.escalation.map(stepText).join("; ") : "—"),
    h("td", {}, h("button", { type: "button", class: "small", onclick: () => editPolicy(p) }, isAdmin() ? t("edit") : t("open")))))));
}

function field(label, input) { return h("label", { class: "field" }, h("span", {}, label), input); }

function editPolicy(p) {
  P.editing = () => editPolicy(p); // a language switch draws the open editor again
  const admin = isAdmin();
  const v = p || { name: "", enabled: true, priority: "normal", type_key: null, customer_tier: null, flow_step: null,
    calendar_id: (P.calendars[0] || {}).id, first_response_minutes: 60, resolution_minutes: 480, reminder_share: 0.8, escalation: [] };
  const inp = (attrs) => h("input", { ...attrs, disabled: !admin });
  const name = inp({ name: "name", value: v.name, required: true, maxlength: 128 });
  const prio = h("select", { name: "priority", disabled: !admin }, PRIORITIES.map((x) => h("option", { value: x }, tOr("p_", x))));
  prio.value = v.priority;
  const type = inp({ name: "type_key", value: v.type_key || "", maxlength: 64 });
  const tier = inp({ name: "customer_tier", value: v.customer_tier || "", maxlength: 16 });
  const step = inp({ name: "flow_step", type: "number", min: 1, max: 101, value: v.flow_step === null || v.flow_step === undefined ? "" : v.flow_step + 1 });
  const cal = h("select", { name: "calendar_id", disabled: !admin }, P.calendars.map((c) => h("option", { value: String(c.id) }, c.name)));
  cal.value = String(v.calendar_id);
  const first = inp({ name: "first_response_minutes", type: "number", min: 1, value: v.first_response_minutes, required: true });
  const resolution = inp({ name: "resolution_minutes", type: "number", min: 1, value: v.resolution_minutes, required: true });
  const share = inp({ name: "reminder_share", type: "number", min: 1, max: 100, value: Math.round(v.reminder_share * 100), required: true });
  const enabled = inp({ type: "checkbox", name: "enabled", checked: v.enabled });
  const steps = h("ol", { class: "esc-steps" });
  const addStep = (s) => {
    const after = inp({ type: "number", min: 0, value: s.after_minutes, "aria-label": t("esc_after") });
    const action = h("select", { disabled: !admin, "aria-label": t("sla_escalation") }, ACTIONS.map((a) => h("option", { value: a }, tOr("esc_", a))));
    action.value = s.action;
    const user = inp({ value: s.user || "", placeholder: t("username"), "aria-label": t("username"), maxlength: 64 });
    const li = h("li", { class: "row" }, after, h("span", {}, t("esc_after_unit")), action, user,
      admin ? h("button", { type: "button", class: "small", onclick: () => li.remove() }, "×") : null);
    li.read = () => ({ after_minutes: Number(after.value), action: action.value, ...(action.value === "assign_user" ? { user: user.value } : {}) });
    steps.appendChild(li);
  };
  v.escalation.forEach(addStep);
  const form = h("form", { class: "sla-form" },
    h("h3", {}, p ? p.name : t("sla_new_policy")),
    h("div", { class: "grid2" }, field(t("rule_name"), name), field(t("priority"), prio), field(t("type"), type), field(t("tier"), tier),
      field(t("sla_flow_step"), step), field(t("sla_calendar"), cal), field(`${t("sla_t_first_response")} (${t("sla_minutes")})`, first),
      field(`${t("sla_t_resolution")} (${t("sla_minutes")})`, resolution), field(`${t("sla_reminder")} (%)`, share),
      h("label", { class: "inline" }, enabled, t("rule_enabled"))),
    h("h4", {}, t("sla_escalation")), steps,
    admin ? h("button", { type: "button", class: "small", onclick: () => addStep({ after_minutes: 0, action: "notify_supervisors" }) }, t("esc_add")) : null,
    admin ? h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("save")),
      p ? h("button", { type: "button", onclick: () => removePolicy(p) }, t("delete")) : null,
      h("button", { type: "button", onclick: () => fill($("#policy-editor")) }, t("cancel"))) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: name.value, enabled: enabled.checked, priority: prio.value, type_key: type.value.trim() || null,
      customer_tier: tier.value.trim() || null, flow_step: step.value ? Number(step.value) - 1 : null, calendar_id: Number(cal.value),
      first_response_minutes: Number(first.value), resolution_minutes: Number(resolution.value),
      reminder_share: Number(share.value) / 100, escalation: Array.from(steps.children).map((li) => li.read()) };
    try {
      if (p) await api("PATCH", `admin/sla/policies/${p.id}`, { ...body, version: p.version });
      else await api("POST", "admin/sla/policies", body);
      toast(t("saved"));
      fill($("#policy-editor"));
      P.editing = null;
      await load();
    } catch (err) { fail(err, t("save")); }
  });
  fill($("#policy-editor"), form);
  name.focus();
}

async function removePolicy(p) {
  if (!window.confirm(tf("sla_confirm_delete", { name: p.name }))) return;
  try { await api("DELETE", `admin/sla/policies/${p.id}`); fill($("#policy-editor")); await load(); } catch (err) { fail(err, t("delete")); }
}

// --- calendars ------------------------------------------------------------------------------

function calSummary(c) {
  if (c.always_open) return t("sla_24x7");
  const days = DAYS.filter((d) => (c.hours[d] || []).length).map((d) => `${t(`day_${d}`)} ${c.hours[d].join(", ")}`);
  return [days.join(" · ") || t("none"), `${t("sla_holidays")}: ${c.holidays || t("sla_site_default")}`,
    c.closed_days.length ? tf("sla_closed_n", { n: c.closed_days.length }) : "",
    c.open_days.length ? tf("sla_open_n", { n: c.open_days.length }) : ""].filter(Boolean).join(" · ");
}

function renderCalendars() {
  fill($("#calendars"), P.calendars.map((c) => h("li", { class: "rule-item", dataset: { id: c.id } },
    h("span", { class: "rule-name" }, c.name, h("small", { class: "muted" }, ` · ${c.key}${c.timezone ? ` · ${c.timezone}` : ""}`),
      h("br"), h("small", {}, calSummary(c))),
    h("span", { class: "rule-buttons" }, h("button", { type: "button", class: "small", onclick: () => editCalendar(c) }, isAdmin() ? t("edit") : t("open"))))));
}

const dayList = (s) => String(s || "").split(/[\s,，;；]+/).map((x) => x.trim()).filter(Boolean);

function editCalendar(c) {
  P.editing = () => editCalendar(c);
  const admin = isAdmin();
  const v = c || { key: "", name: "", timezone: null, holidays: null, hours: {}, closed_days: [], open_days: [], always_open: false };
  const inp = (attrs) => h("input", { ...attrs, disabled: !admin });
  const key = inp({ name: "key", value: v.key, required: true, maxlength: 64, disabled: !admin || !!c, pattern: "[a-z0-9_\\-]+" });
  const name = inp({ name: "name", value: v.name, required: true, maxlength: 128 });
  const zone = inp({ name: "timezone", value: v.timezone || "", placeholder: t("sla_site_default"), maxlength: 64 });
  const hol = inp({ name: "holidays", value: v.holidays || "", placeholder: t("sla_site_default"), maxlength: 16 });
  const always = inp({ type: "checkbox", name: "always_open", checked: v.always_open });
  const hours = DAYS.map((d) => [d, inp({ name: `hours_${d}`, value: (v.hours[d] || []).join(", "), placeholder: "09:00-12:00, 13:30-18:00" })]);
  const closed = h("textarea", { name: "closed_days", rows: 2, disabled: !admin, placeholder: "2026-12-24, 2026-12-31" }, v.closed_days.join(", "));
  const open = h("textarea", { name: "open_days", rows: 2, disabled: !admin, placeholder: "2026-12-26" }, v.open_days.join(", "));
  const form = h("form", { class: "sla-form" },
    h("h3", {}, c ? c.name : t("sla_new_calendar")),
    h("div", { class: "grid2" }, field(t("sla_key"), key), field(t("rule_name"), name), field(t("sla_timezone"), zone),
      field(t("sla_holidays"), hol), h("label", { class: "inline" }, always, t("sla_24x7"))),
    h("h4", {}, t("sla_hours")),
    h("div", { class: "grid2" }, hours.map(([d, el]) => field(t(`day_${d}`), el))),
    field(t("sla_closed_days"), closed), field(t("sla_open_days"), open),
    admin ? h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("save")),
      c ? h("button", { type: "button", onclick: () => removeCalendar(c) }, t("delete")) : null,
      h("button", { type: "button", onclick: () => fill($("#calendar-editor")) }, t("cancel"))) : null);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: name.value, timezone: zone.value.trim() || null, holidays: hol.value.trim() || null,
      always_open: always.checked, closed_days: dayList(closed.value), open_days: dayList(open.value),
      hours: Object.fromEntries(hours.map(([d, el]) => [d, dayList(el.value)]).filter(([, spans]) => spans.length)) };
    try {
      if (c) await api("PATCH", `admin/sla/calendars/${c.id}`, { ...body, version: c.version });
      else await api("POST", "admin/sla/calendars", { ...body, key: key.value.trim() });
      toast(t("saved"));
      fill($("#calendar-editor"));
      P.editing = null;
      await load();
    } catch (err) { fail(err, t("save")); }
  });
  fill($("#calendar-editor"), form);
  name.focus();
}

async function removeCalendar(c) {
  if (!window.confirm(tf("sla_confirm_delete", { name: c.name }))) return;
  try { await api("DELETE", `admin/sla/calendars/${c.id}`); fill($("#calendar-editor")); await load(); } catch (err) { fail(err, t("delete")); }
}

async function load() {
  const [cals, pols] = await Promise.all([api("GET", "admin/sla/calendars"), api("GET", "admin/sla/policies")]);
  P.calendars = items(cals); P.policies = items(pols);
  renderCalendars(); renderPolicies();
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(() => { renderCalendars(); renderPolicies(); if (P.editing) P.editing(); rememberLocale(); }));
  $("#logout").addEventListener("click", logout);
  try { P.me = await api("GET", "auth/me"); } catch (err) { fail(err); return; }
  $("#me").textContent = P.me.display_name || P.me.username;
  $("#read-only").hidden = isAdmin();
  $("#notify-link").hidden = !isAdmin();
  rememberLocale(P.me.locale);
  for (const [id, fn] of [["#new-policy", () => editPolicy(null)], ["#new-calendar", () => editCalendar(null)]]) {
    $(id).hidden = !isAdmin();
    $(id).addEventListener("click", fn);
  }
  try { await load(); } catch (err) { fail(err, t("sla_admin")); }
  document.body.dataset.ready = "1";
}

main();
