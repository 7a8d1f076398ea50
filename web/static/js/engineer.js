// The field engineer's phone page (/engineer): today's work orders in the day plan's order,
// one order's detail with big buttons for the next moves, the report (notes, parts, photos,
// the customer's signature and rating), live assignments, duty and position. Installable
// (manifest + service worker /engineer-sw.js) and usable without signal.
//
// Why this shape: every change goes through the offline queue (engineer/sync.js) whether the
// phone is online or not, and what the page shows is the server's last copy of each order with
// the queued changes applied on top; so the same code path works in a lift and on 5G, nothing
// is lost if the page is closed, and what the server refused (a dispatcher reassigned the
// order meanwhile) is kept and shown until read. Decline and duty need the server at once
// (someone else gets the order), so they ask for a connection instead of queueing. All outside
// text goes in as textContent (dom.js h()).
import { ApiError, api, items, logout } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, t, tf } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { HubSocket, showConnection } from "./socket.js";
import { downscale } from "./engineer/photo.js";
import { mountSignature } from "./engineer/signature.js";
import { deleteProblem, listProblems } from "./engineer/store.js";
import { FINAL, OPEN, SyncQueue, applyOps, nextMoves } from "./engineer/sync.js";

const FLUSH_EVERY_MS = 20000;
const REFRESH_EVERY_MS = 60000;
/** after a work_order message: read the day plan again (the order may have moved it) */
const REPLAN_AFTER_MS = 800;
const POSITION_EVERY_MS = 120000;
const POSITION_FRESH_MS = 300000;

const state = {
  me: null,
  pbx: null,
  server: new Map(), // work order id → the order as the server last sent it
  plan: null,
  asOf: null, // when the orders shown were fetched, if they came from the offline copy
  loaded: false,
  problems: [],
  notices: [], // {id, text, open?}
  openId: null,
  reason: null, // {id, kind: "failed"|"decline", text}
  net: navigator.onLine === false ? "offline" : "online",
  sync: { state: "idle", detail: "" },
  duty: null,
  position: null, // {lat, lon, at}
  positionSentAt: 0,
  positionWatch: null,
  logoutArmed: false,
};
let queue = null;
let built = null; // the open detail: {id, work, live, key, pad}
let noticeSeq = 0;

const mine = (o) => Boolean(o && o.engineer && state.me && o.engineer.id === state.me.id);
const view = (id) => {
  const o = state.server.get(id);
  return o ? applyOps(o, queue ? queue.forOrder(id) : []) : null;
};
const statusText = (s) => t(`wo_s_${s}`) === `wo_s_${s}` ? String(s || "") : t(`wo_s_${s}`);

// ---- data ------------------------------------------------------------------------------

