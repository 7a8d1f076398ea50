// The PBX state on every page: a "demo PBX" badge while the built-in demo PBX runs, and a
// "PBX not connected" banner while a configured PBX is down. Separate from the websocket
// state (the console's live-updates pill): the page can be live while the PBX is not.
// Source: GET /api/v1/pbx (the telephony layer's per-PBX connection state), polled.
import { api } from "./api.js";
import { t } from "./i18n.js";

const POLL_MS = 10000;

function el(tag, attrs) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

const badge = el("span", { id: "pbx-demo", class: "pbx-demo", "data-i18n": "pbx_demo", "data-i18n-title": "pbx_demo_hint", role: "note" });
const banner = el("div", { id: "pbx-down", class: "pbx-down", role: "alert", "data-i18n": "pbx_down" });
badge.hidden = true;
banner.hidden = true;

function mount() {
  const bar = document.querySelector(".topbar");
  if (!bar) return false;
  const brand = bar.querySelector(".brand");
  if (brand) brand.after(badge); else bar.prepend(badge);
  bar.after(banner);
  return true;
}

/** Show the state of a GET /api/v1/pbx answer. */
export function render(state) {
  badge.textContent = t("pbx_demo");
  badge.title = t("pbx_demo_hint");
  banner.textContent = t("pbx_down");
  badge.hidden = !state.demo;
  // Only a configured PBX can be "not connected": "off" means the site runs without one.
  banner.hidden = state.mode === "off" || state.connected;
  document.body.dataset.pbx = state.mode === "off" ? "off" : (state.connected ? "connected" : "down");
}

async function poll() {
  try {
    render(await api("GET", "pbx"));
  } catch { /* not logged in yet, or the server is restarting: keep the last state */ }
  setTimeout(poll, POLL_MS);
}

if (mount()) poll();
