// Hang-up, confirmed in the page: "Hang up" turns into "Hang up this call? [Yes, hang up]
// [Cancel]" for a few seconds; Escape, Cancel or the timeout put the button back. No blocking
// dialog: calls keep popping meanwhile. The pending confirmation lives in S.hangupAsk so that
// re-renders (call updates) keep it. Also owns keeping focus across re-renders (data-hk keys).
import { api } from "../api.js";
import { $, $$, fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { S, fail, isOver } from "./state.js";

export const HANGUP_CONFIRM_MS = 5000;

/** A stable key for the focused control inside root (data-hk), to restore after a re-render. */
export function focusedKey(root) {
  const el = document.activeElement;
  return root && el && root.contains(el) && el.dataset && el.dataset.hk ? el.dataset.hk : null;
}

export function refocusKey(root, key) {
  if (!key) return;
  const el = $(`[data-hk="${key}"]`, root);
  if (el) el.focus();
}

/** The hang-up control for callId at a place ("card" or "detail"): a button, or the question. */
export function hangupSlot(callId, where) {
  return h("span", { class: "hangup-slot", dataset: { hangupFor: callId, where } }, hangupControl(callId, where));
}

function hangupControl(callId, where) {
  const ask = S.hangupAsk;
  if (!ask || ask.callId !== callId || ask.where !== where) {
    return h("button", { type: "button", class: "danger", dataset: { hk: "hangup" },
      onclick: () => askHangup(callId, where) }, t("hangup"));
  }
  const bar = h("span", { class: "countdown", "aria-hidden": "true" });
  bar.style.animationDuration = `${HANGUP_CONFIRM_MS}ms`; // CSSOM, allowed by the CSP
  bar.style.animationDelay = `${Math.min(0, ask.until - Date.now() - HANGUP_CONFIRM_MS)}ms`;
  return h("span", { class: "hangup-confirm", role: "group", "aria-label": t("confirm_hangup") },
    h("span", { class: "prompt" }, t("confirm_hangup")),
    h("button", { type: "button", class: "danger solid", dataset: { hk: "confirm" }, onclick: () => hangup(callId) }, t("hangup_yes")),
    h("button", { type: "button", dataset: { hk: "cancel" }, onclick: () => cancelHangup() }, t("cancel")),
    bar);
}

/** Swap the hang-up controls of callId in place (no re-render of the card or detail). */
function redrawHangup(callId) {
  for (const slot of $$(".hangup-slot")) {
    if (slot.dataset.hangupFor !== callId) continue;
    const key = focusedKey(slot);
    fill(slot, hangupControl(callId, slot.dataset.where));
    // Focus inside the question goes back to the button when the question goes away.
    refocusKey(slot, key && !$(`[data-hk="${key}"]`, slot) ? "hangup" : key);
  }
}

export function askHangup(callId, where) {
  const entry = S.calls.get(callId);
  if (!entry || isOver(entry)) return;
  if (S.hangupAsk) cancelHangup();
  S.hangupAsk = { callId, where, until: Date.now() + HANGUP_CONFIRM_MS,
    timer: setTimeout(() => cancelHangup(), HANGUP_CONFIRM_MS) };
  redrawHangup(callId);
  const slot = $$(".hangup-slot").find((x) => x.dataset.hangupFor === callId && x.dataset.where === where);
  const yes = slot && $("[data-hk=confirm]", slot);
  if (yes) yes.focus();
}

export function clearHangupAsk() {
  const ask = S.hangupAsk;
  if (!ask) return null;
  clearTimeout(ask.timer);
  S.hangupAsk = null;
  return ask;
}

export function cancelHangup() {
  const ask = clearHangupAsk();
  if (ask) redrawHangup(ask.callId);
}

async function hangup(callId) {
  clearHangupAsk();
  redrawHangup(callId);
  try { await api("POST", `calls/${encodeURIComponent(callId)}/hangup`); } catch (err) { fail(err, t("hangup")); }
}