/** GET an API path; {data, cachedAt} (cachedAt: the service worker answered from its copy). */
async function getJSON(path) {
  let res;
  try {
    res = await fetch(`/api/v1/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, `network: ${err.message}`);
  }
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, "not logged in");
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, (data && data.detail) || res.statusText);
  return { data, cachedAt: res.headers.get("X-Hotline-Cached-At") };
}

function keep(o) {
  if (!o || o.id === undefined || o.id === null) return false;
  const known = state.server.get(o.id);
  if (known && (known.version ?? 0) > (o.version ?? 0)) return false;
  state.server.set(o.id, o);
  return true;
}

function notice(text, extra = {}) {
  const id = ++noticeSeq;
  state.notices.push({ id, text, ...extra });
  if (state.notices.length > 5) state.notices.shift();
  return id;
}

function announceNew(o) {
  notice(tf("eng_new_order", { number: o.number, address: o.address || "" }), { open: o.id, fresh: true });
}

/** Merge a list of orders from the server; `complete`: it is the whole list (not the offline
 * copy), so an order missing from it was taken away. */
function mergeOrders(list, { complete }) {
  const seen = new Set();
  for (const o of list) {
    seen.add(o.id);
    const isNew = !state.server.has(o.id);
    if (keep(o) && isNew && state.loaded && mine(o) && o.status === "assigned") announceNew(o);
  }
  if (!complete) return;
  for (const [id, o] of state.server) {
    if (seen.has(id) || queue.forOrder(id).length) continue;
    // (a change of theirs the server refused on it already says so)
    const told = state.problems.some((p) => p.op.work_order_id === id);
    if (OPEN.has(o.status) && mine(o) && state.loaded && !told) notice(tf("eng_taken_away", { number: o.number }));
    state.server.delete(id);
  }
}

async function refresh() {
  if (!state.me) return;
  try {
    const { data, cachedAt } = await getJSON(`work_orders?engineer_id=${state.me.id}&limit=200`);
    mergeOrders(items(data), { complete: !cachedAt });
    state.asOf = cachedAt;
    if (!cachedAt) setNet("online");
  } catch (err) {
    if (err.status === 0) setNet(navigator.onLine === false ? "offline" : "unreachable");
    else notice(`${describeError(err).headline} (${describeError(err).detail})`);
  }
  try {
    const { data } = await getJSON(`engineers/${state.me.id}/plan`);
    state.plan = data;
    for (const stop of (data && data.stops) || []) if (stop.work_order) keep(stop.work_order);
    const eng = data && data.engineer;
    if (eng && typeof eng.on_duty === "boolean") state.duty = eng.on_duty;
  } catch { /* no plan (yet): the orders' own plan_seq still order the list */ }
  state.loaded = true;
  render();
}

function setNet(net) {
  if (state.net === net) return;
  state.net = net;
  renderBars();
  renderDetail();
}

function onSyncResults(results, sent) {
  const byOp = new Map(sent.map((op) => [op.op_id, op]));
  let conflicts = false;
  for (const r of results) {
    if (r.work_order) keep(r.work_order);
    if ((r.outcome === "conflict" || r.outcome === "rejected") && byOp.has(r.op_id)) conflicts = true;
  }
  if (conflicts) loadProblems().then(refresh);
}

function onSyncState(s, detail = "") {
  state.sync = { state: s, detail };
  if (s === "unreachable") setNet(navigator.onLine === false ? "offline" : "unreachable");
  else if (s === "synced") setNet("online");
  renderBars();
}

async function loadProblems() {
  try { state.problems = await listProblems(state.me.id); } catch { state.problems = []; }
}

// ---- work draft (notes, parts, rating, signer), kept on the phone until sent ------------

function draftKey(id) { return `hotline_eng_draft_${state.me.id}_${id}`; }

function loadDraft(o) {
  try {
    const saved = JSON.parse(localStorage.getItem(draftKey(o.id)) || "null");
    if (saved) return saved;
  } catch { /* fresh */ }
  return {
    notes: o.notes || "", rating: o.rating || null,
    parts: (o.parts_used || []).map((p) => ({ name: p.name, qty: p.qty })),
    signed_by: o.signed_by || o.contact_name || (o.customer && o.customer.name) || "", dirty: false,
  };
}

function saveDraft(id, d) {
  try { localStorage.setItem(draftKey(id), JSON.stringify(d)); } catch { /* full: kept in memory */ }
}

function dropDraft(id) { try { localStorage.removeItem(draftKey(id)); } catch { /* ignore */ } }

// ---- actions ---------------------------------------------------------------------------

function freshPosition() {
  const p = state.position;
  return p && Date.now() - p.at < POSITION_FRESH_MS ? p : null;
}

async function queueReport(o, d) {
  const parts = d.parts.filter((p) => p.name && p.name.trim())
    .map((p) => ({ name: p.name.trim(), qty: Math.max(1, Math.round(Number(p.qty)) || 1) }));
  const payload = { notes: d.notes, parts_used: parts, signed_by: d.signed_by || null };
  if (d.rating) payload.rating = d.rating;
  await queue.add(state.server.get(o.id), "report", payload);
  d.dirty = false;
  saveDraft(o.id, d);
}

async function queueSignature(o) {
  if (!built || !built.pad || built.pad.isEmpty()) return false;
  const d = built.draft;
  await queue.add(state.server.get(o.id), "signature",
    { data_url: built.pad.toDataURL(), signed_by: d.signed_by || null });
  built.pad.clear();
  built.sigState.textContent = t("eng_signature_saved");
  return true;
}

async function move(o, status, reason) {
  const base = state.server.get(o.id);
  if (!base) return;
  if ((status === "completed" || status === "failed") && built && built.id === o.id && built.work) {
    await queueSignature(o);
    if (built.draft.dirty) await queueReport(o, built.draft);
  }
  const payload = { status };
  if (reason) payload.reason = reason;
  const pos = freshPosition();
  if (pos) { payload.lat = pos.lat; payload.lon = pos.lon; }
  state.reason = null;
  await queue.add(base, "status", payload);
  if (FINAL.has(status)) dropDraft(o.id);
  render();
}

async function decline(o, reason) {
  try {
    const out = await api("POST", `work_orders/${o.id}/decline`, { reason });
    state.reason = null;
    if (out && out.id) keep(out);
    state.server.delete(o.id);
    notice(tf("eng_declined", { number: o.number }));
    location.hash = "";
  } catch (err) {
    const { headline, detail } = describeError(err);
    notice(`${o.number}: ${headline} (${detail})`);
  }
  render();
}

async function addPhotos(o, files, status) {
  for (const file of files) {
    status.textContent = t("loading");
    try {
      const { data_url } = await downscale(file);
      await queue.add(state.server.get(o.id), "photo", { data_url });
      status.textContent = t("eng_queued");
    } catch (err) {
      console.error("photo", err);
      status.textContent = t("eng_photo_failed");
    }
  }
  render();
}

async function callCustomer(o, out) {
  const number = o.contact_phone;
  out.textContent = t("calling");
  try {
    await api("POST", `work_orders/${o.id}/call`, {});
    out.textContent = tf("eng_call_ringing", { number });
  } catch (err) {
    const { headline, detail } = describeError(err);
    out.textContent = `${headline} (${detail})`;
  }
}

async function setDuty(onDuty, reason) {
  try {
    const out = await api("POST", `engineers/${state.me.id}/duty`, { on_duty: onDuty, reason: reason || null });
    state.duty = out && typeof out.on_duty === "boolean" ? out.on_duty : onDuty;
    try { localStorage.setItem("hotline_eng_duty", state.duty ? "1" : "0"); } catch { /* ignore */ }
    notice(t(state.duty ? "eng_now_on_duty" : "eng_now_off_duty"));
    refresh();
  } catch (err) {
    const { headline, detail } = describeError(err);
    notice(`${headline} (${detail})`);
  }
  render();
}

async function sendPosition(force = false) {
  const p = state.position;
  if (!p || state.net !== "online" || state.duty === false) return;
  if (!force && Date.now() - state.positionSentAt < POSITION_EVERY_MS) return;
  state.positionSentAt = Date.now();
  try {
    const out = await api("POST", "engineers/me/position", { lat: p.lat, lon: p.lon });
    if (out && typeof out.on_duty === "boolean" && out.on_duty !== state.duty) { state.duty = out.on_duty; renderBars(); }
  } catch { /* the next fix tries again */ }
}

function sharePosition(on) {
  try { localStorage.setItem("hotline_eng_share_pos", on ? "1" : "0"); } catch { /* ignore */ }
  if (state.positionWatch !== null) { navigator.geolocation.clearWatch(state.positionWatch); state.positionWatch = null; }
  if (!on || !("geolocation" in navigator)) return;
  state.positionWatch = navigator.geolocation.watchPosition((pos) => {
    state.position = { lat: pos.coords.latitude, lon: pos.coords.longitude, at: Date.now() };
    sendPosition();
  }, (err) => {
    if (err.code === err.PERMISSION_DENIED) {
      $("#share-pos").checked = false;
      sharePosition(false);
      notice(t("eng_position_denied"));
      render();
    }
  }, { enableHighAccuracy: false, maximumAge: 60000, timeout: 30000 });
}

// ---- rendering -------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
/** Line icons drawn here (no icon font, no emoji font needed): [tag, attributes] each. */
const ICONS = {
  phone: [["rect", { x: 7, y: 2, width: 10, height: 20, rx: 2 }], ["path", { d: "M11 18h2" }]],
  navigate: [["path", { d: "M12 2 20 21 12 17 4 21Z" }]],
  map: [["path", { d: "M3 6l6-3 6 3 6-3v15l-6 3-6-3-6 3Z" }], ["path", { d: "M9 3v15M15 6v15" }]],
  camera: [["rect", { x: 2, y: 7, width: 20, height: 14, rx: 2 }], ["circle", { cx: 12, cy: 14, r: 4 }], ["path", { d: "M8 7l1.5-3h5L16 7" }]],
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", width: 20, height: 20, fill: "none", stroke: "currentColor",
    "stroke-width": 2, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true", class: "icon" })) svg.setAttribute(k, String(v));
  for (const [tag, attrs] of ICONS[name]) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    svg.appendChild(el);
  }
  return svg;
}

function timeOf(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(getLang() === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
}

function dayOf(iso) {
  const d = new Date(iso);
  return d.toLocaleDateString(getLang() === "zh" ? "zh-CN" : "en-GB", { month: "short", day: "numeric", weekday: "short" });
}

const isToday = (iso) => Boolean(iso) && new Date(iso).toDateString() === new Date().toDateString();

function windowText(o) {
  if (!o.window_start) return "";
  const span = `${timeOf(o.window_start)}–${o.window_end ? timeOf(o.window_end) : ""}`;
  return isToday(o.window_start) ? span : `${dayOf(o.window_start)} ${span}`;
}

function arrival(o) {
  const stop = state.plan && (state.plan.stops || []).find((s) => s.work_order && s.work_order.id === o.id);
  return (stop && stop.arrival) || o.planned_arrival || null;
}

function seqOf(o) {
  const stop = state.plan && (state.plan.stops || []).find((s) => s.work_order && s.work_order.id === o.id);
  return stop ? stop.seq : o.plan_seq ?? null; // the plan just read over the one stored
}

function sortKey(o) {
  return [seqOf(o) ?? 1e9, arrival(o) || o.window_start || "9999", o.id];
}

function byPlan(a, b) {
  const ka = sortKey(a), kb = sortKey(b);
  for (let i = 0; i < ka.length; i += 1) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return 0;
}

function doneToday(o) {
  const at = (o.status_times || {})[o.status] || o.updated_at;
  return FINAL.has(o.status) && isToday(at);
}

function sections() {
  const shown = [...state.server.keys()].map(view).filter((o) => mine(o) || o.pending_ops);
  const open = shown.filter((o) => OPEN.has(o.status)).sort(byPlan);
  const endOfToday = new Date(); endOfToday.setHours(23, 59, 59, 999);
  const later = (o) => seqOf(o) == null && o.window_start && new Date(o.window_start) > endOfToday;
  return {
    today: open.filter((o) => !later(o)),
    later: open.filter(later),
    done: shown.filter(doneToday).sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at))),
  };
}

function badge(o) {
  return h("span", { class: `badge wo-status ws-${o.status}` }, statusText(o.status));
}

function card(o) {
  const eta = arrival(o);
  const who = (o.customer && o.customer.name) || o.contact_name || "";
  return h("a", { class: `wo-card ws-${o.status}${o.id === state.openId ? " open" : ""}`, href: `#wo=${o.id}`,
    dataset: { id: o.id, number: o.number, status: o.status } },
  h("span", { class: "wo-line" },
    h("span", { class: "wo-seq", "aria-hidden": "true" }, seqOf(o) ?? "·"),
    h("strong", { class: "wo-number" }, o.number), badge(o),
    o.priority === "urgent" || o.priority === "high" ? h("span", { class: `badge p-${o.priority}` }, t(`p_${o.priority}`)) : null,
    o.pending_ops ? h("span", { class: "badge wo-waiting", title: t("eng_waiting_badge") }, "⟳ ", String(o.pending_ops)) : null),
  h("span", { class: "wo-when" },
    o.window_start ? h("span", {}, windowText(o)) : null,
    eta && OPEN.has(o.status) ? h("span", { class: "muted" }, `${o.window_start ? " · " : ""}${t("eng_eta")} ${timeOf(eta)}`) : null),
  who ? h("span", { class: "wo-who" }, who) : null,
  o.address ? h("span", { class: "wo-addr" }, o.address) : null);
}

