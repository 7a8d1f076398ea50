// The notifications page (/admin/notifications, admins only): the outbox by status (dead
// letters first: what an admin comes here for), each message with its attempts, next attempt
// and last error, a retry for dead and waiting ones; and the webhook subscriptions (create,
// edit, disable, delete). Recipients are shown in full: an admin diagnosing a bounce needs the
// address. A webhook's secret is generated here (or typed) and shown once after saving: the
// API never returns it. A 422 names the field ("url: …"). Outside text only goes in through
// h()/textContent.
import { api, items, logout } from "./api.js";
import { $, $$, fill, fmtTime, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, t, tOr, tf } from "./i18n.js";
import { rememberLocale } from "./notifyprefs.js";

const KINDS = ["ticket_created", "ticket_assigned", "status_changed", "public_comment",
  "sla_reminder", "sla_breach", "supervision_order", "work_order"];
const PAGE = 25;
const P = { me: null, status: "dead", offset: 0, total: 0, rows: [], hooks: [], users: new Map(), editing: null, secret: null };

function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  fill(el, text, detail ? h("small", { class: "detail" }, detail) : null);
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}
/** The error in words; a 422's fields by name ("url: Input should be a valid URL"). */
function errorText(err) {
  const { headline, detail } = describeError(err);
  return { headline, detail: err && err.fields ? `${err.status} · ${err.fields.join("; ")}` : detail };
}
function fail(err, what) {
  const { headline, detail } = errorText(err);
  toast(what ? `${what}: ${headline}` : headline, "error", detail);
}

/** Each cell carries its column's name (data-label): on a phone the rows become cards that
 * show it before the value (CSS), instead of a table squeezed to one letter per line. */
function labelCells(table) {
  const names = $$("thead th", table).map((th) => th.textContent);
  for (const tr of $$("tbody tr", table)) {
    Array.from(tr.children).forEach((td, i) => { if (names[i] && td.colSpan === 1) td.dataset.label = names[i]; });
  }
}

// --- outbox ---------------------------------------------------------------------------------

/** Who a message goes to, in words: an address or number as stored, a staff member by name. */
function recipient(m) {
  if (m.channel === "ws") {
    const u = P.users.get(Number(m.recipient));
    return u ? `${u.display_name || u.username} (${u.username})` : `#${m.recipient}`;
  }
  if (m.channel === "webhook") return tf("nt_webhook_n", { id: m.recipient });
  return m.recipient;
}

