// The dispatcher board (/dispatch, supervisors and admins): the day's unassigned work orders,
// the engineers (on or off duty) with their day plan on a timeline (hours across, one row
// per engineer, a block per stop with its drive and any wait before it), and a map of the
// engineers' positions, their planned routes and the unassigned orders.
//
// Assigning: drag an order (from the list, or a stop from another engineer's row) onto an
// engineer's row; the dialog that opens shows where the ranking (GET …/candidates) puts that
// engineer and why, then POST …/assign {engineer_id} — or {"auto": true}, "best candidate".
// After an assignment the engineers concerned are re-planned (POST engineers/{id}/plan) and
// the board reloads; every `work_order` message on the websocket reloads it too (debounced),
// and it re-reads every 30 s while shown (a new unassigned order sends no message).
//
// Data: GET /api/v1/dispatch/board?date= → {date, unassigned: [work order], engineers:
// [{engineer, on_duty, position, plan}]} (docs/CONTRACT.md, "Field dispatch"). Times are
// shown in the site's zone (HOTLINE_TIMEZONE, the page's <meta>), never the browser's.
//
// The map is Leaflet from /static/vendor (scripts/vendor.py), never a CDN. Tiles only when
// HOTLINE_MAP_TILES is set (the page's <meta name="hotline-map-tiles">); without them the
// map draws markers and routes on a plain background with a scale, which is enough to see
// who is near what. Every piece of outside text goes in through dom.js `h` (textContent),
// Leaflet tooltips and icons get DOM elements, never markup strings.
import { api, logout } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, t, tf, tOr } from "./i18n.js";
import { mountPrefs, rememberLocale } from "./notifyprefs.js";
import { HubSocket, showConnection } from "./socket.js";

const COLOURS = ["#1f6feb", "#d2691e", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#b8860b", "#34495e"];
const SHANGHAI = [31.2304, 121.4737];
const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };

const B = {
  me: null,
  date: null, // "YYYY-MM-DD" the board shows (the server's today until picked)
  data: null, // the last board
  map: null,
  layers: null,
  fitted: false, // the map was fitted to the day once (later refreshes keep the user's view)
  autoFit: true, // the user has not moved the map yet: keep the whole day in view
  bounds: [], // every point drawn
  reloadTimer: null,
  pending: null, // {wo, engineerId, fromId} while the assign dialog is open
};

// --------------------------------------------------------------------------- helpers

function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  fill(el, text, detail ? h("small", { class: "detail" }, detail) : null);
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}

function fail(what, err) {
  const { headline, detail } = describeError(err);
  toast(`${what}: ${headline}`, "error", detail);
}

function status(text) {
  const el = $("#board-status");
  el.textContent = text || "";
  el.hidden = !text;
}

const woNumber = (wo) => wo.number || `WO-${String(wo.id).padStart(6, "0")}`;
/** "#123" for WO-000123: what fits in a timeline block (the full number is its title). */
const shortNumber = (wo) => `#${woNumber(wo).replace(/^WO-0*/, "")}`;
const personName = (e) => (e && (e.name || e.display_name || e.username)) || "—";
const engineerId = (row) => row.engineer && row.engineer.id;
/** The site's zone (HOTLINE_TIMEZONE, from the page's <meta>): the API's times are UTC or
 * carry an offset; the board shows the site's hours whatever the browser's zone is. */
