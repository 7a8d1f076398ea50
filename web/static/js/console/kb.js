// Knowledge-base suggestions for what the agent is working on: the ticket shown, or the form
// (title, type, the last final transcript lines). A slower, older answer never replaces a newer.
import { api, items } from "../api.js";
import { $, fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { S, quiet } from "./state.js";

let kbTimer = null;
export function suggestKbSoon() {
  clearTimeout(kbTimer);
  kbTimer = setTimeout(suggestKb, 250);
}

let seqNo = 0;
export async function suggestKb() {
  const parts = [];
  let type = "";
  if (S.tab === "detail" && S.ticket) { parts.push(S.ticket.title); type = S.ticket.type || ""; }
  else if (S.form) {
    const f = S.form.el.elements;
    parts.push(f.title.value);
    type = f.type.value;
    const lines = (S.transcripts.get(S.form.callId) || []).filter((l) => l.final).slice(-3);
    parts.push(...lines.map((l) => l.text));
  }
  const q = parts.join(" ").replace(/\s+/g, " ").trim().slice(0, 500);
  const box = $("#kb");
  if (!q) { fill(box, h("p", { class: "muted" }, t("no_kb"))); return; }
  const params = new URLSearchParams({ q });
  if (type) params.set("type", type);
  const seq = ++seqNo;
  const arts = items(await quiet(api("GET", `kb/suggest?${params}`), []));
  if (seq !== seqNo) return;
  fill(box, arts.length ? arts.slice(0, 5).map((a) => h("details", { class: "kb" },
    h("summary", {}, a.title), h("p", {}, (a.body || "").slice(0, 1200)))) : h("p", { class: "muted" }, t("no_kb")));
}