function renderOutbox() {
  for (const b of $$("#outbox-tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.status === P.status));
  const lang = getLang();
  const head = h("tr", {}, [t("nt_kind"), t("nt_channel"), t("nt_recipient"), t("nt_ticket"), t("nt_status"), t("nt_attempts"),
    t("nt_next"), t("nt_error"), t("nt_created"), ""].map((x) => h("th", {}, x)));
  const body = P.rows.length ? P.rows.map((m) => h("tr", { dataset: { id: m.id }, class: `ob-${m.status}` },
    h("td", {}, h("span", {}, tOr("nk_", m.kind), h("br"), h("small", { class: "muted subject" }, m.subject || ""))),
    h("td", {}, tOr("nc_", m.channel)),
    h("td", { class: "recipient" }, recipient(m)),
    h("td", {}, m.ticket_id ? h("a", { href: `/console#ticket=${encodeURIComponent(m.ticket_id)}`, class: "ticket-link" }, m.ticket_number || `#${m.ticket_id}`) : "—"),
    h("td", {}, h("span", { class: `badge ob-${m.status}` }, tOr("ob_", m.status))),
    h("td", { class: "num" }, String(m.attempts)),
    h("td", {}, m.status === "pending" ? fmtTime(m.next_attempt_at, lang) : "—"),
    h("td", { class: "last-error" }, m.last_error || "—"),
    h("td", {}, fmtTime(m.created_at, lang)),
    h("td", {}, m.status === "sent" ? null
      : h("button", { type: "button", class: "small retry", onclick: (e) => retry(m, e.currentTarget) }, t("nt_retry")))))
    : h("tr", {}, h("td", { colspan: 10, class: "muted" }, t("nt_empty")));
  fill($("#outbox"), h("thead", {}, head), h("tbody", {}, body));
  labelCells($("#outbox"));
  const from = P.total ? P.offset + 1 : 0;
  $("#page-range").textContent = tf("nt_range", { from, to: P.offset + P.rows.length, total: P.total });
  $("#page-prev").disabled = P.offset === 0;
  $("#page-next").disabled = P.offset + P.rows.length >= P.total;
}

async function loadOutbox() {
  const q = new URLSearchParams({ limit: String(PAGE), offset: String(P.offset) });
  if (P.status) q.set("status", P.status);
  const page = await api("GET", `admin/outbox?${q}`);
  P.rows = items(page);
  P.total = page.total || 0;
  if (!P.rows.length && P.offset > 0) { P.offset = Math.max(0, P.offset - PAGE); return loadOutbox(); }
  renderOutbox();
}

async function retry(m, button) {
  button.disabled = true;
  try {
    await api("POST", `admin/outbox/${m.id}/retry`);
    toast(tf("nt_retried", { id: m.id }));
    await loadOutbox();
  } catch (err) { button.disabled = false; fail(err, t("nt_retry")); }
}

// --- webhooks -------------------------------------------------------------------------------

function kindsText(kinds) { return kinds.length ? kinds.map((k) => tOr("nk_", k)).join(", ") : t("nt_all_kinds"); }

function renderHooks() {
  const head = h("tr", {}, [t("nt_url"), t("nt_kinds"), t("nt_status"), t("nt_created"), ""].map((x) => h("th", {}, x)));
  const body = P.hooks.length ? P.hooks.map((w) => h("tr", { dataset: { id: w.id }, class: w.active ? "" : "off" },
    h("td", { class: "url" }, w.url), h("td", {}, kindsText(w.kinds)),
    h("td", {}, h("span", { class: `badge ${w.active ? "ok" : ""}` }, w.active ? t("nt_active") : t("nt_inactive"))),
    h("td", {}, fmtTime(w.created_at, getLang())),
    h("td", {}, h("span", { class: "rule-buttons" },
      h("button", { type: "button", class: "small edit", onclick: () => editHook(w) }, t("edit")),
      h("button", { type: "button", class: "small toggle", onclick: () => toggleHook(w) }, w.active ? t("nt_disable") : t("nt_enable")),
      h("button", { type: "button", class: "small danger remove", onclick: () => removeHook(w) }, t("delete"))))))
    : h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("nt_no_hooks")));
  fill($("#hooks"), h("thead", {}, head), h("tbody", {}, body));
  labelCells($("#hooks"));
}