function renderList() {
  const { today, later, done } = sections();
  const today_ = new Date().toISOString();
  const blocks = [];
  blocks.push(h("h2", { class: "list-head" }, t("eng_today"), " ", h("span", { class: "muted" }, dayOf(today_))));
  if (state.asOf) blocks.push(h("p", { class: "as-of", id: "as-of" }, tf("eng_as_of", { time: timeOf(state.asOf) })));
  if (state.plan && typeof state.plan.travel_min === "number" && state.plan.travel_min >= 1 && today.length) {
    blocks.push(h("p", { class: "muted plan-sum" }, tf("eng_plan_sum", { n: today.length, min: Math.round(state.plan.travel_min) })));
  }
  blocks.push(today.length ? h("div", { class: "wo-list", id: "today-list" }, today.map(card))
    : h("p", { class: "muted empty" }, state.loaded ? t("no_work_orders") : t("loading")));
  if (later.length) blocks.push(h("h3", {}, t("eng_later")), h("div", { class: "wo-list" }, later.map(card)));
  if (done.length) blocks.push(h("h3", {}, t("eng_done")), h("div", { class: "wo-list done" }, done.map(card)));
  fill($("#list-view"), blocks);
}

function changeLabel(op) {
  if (op.kind === "status") return tf("eng_ch_status", { status: statusText(op.payload && op.payload.status) });
  return t(`eng_ch_${op.kind}`);
}

