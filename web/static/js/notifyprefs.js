// A staff member's own notification settings, shared by the staff pages (console, engineer
// page): a header button opens a dialog with one row per event kind and one switch per channel
// a staff member can mute (the console, email), bound to GET/PUT
// /api/v1/me/notification-preferences; the server's defaults are marked. And the user's
// language: the language picked on a page is stored as their locale (PATCH /api/v1/me), so
// the notifications they get are written in it.
import { api, items } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { getLang, langChosen, t, tOr } from "./i18n.js";

const CHANNELS = ["ws", "email"];
let stored = null; // the locale the server has for the user, once known

/** Store the page's language as the user's locale when it differs (quietly: a failure
 * leaves notifications in the previous language, the page works on). */
export async function rememberLocale(known) {
  if (known !== undefined) {
    stored = known;
    if (!langChosen()) return; // the browser's language, not a choice: the locale stays
  }
  const lang = getLang();
  if (stored === lang) return;
  try {
    const out = await api("PATCH", "me", { locale: lang });
    stored = out.locale;
  } catch (err) {
    console.warn("could not store the language", err);
  }
}

/** The header button and its dialog; `slot` is where the button goes. */
export function mountPrefs(slot) {
  const dialog = h("dialog", { id: "notify-prefs", class: "prefs-dialog", "aria-labelledby": "np-title" });
  document.body.appendChild(dialog);
  const button = h("button", { type: "button", id: "notify-prefs-btn", onclick: () => openPrefs(dialog) }, t("np_open"));
  slot.appendChild(button);
  return { relabel: () => {
    button.textContent = t("np_open");
    if (!dialog.open || !dialog.prefs) return;
    const form = $("form", dialog); // keep what was switched but not saved yet
    const box = (p) => form && form.elements[`${p.kind}/${p.channel}`];
    openPrefs(dialog, dialog.prefs.map((p) => (box(p) ? { ...p, enabled: box(p).checked } : p)));
  } };
}

async function openPrefs(dialog, known) {
  let prefs = known;
  if (!prefs) {
    try { prefs = items(await api("GET", "me/notification-preferences")); } catch (err) {
      const { headline, detail } = describeError(err);
      fill(dialog, h("p", { class: "error" }, headline, " ", h("small", {}, detail)),
        h("button", { type: "button", onclick: () => dialog.close() }, t("dismiss")));
      if (!dialog.open) dialog.showModal();
      return;
    }
  }
  dialog.prefs = prefs;
  const by = new Map(prefs.map((p) => [`${p.kind}/${p.channel}`, p]));
  const kinds = [...new Set(prefs.map((p) => p.kind))];
  const status = h("p", { class: "np-status", role: "status" });
  const head = h("tr", {}, h("th", {}, t("np_event")), CHANNELS.map((c) => h("th", {}, tOr("nc_", c))));
  const rows = kinds.map((k) => h("tr", { dataset: { kind: k } }, h("th", { scope: "row" }, tOr("nk_", k)),
    CHANNELS.map((c) => {
      const p = by.get(`${k}/${c}`);
      if (!p) return h("td", {}, "—");
      // marked when it differs from the default (the title says what the default is)
      const mark = h("small", { class: "np-changed" });
      const box = h("input", { type: "checkbox", name: `${k}/${c}`, checked: p.enabled, "aria-label": `${tOr("nk_", k)} · ${tOr("nc_", c)}`,
        onchange: () => { mark.textContent = box.checked === p.default ? "" : ` ${t("np_changed")}`; } });
      mark.textContent = p.enabled === p.default ? "" : ` ${t("np_changed")}`;
      return h("td", {}, h("label", { class: "np-switch", title: p.default ? t("np_default_on") : t("np_default_off") }, box, mark));
    })));
  const form = h("form", { method: "dialog", class: "np-form" },
    h("h2", { id: "np-title" }, t("np_title")), h("p", { class: "muted small-note" }, t("np_hint")),
    h("div", { class: "table-wrap" }, h("table", { class: "sla-table np-table" }, h("thead", {}, head), h("tbody", {}, rows))),
    status,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", value: "save" }, t("save")),
      h("button", { type: "button", onclick: () => dialog.close() }, t("dismiss"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { items: prefs.map((p) => ({ kind: p.kind, channel: p.channel,
      enabled: form.elements[`${p.kind}/${p.channel}`].checked })) };
    status.className = "np-status";
    status.textContent = t("loading");
    try {
      prefs = items(await api("PUT", "me/notification-preferences", body));
      dialog.prefs = prefs;
      status.className = "np-status ok";
      status.textContent = t("np_saved");
    } catch (err) {
      const { headline, detail } = describeError(err);
      status.className = "np-status error";
      status.textContent = `${headline} (${err.fields ? err.fields.join("; ") : detail})`;
    }
  });
  fill(dialog, form);
  if (!dialog.open) dialog.showModal();
  const first = $("input", dialog);
  if (first) first.focus();
}
