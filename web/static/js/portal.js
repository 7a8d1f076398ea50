// Customer self-service: the customer's own tickets (the API scopes the list to them); a
// request merged into another names the ticket to follow.
import { api, items, logout } from "./api.js";
import { $, fill, fmtTime, h } from "./dom.js";
import { applyStatic, getLang, langSwitch, t, tf, tOr } from "./i18n.js";

let rows = [];

function render() {
  fill($("#tickets"), rows.length ? h("table", { class: "list" },
    h("thead", {}, h("tr", {}, [t("number"), t("title"), t("status"), t("updated")].map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((tk) => h("tr", {},
      h("td", {}, h("code", {}, tk.number)), h("td", {}, tk.title),
      h("td", {}, h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status)),
        // a merged request says which ticket to follow (its public comment says so too)
        tk.merged_into ? h("span", { class: "muted merged-into" }, " ", tf("merged_done", { dst: tk.merged_into })) : null),
      h("td", {}, fmtTime(tk.updated_at, getLang()))))))
    : h("p", { class: "muted" }, t("empty")));
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(render));
  $("#logout").addEventListener("click", logout);
  const me = await api("GET", "auth/me");
  $("#me").textContent = me.display_name || me.username;
  rows = items(await api("GET", "tickets?limit=50").catch(() => []));
  render();
}

main();