function problemText(group) {
  const [first] = group;
  const changes = group.map((p) => changeLabel(p.op)).join(", ");
  const number = first.op.number || (first.work_order && first.work_order.number) || `#${first.op.work_order_id}`;
  const wo = first.work_order;
  if (first.outcome === "rejected") {
    return tf("eng_rejected", { number, change: changes, detail: first.detail || "" });
  }
  if (wo && !mine(wo)) return tf("eng_conflict_reassigned", { number, change: changes });
  if (wo && wo.status === "cancelled") return tf("eng_conflict_cancelled", { number, change: changes });
  if (/^changed by/.test(first.detail || "")) return tf("eng_conflict_changed", { number, change: changes });
  return tf("eng_rejected", { number, change: changes, detail: first.detail || "" });
}

function renderNotices() {
  const groups = new Map();
  for (const p of state.problems) {
    const k = `${p.op.work_order_id}|${p.outcome}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(p);
  }
  const problemCards = [...groups.values()].map((group) => {
    const wo = group[0].work_order;
    const canRetry = wo && mine(wo) && OPEN.has(wo.status);
    return h("div", { class: `notice-card problem ${group[0].outcome}`, role: "alert", dataset: { outcome: group[0].outcome } },
      h("p", {}, problemText(group)),
      h("div", { class: "row" },
        canRetry ? h("button", { type: "button", onclick: async () => {
          keep(wo);
          for (const p of group) { await queue.retry(p.op, wo); await deleteProblem(p.op_id); }
          await loadProblems(); render();
        } }, t("eng_retry")) : null,
        h("button", { type: "button", class: "primary", onclick: async () => {
          for (const p of group) await deleteProblem(p.op_id);
          await loadProblems(); render();
        } }, t("eng_ok"))));
  });
  const live = state.notices.map((n) => h("div", { class: `notice-card${n.fresh ? " fresh" : ""}`, role: "status" },
    h("p", {}, n.text),
    h("div", { class: "row" },
      n.open ? h("a", { class: "btn", href: `#wo=${n.open}`, onclick: () => dismiss(n.id) }, t("open")) : null,
      h("button", { type: "button", onclick: () => { dismiss(n.id); render(); } }, t("dismiss")))));
  fill($("#notices"), problemCards, live);
}

const pendingText = (n) => (n === 1 ? t("eng_pending_one") : tf("eng_pending", { n }));

function dismiss(id) { state.notices = state.notices.filter((n) => n.id !== id); }