const ZONE = (document.querySelector('meta[name="hotline-timezone"]') || {}).content || undefined;
let PARTS = null;
try {
  PARTS = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
} catch { PARTS = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }); }
/** {day: "YYYY-MM-DD", min: minutes after the site's midnight} of an ISO time, or null. */
function local(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  const p = Object.fromEntries(PARTS.formatToParts(d).map((x) => [x.type, x.value]));
  return { day: `${p.year}-${p.month}-${p.day}`, min: Number(p.hour) * 60 + Number(p.minute) };
}
const clockOf = (m) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(Math.round(m % 60)).padStart(2, "0")}`;
/** "HH:MM" of an ISO time in the site's zone, or "". */
const hhmm = (iso) => { const l = local(iso); return l ? clockOf(l.min) : ""; };
/** Minutes after the site's midnight of an ISO time. */
const minutesOf = (iso) => { const l = local(iso); return l ? l.min : null; };
const dayOf = (iso) => { const l = local(iso); return l ? l.day : ""; };
const hasPos = (p) => p && Number.isFinite(Number(p.lat)) && Number.isFinite(Number(p.lon)) && p.lat !== null && p.lon !== null;

function windowText(wo) {
  if (!wo.window_start && !wo.window_end) return t("dp_any_time");
  const day = (iso) => (dayOf(iso) && dayOf(iso) !== B.date ? `${dayOf(iso).slice(5)} ` : "");
  return `${day(wo.window_start)}${hhmm(wo.window_start) || "…"}–${hhmm(wo.window_end) || "…"}`;
}

/** A ranking or plan reason {code, params} in words: the translation with its parameters
 * filled in, or the code and its parameters when the page does not know it. */
function reasonText(r) {
  const code = typeof r === "string" ? r : r && r.code;
  const params = (r && typeof r === "object" && r.params) || {};
  const flat = {};
  for (const [k, v] of Object.entries(params)) flat[k] = Array.isArray(v) ? v.join(", ") : (typeof v === "number" ? Math.round(v * 10) / 10 : v);
  const key = `dr_${code}`;
  if (t(key) !== key) return tf(key, flat);
  const extra = Object.entries(flat).map(([k, v]) => `${k}: ${v}`).join(", ");
  return extra ? `${code} (${extra})` : String(code);
}

// --------------------------------------------------------------------------- loading

async function load() {
  const q = B.date ? `?date=${encodeURIComponent(B.date)}` : "";
  try {
    B.data = await api("GET", `dispatch/board${q}`);
  } catch (err) {
    const { headline, detail } = describeError(err);
    status(`${t("dp_load_failed")}: ${headline}${detail ? ` (${detail})` : ""}`);
    return;
  }
  status("");
  if (B.data.date && B.data.date !== B.date) { B.date = B.data.date; B.fitted = false; }
  $("#day").value = B.date || "";
  render();
  document.body.dataset.ready = "1";
}

function scheduleReload(ms = 400) {
  clearTimeout(B.reloadTimer);
  B.reloadTimer = setTimeout(load, ms);
}

function render() {
  if (!B.data) return;
  renderOrders();
  renderTimeline();
  renderMap();
}

// --------------------------------------------------------------------------- orders

function dragPayload(ev, wo, fromId) {
  ev.dataTransfer.setData("text/plain", JSON.stringify({ wo: wo.id, from: fromId ?? null }));
  ev.dataTransfer.effectAllowed = "move";
  document.body.classList.add("dragging");
}

function renderOrders() {
  const list = [...(B.data.unassigned || [])].sort((a, b) =>
    (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9)
    || String(a.window_start || "~").localeCompare(String(b.window_start || "~")) || a.id - b.id);
  $("#orders-count").textContent = list.length ? String(list.length) : "";
  if (!list.length) { fill($("#orders"), h("li", { class: "muted" }, t("dp_no_orders"))); return; }
  fill($("#orders"), list.map((wo) => h("li", {
    class: `dp-order p-${wo.priority || "normal"}`, draggable: "true", tabindex: "0",
    dataset: { wo: String(wo.id) },
    ondragstart: (ev) => dragPayload(ev, wo, null),
    ondragend: () => document.body.classList.remove("dragging"),
  },
  h("div", { class: "dp-order-head" },
    h("strong", {}, woNumber(wo)),
    h("span", { class: `badge p-${wo.priority}` }, tOr("p_", wo.priority || "normal")),
    h("span", { class: "dp-when" }, windowText(wo)),
    h("span", { class: "muted" }, tf("dp_duration", { n: wo.duration_min ?? "—" }))),
  h("div", { class: "dp-addr" }, wo.address || (wo.customer && wo.customer.name) || "—"),
  (wo.required_skills || []).length
    ? h("div", { class: "dp-skills" }, wo.required_skills.map((s) => h("span", { class: "badge" }, s)))
    : null,
  h("div", { class: "dp-order-actions" },
    h("button", { type: "button", class: "small", dataset: { act: "auto" }, onclick: () => assign(wo, { auto: true }) }, t("dp_best")),
    h("button", { type: "button", class: "small", dataset: { act: "candidates" }, onclick: () => openAssign(wo, null, null) }, t("dp_candidates"))))));
}

// --------------------------------------------------------------------------- timeline

/** The hours the timeline spans: 08–19, widened to every block of the day. */
function span(rows) {
  let lo = 8 * 60;
  let hi = 19 * 60;
  for (const row of rows) {
    for (const s of (row.plan && row.plan.stops) || []) {
      const a = minutesOf(s.arrival);
      const st = minutesOf(s.start);
      if (a !== null) lo = Math.min(lo, a - Number(s.travel_min || 0));
      if (st !== null) hi = Math.max(hi, st + Number((s.work_order && s.work_order.duration_min) || 0));
    }
  }
  return [Math.max(0, Math.floor(lo / 60) * 60), Math.min(24 * 60, Math.ceil(hi / 60) * 60)];
}

function renderTimeline() {
  const rows = B.data.engineers || [];
  const [lo, hi] = span(rows);
  const pct = (m) => `${((Math.min(hi, Math.max(lo, m)) - lo) / (hi - lo)) * 100}%`;
  const width = (a, b) => `${(Math.max(0, Math.min(hi, b) - Math.max(lo, a)) / (hi - lo)) * 100}%`;
  const hours = [];
  for (let m = lo; m <= hi; m += 60) hours.push(m);
  const scale = h("div", { class: "dp-row dp-scale", "aria-hidden": "true" },
    h("div", { class: "dp-who" }),
    h("div", { class: "dp-track" }, hours.map((m) => h("span", { class: "dp-hour", dataset: { left: pct(m) } }, `${String(m / 60).padStart(2, "0")}:00`))));
  if (!rows.length) { fill($("#timeline"), scale, h("p", { class: "muted" }, t("dp_no_engineers"))); positionAll(); return; }
  const body = rows.map((row, i) => {
    const id = engineerId(row);
    const plan = row.plan || { stops: [], unplanned: [] };
    const colour = COLOURS[i % COLOURS.length];
    const onDuty = row.on_duty !== false;
    const stops = plan.stops || [];
    const unplanned = plan.unplanned || [];
    const track = h("div", { class: "dp-track" },
      hours.map((m) => h("span", { class: "dp-grid", dataset: { left: pct(m) } })),
      stops.flatMap((s) => {
        const wo = s.work_order || {};
        const arrive = minutesOf(s.arrival);
        const start = minutesOf(s.start);
        if (arrive === null || start === null) return [];
        const travel = Number(s.travel_min || 0);
        const end = start + Number(wo.duration_min || 0);
        const title = `${s.seq}. ${woNumber(wo)} · ${hhmm(s.start)}–${clockOf(end)} · ${wo.address || ""}`;
        return [
          travel > 0 ? h("span", { class: "dp-travel", dataset: { left: pct(arrive - travel), width: width(arrive - travel, arrive) } }) : null,
          start > arrive ? h("span", { class: "dp-wait", dataset: { left: pct(arrive), width: width(arrive, start) } }) : null,
          h("span", {
            class: `dp-stop p-${wo.priority || "normal"} st-${wo.status || "assigned"}`, draggable: "true", tabindex: "0",
            title, dataset: { wo: String(wo.id), left: pct(start), width: width(start, end), colour },
            ondragstart: (ev) => { ev.stopPropagation(); dragPayload(ev, wo, id); },
            ondragend: () => document.body.classList.remove("dragging"),
          }, h("b", {}, String(s.seq)), " ", shortNumber(wo)),
        ];
      }));
    const who = h("div", { class: "dp-who" },
      h("button", { type: "button", class: "dp-name", title: t("dp_show_on_map"), onclick: () => focusEngineer(row) },
        h("span", { class: "dp-dot", dataset: { colour } }), personName(row.engineer)),
      h("span", { class: `badge ${onDuty ? "ok" : "bad"}` }, onDuty ? t("dp_on_duty") : t("dp_off_duty")),
      h("span", { class: "muted dp-sum" }, tf(stops.length === 1 ? "dp_stops_one" : "dp_stops", { n: stops.length, m: Math.round(Number(plan.travel_min || 0)) })),
      unplanned.length
        ? h("span", { class: "badge bad", title: unplanned.map((u) => `${woNumber(u.work_order || {})}: ${reasonText(u.reason)}`).join("\n") },
          tf("dp_unplanned_n", { n: unplanned.length }))
        : null);
    return h("div", {
      class: `dp-row${onDuty ? "" : " off"}`, role: "listitem", dataset: { engineer: String(id) },
      ondragover: (ev) => { ev.preventDefault(); ev.dataTransfer.dropEffect = "move"; ev.currentTarget.classList.add("drop"); },
      ondragleave: (ev) => ev.currentTarget.classList.remove("drop"),
      ondrop: (ev) => {
        ev.preventDefault();
        ev.currentTarget.classList.remove("drop");
        document.body.classList.remove("dragging");
        let payload = null;
        try { payload = JSON.parse(ev.dataTransfer.getData("text/plain")); } catch { return; }
        if (!payload || !payload.wo || payload.from === id) return;
        const wo = findOrder(payload.wo);
        if (wo) openAssign(wo, row, payload.from);
      },
    }, who, track);
  });
  fill($("#timeline"), scale, body);
  positionAll();
}

/** Blocks carry their place in data-left / data-width (percentages): set as CSSOM styles
 * (the page's CSP allows no inline style attributes in markup). */
function positionAll() {
  for (const el of document.querySelectorAll("#timeline [data-left]")) {
    el.style.left = el.dataset.left;
    if (el.dataset.width) el.style.width = el.dataset.width;
    if (el.dataset.colour) el.style.setProperty("--c", el.dataset.colour);
  }
  for (const el of document.querySelectorAll("#timeline .dp-dot")) el.style.background = el.dataset.colour;
}

function findOrder(id) {
  const n = Number(id);
  const un = (B.data.unassigned || []).find((w) => w.id === n);
  if (un) return un;
  for (const row of B.data.engineers || []) {
    for (const s of (row.plan && row.plan.stops) || []) if (s.work_order && s.work_order.id === n) return s.work_order;
    for (const u of (row.plan && row.plan.unplanned) || []) if (u.work_order && u.work_order.id === n) return u.work_order;
  }
  return null;
}

// --------------------------------------------------------------------------- assigning

function candidateLine(c, { target = null, pick = null } = {}) {
  const e = c.engineer || {};
  const figures = [
    c.distance_km !== null && c.distance_km !== undefined ? tf("dp_km", { n: Number(c.distance_km).toFixed(1) }) : null,
    c.travel_min !== null && c.travel_min !== undefined ? tf("dp_duration", { n: Math.round(c.travel_min) }) : null,
  ].filter(Boolean).join(" · ");
  return h("li", { class: `dp-cand${target && e.id === target ? " target" : ""}`, dataset: { engineer: String(e.id) } },
    h("div", {}, h("strong", {}, personName(e)), figures ? h("span", { class: "muted" }, ` ${figures}`) : null,
      pick ? h("button", { type: "button", class: "small", onclick: () => pick(e) }, t("dp_assign_here")) : null),
    (c.reasons || []).length ? h("ul", { class: "dp-reasons" }, c.reasons.map((r) => h("li", {}, reasonText(r)))) : null);
}

/** The dialog: for a drop on `row` (an engineer), where the ranking puts them and why; for
 * the "candidates" button (no row), the ranking with an assign button per candidate. */
async function openAssign(wo, row, fromId) {
  const dialog = $("#assign");
  const targetId = row ? engineerId(row) : null;
  B.pending = { wo, engineer: row ? row.engineer : null, fromId };
  $("#assign-title").textContent = row
    ? tf("dp_assign_to", { order: woNumber(wo), name: personName(row.engineer) })
    : tf("dp_pick", { order: woNumber(wo) });
  $("#assign-order").textContent = [windowText(wo), wo.address || "", (wo.required_skills || []).join(", ")].filter(Boolean).join(" · ");
  $("#assign-confirm").hidden = !row;
  dialog.returnValue = ""; // Escape closes without setting it
  fill($("#assign-body"), h("p", { class: "muted" }, t("loading")));
  if (!dialog.open) dialog.showModal();
  let ranking = null;
  try { ranking = await api("GET", `work_orders/${wo.id}/candidates`); } catch (err) {
    if (B.pending && B.pending.wo === wo) fill($("#assign-body"), h("p", { class: "muted" }, t("dp_no_ranking"), " ", h("small", {}, describeError(err).detail)));
    return;
  }
  if (!B.pending || B.pending.wo !== wo) return; // closed or another drop meanwhile
  const ranked = ranking.ranked || [];
  const refused = ranking.refused || [];
  const pick = row ? null : (e) => { dialog.close("cancel"); assign(wo, { engineer_id: e.id }, e, fromId); };
  const parts = [];
  if (row) {
    const at = ranked.findIndex((c) => c.engineer && c.engineer.id === targetId);
    const no = refused.find((c) => c.engineer && c.engineer.id === targetId);
    if (at >= 0) parts.push(h("p", { class: "dp-verdict ok" }, tf("dp_rank", { rank: at + 1, n: ranked.length })), h("ul", { class: "dp-cands" }, candidateLine(ranked[at], { target: targetId })));
    else if (no) parts.push(h("p", { class: "dp-verdict bad" }, `${t("dp_refused")} — ${t("dp_override")}`), h("ul", { class: "dp-cands" }, candidateLine(no, { target: targetId })));
  }
  if (ranked.length) {
    parts.push(h("h3", {}, t("dp_ranking")), h("ol", { class: "dp-cands" }, ranked.slice(0, 5).map((c) => candidateLine(c, { target: targetId, pick }))));
  } else {
    parts.push(h("p", { class: "muted" }, t("dp_nobody_fits")));
  }
  if (!row && refused.length) {
    parts.push(h("details", {}, h("summary", {}, `${t("dp_refused")} (${refused.length})`),
      h("ul", { class: "dp-cands" }, refused.map((c) => candidateLine(c, { pick })))));
  }
  fill($("#assign-body"), parts);
}

function onAssignClosed() {
  const dialog = $("#assign");
  const p = B.pending;
  B.pending = null;
  if (!p) return;
  if (dialog.returnValue === "confirm" && p.engineer) assign(p.wo, { engineer_id: p.engineer.id }, p.engineer, p.fromId);
  else if (dialog.returnValue === "auto") assign(p.wo, { auto: true }, null, p.fromId);
}

async function assign(wo, body, engineer = null, fromId = null) {
  let out;
  try {
    out = await api("POST", `work_orders/${wo.id}/assign`, body);
  } catch (err) { fail(t("dp_assign_failed"), err); return; }
  const to = (out && out.engineer) || engineer;
  toast(tf("dp_assigned_ok", { order: woNumber(wo), name: personName(to) }));
  // re-plan the engineers concerned, so the order takes its place in the day
  const ids = [...new Set([to && to.id, fromId].filter((x) => x !== null && x !== undefined))];
  await Promise.all(ids.map((id) => api("POST", `engineers/${id}/plan${B.date ? `?date=${encodeURIComponent(B.date)}` : ""}`).catch(() => null)));
  await load();
}

// --------------------------------------------------------------------------- map

function tilesUrl() {
  const meta = document.querySelector('meta[name="hotline-map-tiles"]');
  return (meta && meta.content) || "";
}

function initMap() {
  if (!window.L) { $("#map-note").textContent = t("dp_no_map"); return; }
  const L = window.L;
  const tiles = tilesUrl();
  B.map = L.map("map", { attributionControl: Boolean(tiles), zoomSnap: 0.5, preferCanvas: false }).setView(SHANGHAI, 11);
  if (tiles) L.tileLayer(tiles, { maxZoom: 19, subdomains: "abc" }).addTo(B.map);
  else { $("#map").classList.add("no-tiles"); $("#map-note").textContent = t("dp_no_tiles"); }
  L.control.scale({ imperial: false }).addTo(B.map);
  B.layers = L.layerGroup().addTo(B.map);
  // Until the user moves the map, it keeps the whole day in view, also when its panel
  // changes size (the timeline above grows with the engineers' rows).
  const mine = () => { B.autoFit = false; };
  B.map.on("dragstart", mine);
  for (const type of ["wheel", "dblclick"]) $("#map").addEventListener(type, mine, { passive: true });
  $("#map .leaflet-control-zoom").addEventListener("click", mine);
  new ResizeObserver(() => {
    B.map.invalidateSize({ pan: false });
    if (B.autoFit && B.bounds.length) fitDay();
  }).observe($("#map"));
}

function tip(...lines) {
  return h("div", { class: "dp-tip" }, lines.filter(Boolean).map((l, i) => (i ? h("div", {}, l) : h("strong", {}, l))));
}

function renderMap() {
  if (!B.map) return;
  const L = window.L;
  B.layers.clearLayers();
  const bounds = [];
  const idle = [];
  (B.data.engineers || []).forEach((row, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const stops = ((row.plan && row.plan.stops) || []).filter((s) => hasPos(s.work_order));
    const path = [];
    if (hasPos(row.position)) {
      const ll = [Number(row.position.lat), Number(row.position.lon)];
      path.push(ll);
      (stops.length ? bounds : idle).push(ll);
      L.circleMarker(ll, { radius: 9, color: "#fff", weight: 2, fillColor: colour, fillOpacity: row.on_duty === false ? 0.35 : 1 })
        .bindTooltip(tip(personName(row.engineer), row.on_duty === false ? t("dp_off_duty") : t("dp_on_duty"),
          row.position.source === "base" ? t("dp_base") : t("dp_position")))
        .addTo(B.layers);
    }
    for (const s of stops) {
      const wo = s.work_order;
      const ll = [Number(wo.lat), Number(wo.lon)];
      path.push(ll);
      bounds.push(ll);
      L.marker(ll, { icon: L.divIcon({ className: "dp-pin", html: h("span", { class: "dp-pin-n" }, String(s.seq)), iconSize: [20, 20] }), keyboard: false })
        .bindTooltip(tip(`${s.seq}. ${woNumber(wo)}`, `${hhmm(s.start)} · ${personName(row.engineer)}`, wo.address))
        .addTo(B.layers)
        .getElement()?.style.setProperty("--c", colour);
    }
    if (path.length > 1) L.polyline(path, { color: colour, weight: 3, opacity: 0.8 }).addTo(B.layers);
  });
  for (const wo of B.data.unassigned || []) {
    if (!hasPos(wo)) continue;
    const ll = [Number(wo.lat), Number(wo.lon)];
    bounds.push(ll);
    L.circleMarker(ll, { radius: 7, color: wo.priority === "urgent" || wo.priority === "high" ? "#c62828" : "#555", weight: 2, fillColor: "#fff", fillOpacity: 1, dashArray: "2 2" })
      .bindTooltip(tip(woNumber(wo), `${t("dp_unassigned_one")} · ${tOr("p_", wo.priority || "normal")}`, windowText(wo), wo.address))
      .addTo(B.layers);
  }
  // the view frames the day's work (visits, waiting orders, the engineers on the road);
  // engineers with nothing that day only when there is no work to show
  if (!bounds.length) bounds.push(...idle);
  B.bounds = bounds;
  if ((!B.fitted || B.autoFit) && bounds.length) {
    fitDay();
    B.fitted = true;
  }
}

/** Frame the day (Leaflet caches the container's size: measure it again first, and jump
 * rather than animate, so a resize in between cannot leave a half-done view). */
function fitDay() {
  B.map.invalidateSize({ pan: false });
  B.map.fitBounds(B.bounds, { padding: [24, 24], maxZoom: 14, animate: false });
}

function focusEngineer(row) {
  if (!B.map) return;
  const pts = [];
  if (hasPos(row.position)) pts.push([Number(row.position.lat), Number(row.position.lon)]);
  for (const s of (row.plan && row.plan.stops) || []) if (hasPos(s.work_order)) pts.push([Number(s.work_order.lat), Number(s.work_order.lon)]);
  if (pts.length) B.map.fitBounds(pts, { padding: [30, 30], maxZoom: 15 });
}

// --------------------------------------------------------------------------- start

function onMessage(msg) {
  const type = String(msg.type || "");
  if (type.startsWith("work_order") || type.startsWith("engineer") || type.startsWith("dispatch")) scheduleReload();
}

async function main() {
  applyStatic();
  const prefs = mountPrefs($("#prefs-slot"));
  $("#lang-slot").appendChild(langSwitch(() => {
    applyStatic();
    prefs.relabel();
    render();
    if (document.body.dataset.ws) showConnection(document.body.dataset.ws);
    if (!B.map || !tilesUrl()) $("#map-note").textContent = B.map ? t("dp_no_tiles") : t("dp_no_map");
    rememberLocale();
  }));
  $("#logout").addEventListener("click", logout);
  $("#reload").addEventListener("click", () => load());
  $("#day").addEventListener("change", (ev) => {
    B.date = ev.target.value || null;
    B.fitted = false;
    B.autoFit = true;
    history.replaceState(null, "", B.date ? `/dispatch?date=${B.date}` : "/dispatch");
    load();
  });
  const asked = new URLSearchParams(location.search).get("date"); // a bookmarked day
  if (/^\d{4}-\d{2}-\d{2}$/.test(asked || "")) B.date = asked;
  $("#assign").addEventListener("close", onAssignClosed);
  B.me = await api("GET", "auth/me");
  $("#me").textContent = B.me.display_name || B.me.username;
  rememberLocale(B.me.locale);
  document.documentElement.dataset.lang = getLang();
  initMap();
  await load();
  // orders nobody holds yet send no message: re-read now and then while the board is seen
  setInterval(() => { if (!document.hidden && !B.pending) load(); }, 30000);
  let wasOnline = false;
  new HubSocket(onMessage, (st) => {
    showConnection(st);
    if (st === "online" && wasOnline === "lost") load(); // back after a drop: resynchronise
    if (st === "online") wasOnline = true;
    else if (wasOnline) wasOnline = "lost";
  }).connect();
}

main();