function newSecret() {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The secret just stored, shown once, with a copy button; gone when dismissed. */
function showSecret(secret, url) {
  P.secret = { secret, url }; // drawn again on a language switch, until dismissed
  const box = $("#secret-once");
  const code = h("code", { class: "secret" }, secret);
  fill(box, h("p", {}, t("nt_secret_once"), " ", h("small", { class: "muted" }, url)), code,
    h("div", { class: "row" },
      h("button", { type: "button", class: "small", onclick: async (e) => {
        try { await navigator.clipboard.writeText(secret); e.currentTarget.textContent = t("nt_copied"); } catch { window.getSelection().selectAllChildren(code); }
      } }, t("nt_copy")),
      h("button", { type: "button", class: "small primary", onclick: () => { P.secret = null; fill(box); box.hidden = true; } }, t("nt_stored"))));
  box.hidden = false;
}

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

function editHook(w) {
  P.editing = () => editHook(w);
  const url = h("input", { name: "url", type: "url", value: w ? w.url : "https://", required: true, maxlength: 500, placeholder: "https://crm.example.com/hotline" });
  const secret = h("input", { name: "secret", value: w ? "" : newSecret(), minlength: 16, maxlength: 200, required: !w,
    placeholder: w ? t("nt_secret_keep") : "", autocomplete: "off", spellcheck: "false" });
  const active = h("input", { type: "checkbox", name: "active", checked: w ? w.active : true });
  const chosen = new Set(w ? w.kinds : []);
  const boxes = KINDS.map((k) => h("label", { class: "chip" }, h("input", { type: "checkbox", name: "kinds", value: k, checked: chosen.has(k) }), " ", tOr("nk_", k)));
  const error = h("p", { class: "field-error", role: "alert" });
  const form = h("form", { class: "sla-form hook-form", novalidate: true },
    h("h3", {}, w ? w.url : t("nt_new_hook")),
    field(t("nt_url"), url),
    h("fieldset", { class: "kinds" }, h("legend", {}, t("nt_kinds")), h("div", { class: "checks" }, boxes), h("small", { class: "muted" }, t("nt_kinds_hint"))),
    field(t("nt_secret"), h("span", { class: "row secret-row" }, secret,
      h("button", { type: "button", class: "small", onclick: () => { secret.value = newSecret(); } }, t("nt_generate"))), w ? t("nt_secret_keep") : ""),
    h("label", { class: "inline" }, active, " ", t("nt_active")),
    error,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, t("save")),
      h("button", { type: "button", onclick: closeEditor }, t("cancel"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const body = { url: url.value.trim(), kinds: boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value),
      active: active.checked };
    const typed = secret.value.trim();
    if (typed || !w) body.secret = typed;
    try {
      if (w) await api("PATCH", `admin/webhooks/${w.id}`, body);
      else await api("POST", "admin/webhooks", body);
      closeEditor();
      toast(w ? t("saved") : t("nt_hook_created"));
      if (body.secret) showSecret(body.secret, body.url);
      await loadHooks();
    } catch (err) {
      const { headline, detail } = errorText(err);
      error.textContent = `${headline}${detail ? ` (${detail})` : ""}`;
      fail(err, t("save"));
    }
  });
  fill($("#hook-editor"), form);
  url.focus();
}

function closeEditor() { fill($("#hook-editor")); P.editing = null; }

async function toggleHook(w) {
  try {
    await api("PATCH", `admin/webhooks/${w.id}`, { active: !w.active });
    toast(t("saved"));
    await loadHooks();
  } catch (err) { fail(err, w.active ? t("nt_disable") : t("nt_enable")); }
}

async function removeHook(w) {
  if (!window.confirm(tf("nt_confirm_delete", { url: w.url }))) return;
  try {
    await api("DELETE", `admin/webhooks/${w.id}`);
    toast(t("nt_deleted"));
    closeEditor();
    await loadHooks();
  } catch (err) { fail(err, t("delete")); }
}

async function loadHooks() {
  P.hooks = items(await api("GET", "admin/webhooks"));
  renderHooks();
}

function relabel() {
  renderOutbox();
  renderHooks();
  if (P.editing) P.editing();
  if (P.secret) showSecret(P.secret.secret, P.secret.url);
  rememberLocale();
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(relabel));
  $("#logout").addEventListener("click", logout);
  for (const b of $$("#outbox-tabs [role=tab]")) {
    b.addEventListener("click", () => { P.status = b.dataset.status; P.offset = 0; loadOutbox().catch((err) => fail(err, t("nt_outbox"))); });
  }
  $("#page-prev").addEventListener("click", () => { P.offset = Math.max(0, P.offset - PAGE); loadOutbox().catch(fail); });
  $("#page-next").addEventListener("click", () => { P.offset += PAGE; loadOutbox().catch(fail); });
  $("#new-hook").addEventListener("click", () => editHook(null));
  try { P.me = await api("GET", "auth/me"); } catch (err) { fail(err); return; }
  $("#me").textContent = P.me.display_name || P.me.username;
  try {
    P.users = new Map(items(await api("GET", "users")).map((u) => [u.id, u]));
  } catch { /* names are a nicety: ids are shown instead */ }
  try { await Promise.all([loadOutbox(), loadHooks()]); } catch (err) { fail(err, t("notify_admin")); }
  document.body.dataset.ready = "1";
}

main();