function renderBars() {
  const net = $("#net-banner");
  net.hidden = state.net === "online";
  net.textContent = state.net === "offline" ? t("eng_offline") : t("eng_unreachable");
  document.body.dataset.net = state.net;
  const n = queue ? queue.ops.length : 0;
  const s = $("#sync-state");
  document.body.dataset.pending = String(n);
  if (n === 0) { s.textContent = t("eng_synced"); s.className = "sync-state ok"; }
  else if (state.sync.state === "syncing") { s.textContent = tf("eng_syncing", { n }); s.className = "sync-state busy"; }
  else {
    s.textContent = pendingText(n);
    if (state.sync.state === "error") s.textContent += ` · ${tf("eng_sync_error", { detail: state.sync.detail })}`;
    s.className = "sync-state waiting";
  }
  $("#sync-now").hidden = !(n > 0 && state.net !== "offline");
  const duty = $("#duty");
  duty.hidden = !state.me || state.me.role !== "engineer";
  duty.textContent = state.duty === false ? t("eng_duty_off") : t("eng_duty_on");
  duty.setAttribute("aria-pressed", state.duty === false ? "false" : "true");
  duty.className = `duty ${state.duty === false ? "off" : "on"}`;
}

function renderDutyForm() {
  const box = $("#duty-form");
  const reason = h("select", { id: "duty-reason" },
    ["off", "sick", "leave"].map((r) => h("option", { value: r }, t(`eng_reason_${r}`))));
  fill(box, h("p", {}, t("eng_off_hint")),
    h("div", { class: "row" }, h("label", { class: "inline" }, t("reason"), " ", reason),
      h("button", { type: "button", class: "danger", id: "duty-confirm", onclick: () => { box.hidden = true; setDuty(false, reason.value); } }, t("eng_go_off")),
      h("button", { type: "button", onclick: () => { box.hidden = true; } }, t("cancel"))));
}

function facts(o) {
  const rows = [];
  const add = (key, ...value) => { if (value.some((v) => v !== null && v !== undefined && v !== "")) rows.push(h("dt", {}, t(key)), h("dd", {}, ...value)); };
  add("customer", (o.customer && o.customer.name) || "");
  add("eng_contact", [o.contact_name, o.contact_phone].filter(Boolean).join(" · "));
  add("eng_address", o.address || "");
  add("eng_window", windowText(o));
  const eta = arrival(o);
  if (eta && OPEN.has(o.status)) add("eng_eta", timeOf(eta));
  add("eng_kind", [t(`wo_k_${o.kind}`), o.priority ? t(`p_${o.priority}`) : ""].filter(Boolean).join(" · "));
  add("eng_ticket", o.ticket_number || "");
  if (o.equipment) {
    const e = o.equipment;
    add("eng_equipment", [e.model, e.serial_number].filter(Boolean).join(" · "),
      e.warranty_end ? h("span", { class: "muted" }, ` · ${t("warranty_until")} ${e.warranty_end}`) : null);
  }
  add("eng_skills", (o.required_skills || []).join(", "));
  add("eng_parts_planned", (o.parts_planned || []).map((p) => `${p.name} ×${p.qty}`).join(", "));
  if (!(mine(o) && o.status === "on_site")) add("eng_notes", o.notes || ""); // else edited below
  if (o.status === "failed") add("reason", o.fail_reason || "");
  if (FINAL.has(o.status)) {
    add("eng_parts_used", (o.parts_used || []).map((p) => `${p.name} ×${p.qty}`).join(", "));
    add("eng_rating", o.rating ? "★".repeat(o.rating) + "☆".repeat(5 - o.rating) : "");
    add("eng_signed_by", o.signed_by || "");
  }
  return h("dl", { class: "wo-facts" }, rows);
}

function contactActions(o) {
  const out = h("p", { class: "muted call-out", role: "status" });
  const phone = o.contact_phone;
  const digits = phone ? phone.replace(/[^\d+]/g, "") : "";
  const pbxOk = state.pbx && state.pbx.mode !== "off" && state.pbx.connected;
  const canOriginate = Boolean(phone && state.me.extension && pbxOk);
  const tel = phone ? h("a", { class: `btn big ${canOriginate ? "" : "primary"}`, id: "call-tel", href: `tel:${digits}` }, icon("phone"), h("span", {}, t("eng_call"), " ", h("span", { class: "nowrap" }, phone))) : null;
  const desk = canOriginate ? h("button", { type: "button", class: "big primary", id: "call-originate",
    disabled: state.net !== "online", onclick: () => callCustomer(o, out) }, icon("phone"), tf("eng_call_ext", { ext: state.me.extension })) : null;
  const nav = [];
  const label = o.address || o.number;
  if (o.lat !== null && o.lat !== undefined && o.lon !== null && o.lon !== undefined) {
    nav.push(h("a", { class: "btn big", id: "nav-geo", href: `geo:${o.lat},${o.lon}?q=${o.lat},${o.lon}(${encodeURIComponent(label)})` }, icon("navigate"), t("eng_navigate")));
    nav.push(h("a", { class: "btn", id: "nav-web", target: "_blank", rel: "noopener noreferrer",
      href: `https://www.openstreetmap.org/?mlat=${o.lat}&mlon=${o.lon}#map=17/${o.lat}/${o.lon}` }, icon("map"), t("eng_map")));
  } else if (o.address) {
    nav.push(h("a", { class: "btn big", id: "nav-geo", href: `geo:0,0?q=${encodeURIComponent(o.address)}` }, icon("navigate"), t("eng_navigate")));
    nav.push(h("a", { class: "btn", id: "nav-web", target: "_blank", rel: "noopener noreferrer",
      href: `https://www.openstreetmap.org/search?query=${encodeURIComponent(o.address)}` }, icon("map"), t("eng_map")));
  }
  return h("div", { class: "contact-actions" }, desk, tel, nav, out);
}

