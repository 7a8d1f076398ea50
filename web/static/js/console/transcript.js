// The live transcript panel: ASR lines per call (a partial is replaced by what follows it),
// which call is shown, and copying the final lines into the ticket description.
import { $, fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { previewSoon } from "./form.js";
import { suggestKbSoon } from "./kb.js";
import { showTab } from "./tabs.js";
import { S } from "./state.js";

export function setActiveCall(callId) {
  S.activeCall = callId;
  $("#transcript-call").textContent = callId || "";
  renderTranscript();
}

export function onAsr(ev) {
  const lines = S.transcripts.get(ev.call_id) || [];
  const last = lines[lines.length - 1];
  if (last && !last.final) lines.pop();
  lines.push({ final: !!ev.final, text: String(ev.text ?? "") });
  if (lines.length > 500) lines.splice(0, lines.length - 500);
  S.transcripts.set(ev.call_id, lines);
  if (!S.activeCall) setActiveCall(ev.call_id);
  if (ev.call_id === S.activeCall) renderTranscript();
  if (ev.final) { suggestKbSoon(); previewSoon(); } // the rules may test the transcript
}

export function renderTranscript() {
  const box = $("#transcript");
  const lines = S.transcripts.get(S.activeCall) || [];
  if (!lines.length) { fill(box, h("p", { class: "muted" }, t("no_transcript"))); return; }
  fill(box, lines.map((l) => h("p", { class: l.final ? "final" : "partial" }, l.text)));
  box.scrollTop = box.scrollHeight;
}

/** Append the shown call's final transcript lines to the ticket description (agent action). */
export function transcriptToDescription() {
  if (!S.form) return;
  const lines = (S.transcripts.get(S.activeCall) || []).filter((l) => l.final).map((l) => l.text);
  if (!lines.length) return;
  const desc = S.form.el.elements.description;
  desc.value = [desc.value.trim(), ...lines].filter(Boolean).join("\n");
  desc.dataset.dirty = "1";
  S.form.dirty = true;
  showTab("form");
  desc.focus();
}
