// Field engineer page (mobile): the work orders the hub sends this engineer, as they arrive.
// The dispatch REST API is not there yet, so this page shows live assignments only.
import { api, logout } from "./api.js";
import { $, fill, fmtTime, h } from "./dom.js";
import { applyStatic, getLang, langSwitch, t } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { HubSocket, showConnection } from "./socket.js";

const orders = new Map();

function render() {
  const list = [...orders.values()].reverse();
  fill($("#orders"), list.length ? list.map((w) => h("article", { class: "card" },
    h("header", {}, h("strong", {}, w.number || `#${w.id ?? "?"}`), " ", h("span", { class: "badge" }, w.status || "")),
    h("p", {}, w.title || w.summary || ""),
    w.address ? h("p", { class: "muted" }, w.address) : null,
    w.scheduled_at ? h("p", {}, fmtTime(w.scheduled_at, getLang())) : null))
    : h("p", { class: "muted" }, t("no_work_orders")));
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(() => { render(); prefs.relabel(); rememberLocale(); }));
  const prefs = mountPrefs($("#prefs-slot"));
  $("#logout").addEventListener("click", logout);
  const me = await api("GET", "auth/me");
  $("#me").textContent = me.display_name || me.username;
  rememberLocale(me.locale);
  new HubSocket((msg) => {
    if (msg.type !== "work_order") return;
    const w = msg.work_order || msg;
    orders.set(String(w.id ?? w.number ?? orders.size), w);
    render();
  }, showConnection).connect();
  document.body.dataset.ready = "1";
}

main();