function movesBlock(o) {
  if (!mine(o)) {
    return h("p", { class: "notice warn-box" }, o.status === "cancelled" ? tf("eng_cancelled_notice", { number: o.number })
      : tf("eng_taken_away", { number: o.number }));
  }
  const moves = nextMoves(o);
  const r = state.reason && state.reason.id === o.id ? state.reason : null;
  if (r) {
    const ta = h("textarea", { id: "reason-text", rows: 2, "aria-label": t("reason"), value: r.text,
      oninput: () => { r.text = ta.value; } });
    const offlineDecline = r.kind === "decline" && state.net !== "online";
    return h("div", { class: "reason-box" },
      h("label", { for: "reason-text" }, t(r.kind === "decline" ? "eng_decline_reason" : "eng_fail_reason")), ta,
      offlineDecline ? h("p", { class: "error" }, t("eng_needs_net")) : null,
      h("div", { class: "row" },
        h("button", { type: "button", class: "big danger", id: "reason-confirm", disabled: offlineDecline, onclick: () => {
          const text = ta.value.trim();
          if (!text) { ta.focus(); return; }
          if (r.kind === "decline") decline(o, text); else move(o, "failed", text);
        } }, t(r.kind === "decline" ? "eng_decline" : "eng_mv_failed")),
        h("button", { type: "button", class: "big", onclick: () => { state.reason = null; renderDetail(); } }, t("cancel"))));
  }
  const forward = moves.filter((s) => s !== "failed");
  const buttons = forward.map((s) => h("button", { type: "button", class: `big move primary mv-${s}`, dataset: { move: s },
    onclick: () => move(o, s) }, t(`eng_mv_${s}`)));
  const extra = [];
  if (moves.includes("failed")) {
    extra.push(h("button", { type: "button", class: "big danger", dataset: { move: "failed" },
      onclick: () => { state.reason = { id: o.id, kind: "failed", text: "" }; renderDetail(); } }, t("eng_mv_failed")));
  }
  if (o.status === "assigned" || o.status === "accepted") {
    extra.push(h("button", { type: "button", class: "big", id: "decline", disabled: state.net !== "online",
      title: state.net !== "online" ? t("eng_needs_net") : null,
      onclick: () => { state.reason = { id: o.id, kind: "decline", text: "" }; renderDetail(); } }, t("eng_decline")));
  }
  const hint = o.status === "on_site" && !(o.files || []).some((f) => f.kind === "signature")
    ? h("p", { class: "muted" }, t("eng_no_signature")) : null;
  if (!buttons.length && !extra.length) return null;
  return h("div", { class: "moves" }, buttons, hint, extra.length ? h("div", { class: "moves-extra" }, extra) : null);
}

function filesBlock(o) {
  const files = o.files || [];
  if (!files.length) return null;
  const photos = files.filter((f) => f.kind === "photo");
  const sigs = files.filter((f) => f.kind === "signature");
  const img = (f, cls) => h("figure", { class: `${cls}${f.pending ? " pending" : ""}` },
    h("img", { src: f.url, alt: t(`eng_ch_${f.kind}`), loading: "lazy" }),
    f.pending ? h("figcaption", {}, "⟳ ", t("eng_waiting_badge")) : null);
  return h("div", { class: "files" },
    photos.length ? [h("h3", {}, t("eng_photos"), ` (${photos.length})`), h("div", { class: "thumbs", id: "photo-thumbs" }, photos.map((f) => img(f, "thumb")))] : null,
    sigs.length ? [h("h3", {}, t("eng_signature")), h("div", { class: "thumbs", id: "sig-thumbs" }, img(sigs[sigs.length - 1], "sig-thumb"))] : null);
}

function buildWork(o) {
  const d = loadDraft(o);
  const touch = () => { d.dirty = true; saveDraft(o.id, d); };
  const notes = h("textarea", { id: "wo-notes", rows: 3, value: d.notes, oninput: () => { d.notes = notes.value; touch(); } });
  const partsBox = h("div", { class: "parts", id: "parts" });
  const renderParts = () => fill(partsBox, d.parts.map((p, i) => {
    const name = h("input", { type: "text", class: "part-name", value: p.name || "", placeholder: t("eng_part_name"), "aria-label": t("eng_part_name"),
      oninput: () => { p.name = name.value; touch(); } });
    const qty = h("input", { type: "number", class: "part-qty", min: 1, step: 1, inputmode: "numeric", value: p.qty || 1, "aria-label": t("eng_qty"),
      oninput: () => { p.qty = Number(qty.value) || 1; touch(); } });
    return h("div", { class: "part-row" }, name, qty,
      h("button", { type: "button", class: "small", "aria-label": t("eng_remove"), onclick: () => { d.parts.splice(i, 1); touch(); renderParts(); } }, "✕"));
  }));
  renderParts();
  const addPart = h("button", { type: "button", id: "add-part", onclick: () => {
    d.parts.push({ name: "", qty: 1 }); touch(); renderParts();
    const inputs = partsBox.querySelectorAll(".part-name");
    if (inputs.length) inputs[inputs.length - 1].focus();
  } }, "+ ", t("eng_add_part"));
  const stars = h("div", { class: "stars", role: "radiogroup", "aria-label": t("eng_rating"), id: "rating" });
  const renderStars = () => fill(stars, [1, 2, 3, 4, 5].map((n) => h("button", { type: "button", role: "radio",
    class: `star${d.rating && n <= d.rating ? " on" : ""}`, "aria-checked": d.rating === n ? "true" : "false",
    "aria-label": tf("eng_stars", { n }), dataset: { n }, onclick: () => { d.rating = n; touch(); renderStars(); } }, "★")));
  renderStars();
  const photoStatus = h("span", { class: "muted", role: "status", id: "photo-status" });
  const photoInput = h("input", { type: "file", id: "photo-input", accept: "image/*", capture: "environment", multiple: true,
    onchange: () => { const files = [...photoInput.files]; photoInput.value = ""; addPhotos(o, files, photoStatus); } });
  const signer = h("input", { type: "text", id: "signed-by", value: d.signed_by, oninput: () => { d.signed_by = signer.value; touch(); } });
  const canvas = h("canvas", { class: "sigpad", id: "sigpad", "aria-label": t("eng_sign_here") });
  const sigState = h("span", { class: "muted", role: "status", id: "sig-state" });
  const work = h("section", { class: "work", id: "work" },
    h("h2", {}, t("eng_report")),
    h("label", { class: "field" }, h("span", {}, t("eng_notes")), notes),
    h("div", { class: "field" }, h("span", {}, t("eng_parts_used")), partsBox, addPart),
    h("div", { class: "field" }, h("span", {}, t("eng_photos")),
      h("label", { class: "btn big photo-btn", for: "photo-input" }, icon("camera"), t("eng_take_photo")), photoInput, photoStatus),
    h("div", { class: "field" }, h("span", {}, t("eng_signature")),
      h("label", { class: "inline" }, t("eng_signed_by"), " ", signer),
      h("div", { class: "sig-wrap" }, canvas, h("span", { class: "sig-hint", "aria-hidden": "true" }, t("eng_sign_here"))),
      h("div", { class: "row" },
        h("button", { type: "button", id: "sig-clear", onclick: () => built && built.pad && built.pad.clear() }, t("eng_clear")),
        h("button", { type: "button", id: "sig-save", onclick: async () => {
          if (await queueSignature(o)) render(); else sigState.textContent = t("eng_sign_here");
        } }, t("eng_save_signature")), sigState)),
    h("div", { class: "field" }, h("span", {}, t("eng_rating")), stars),
    h("div", { class: "row" }, h("button", { type: "button", class: "big", id: "save-report", onclick: async () => {
      await queueReport(o, d); sigState.textContent = ""; notice(tf("eng_report_queued", { number: o.number })); render();
    } }, t("eng_save_report"))));
  const entry = { draft: d, sigState, pad: null, canvas };
  mountSignature(canvas, () => {
    sigState.textContent = "";
    canvas.parentElement.classList.toggle("signed", Boolean(entry.pad && !entry.pad.isEmpty()));
  })
    .then((pad) => { entry.pad = pad; if (built && built.canvas === canvas) built.pad = pad; })
    .catch((err) => { console.error("signature pad", err); sigState.textContent = t("eng_sigpad_missing"); });
  return { el: work, ...entry };
}

function renderDetail() {
  const box = $("#detail-view");
  const id = state.openId;
  document.body.dataset.view = id ? "detail" : "list";
  if (!id) {
    if (built && built.pad) built.pad.destroy();
    built = null;
    fill(box, h("p", { class: "muted detail-empty" }, t("eng_pick")));
    return;
  }
  const o = view(id);
  if (!o) {
    built = null;
    fill(box, h("a", { class: "back", href: "#" }, "← ", t("eng_back")), h("p", { class: "muted", id: "wo-gone" }, t("eng_gone")));
    return;
  }
  const showWork = mine(o) && o.status === "on_site";
  if (!built || built.id !== id || Boolean(built.work) !== showWork || built.lang !== getLang()) {
    if (built && built.pad) built.pad.destroy();
    const w = showWork ? buildWork(o) : null;
    built = { id, lang: getLang(), live: h("div", { class: "live" }), work: w ? w.el : null,
      draft: w && w.draft, sigState: w && w.sigState, pad: w && w.pad, canvas: w && w.canvas, key: null };
    const later = mine(o) && ["assigned", "accepted", "en_route"].includes(o.status)
      ? h("p", { class: "muted" }, t("eng_work_later")) : null;
    fill(box, h("a", { class: "back", href: "#", id: "back" }, "← ", t("eng_back")), built.live, built.work, later);
  }
  // what the live part shows (not the whole order: queued photos are large data URLs)
  const key = JSON.stringify([o.id, o.version, o.status, o.pending_ops, o.updated_at, o.engineer,
    (o.files || []).map((f) => f.id), o.signed_by, o.rating, o.notes, o.parts_used, o.fail_reason,
    state.reason, state.net, state.pbx, arrival(o)]);
  if (built.key === key) return;
  built.key = key;
  fill(built.live,
    h("header", { class: "detail-top" }, h("h2", { id: "wo-number" }, o.number), badge(o),
      o.pending_ops ? h("span", { class: "badge wo-waiting" }, "⟳ ", pendingText(o.pending_ops)) : null),
    movesBlock(o),
    contactActions(o),
    facts(o),
    filesBlock(o));
}

function render() {
  renderBars();
  renderNotices();
  renderList();
  renderDetail();
}

function route() {
  const m = /^#wo=(\d+)$/.exec(location.hash);
  const id = m ? Number(m[1]) : null;
  if (id !== state.openId) { state.openId = id; state.reason = null; }
  render();
  if (id) window.scrollTo(0, 0);
}

// ---- start -----------------------------------------------------------------------------

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const hadController = Boolean(navigator.serviceWorker.controller);
    // The first time, the worker takes over a page that already loaded: fetch the orders
    // again through it, so that its offline copy holds them.
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (!hadController && state.me) refresh();
    });
    await navigator.serviceWorker.register("/engineer-sw.js", { scope: "/engineer" });
  } catch (err) {
    console.warn("service worker not registered", err);
  }
}

async function doLogout() {
  const n = queue ? queue.ops.length : 0;
  if (n && !state.logoutArmed) {
    state.logoutArmed = true;
    notice(tf("eng_logout_pending", { n }));
    render();
    return;
  }
  try {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage({ type: "logout" });
    if (window.caches) await caches.delete("hotline-eng-data-v1");
  } catch { /* ignore */ }
  logout();
}

async function main() {
  applyStatic();
  const prefs = mountPrefs($("#prefs-slot"));
  $("#lang-slot").appendChild(langSwitch(() => { built = null; prefs.relabel(); rememberLocale(); render(); }));
  $("#logout").addEventListener("click", doLogout);
  registerWorker();
  let me;
  try {
    ({ data: me } = await getJSON("auth/me"));
  } catch (err) {
    fill($("#list-view"), h("p", { class: "error" }, describeError(err).headline));
    return;
  }
  state.me = me;
  $("#me").textContent = me.display_name || me.username;
  rememberLocale(me.locale);
  try { const saved = localStorage.getItem("hotline_eng_duty"); if (saved !== null) state.duty = saved === "1"; } catch { /* ignore */ }
  queue = new SyncQueue(me.id, { onChange: () => render(), onResults: onSyncResults, onState: onSyncState });
  await Promise.all([queue.load(), loadProblems()]);
  getJSON("pbx").then(({ data }) => { state.pbx = data; renderDetail(); }).catch(() => {});

  $("#sync-now").addEventListener("click", () => queue.flush());
  $("#duty").addEventListener("click", () => {
    if (state.net !== "online") { notice(t("eng_needs_net")); render(); return; }
    if (state.duty === false) { setDuty(true); return; }
    renderDutyForm();
    $("#duty-form").hidden = false;
  });
  const share = $("#share-pos");
  share.hidden = !("geolocation" in navigator);
  try { share.checked = localStorage.getItem("hotline_eng_share_pos") === "1"; } catch { /* ignore */ }
  share.addEventListener("change", () => sharePosition(share.checked));
  if (share.checked) sharePosition(true);

  window.addEventListener("hashchange", route);
  let hub = null;
  window.addEventListener("online", () => {
    if (hub) hub.backoff = 500; // reconnect soon
    setNet("online");
    queue.flush().then(refresh);
  });
  window.addEventListener("offline", () => {
    setNet("offline");
    // say so in the live-updates pill at once (the socket would notice at the next heartbeat)
    if (hub) { hub.backoff = 500; if (hub.ws) hub.ws.close(); }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && navigator.onLine !== false) { queue.flush(); refresh(); }
  });
  setInterval(() => { if (queue.ops.length && navigator.onLine !== false) queue.flush(); }, FLUSH_EVERY_MS);
  setInterval(() => { if (!document.hidden && navigator.onLine !== false) refresh(); }, REFRESH_EVERY_MS);

  let replanTimer = 0;
  hub = new HubSocket((msg) => {
    if (msg.type !== "work_order") return;
    const o = msg.work_order || msg;
    if (!o || o.id === undefined) return;
    const known = state.server.get(o.id);
    if (!keep(o)) return;
    if (mine(o) && (!known || !mine(known)) && OPEN.has(o.status)) announceNew(o);
    else if (known && mine(known) && !mine(o) && !queue.forOrder(o.id).length) notice(tf(o.status === "cancelled" ? "eng_cancelled_notice" : "eng_taken_away", { number: o.number }));
    else if (known && mine(o) && o.status === "cancelled" && known.status !== "cancelled") notice(tf("eng_cancelled_notice", { number: o.number }));
    render();
    // a change of one order may re-plan the day (visit order, arrival times): read the plan
    // again once the burst of messages is over
    clearTimeout(replanTimer);
    replanTimer = setTimeout(() => { if (navigator.onLine !== false) refresh(); }, REPLAN_AFTER_MS);
  }, (status) => {
    showConnection(status);
    if (status === "online") { queue.flush(); refresh(); }
  });
  hub.connect();

  route();
  await queue.flush();
  await refresh();
  document.body.dataset.ready = "1";
}

main();
