// Ticket lists: "my tickets", the group queue, tickets nobody owns ("unassigned") and all
// tickets with filters (status, priority, type, group, assignee, created date range, search).
// A list shows a page of PAGE rows; "load more" appends the next page (offset = rows received
// so far) until the server's total is reached. A new query (tab opened, filter changed,
// refresh) starts again at one page; a live refresh (a ticket changed, language switch) keeps
// as many rows as were loaded.
import { api, items } from "../api.js";
import { $, fill, fmtTime, h } from "../dom.js";
import { getLang, t, tOr, tf } from "../i18n.js";
import { openTicket } from "./detail.js";
import { PRIORITIES, S, STATUSES, fail, nameOf, options, userLabel, userName } from "./state.js";
import { isBreached, slaBadge } from "./sla.js";

const PAGE = 50;
const API_MAX_LIMIT = 200; // GET /api/v1/tickets caps limit at 200
const KEEP_MAX = 1000; // a live refresh reloads at most this many rows
/** Roles that may see every ticket (the console's own roles; the API agrees). */
const SEE_ALL = new Set(["agent", "supervisor", "admin"]);

export const LIST_TABS = ["mine", "queue", "unassigned", "all"];
export const mayListAll = () => !!S.me && SEE_ALL.has(S.me.role);

const listSeq = Object.fromEntries(LIST_TABS.map((w) => [w, 0]));
/** The filters of each list, as the agent set them. */
const listState = {
  mine: { status: "", q: "" },
  queue: { status: "", q: "", group: "" },
  unassigned: { status: "open", q: "" },
  all: { status: "", q: "", priority: "", type: "", group: "", assignee: "", from: "", to: "" },
};
/** What each list shows: {params, ids, offset, total, tbody, more, count, loading}. */
const lists = Object.fromEntries(LIST_TABS.map((w) => [w, null]));

/** A yyyy-mm-dd from a date input as the instant the local day starts (plus days). */
function dayStart(value, plusDays = 0) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plusDays).toISOString();
}

function listParams(which) {
  const st = listState[which];
  const params = new URLSearchParams();
  if (which === "mine") params.set("assignee", "me");
  if (which === "queue") {
    const gid = st.group || (S.me.group_ids && S.me.group_ids[0]) || "";
    if (gid) params.set("group_id", String(gid));
  }
  if (which === "unassigned") params.set("unassigned", "true");
  if (which === "all") {
    for (const key of ["priority", "type"]) if (st[key]) params.set(key, st[key]);
    if (st.group) params.set("group_id", st.group);
    if (st.assignee) params.set("assignee", st.assignee);
    if (st.from) params.set("created_from", dayStart(st.from));
    if (st.to) params.set("created_to", dayStart(st.to, 1)); // the whole "to" day
  }
  if (st.status) params.set("status", st.status);
  if (st.q) params.set("q", st.q);
  return params;
}

/** One page of tickets: {rows, total}. A bare-array answer counts as complete. */
async function fetchTickets(params, offset, limit) {
  const p = new URLSearchParams(params);
  p.set("limit", String(limit));
  p.set("offset", String(offset));
  const data = await api("GET", `tickets?${p}`);
  const rows = items(data);
  const total = data && !Array.isArray(data) && Number.isFinite(data.total) ? data.total : offset + rows.length;
  return { rows, total };
}

function ticketRow(tk) {
  const tr = h("tr", { tabindex: 0, class: "clickable", dataset: { id: tk.id } },
    h("td", {}, h("code", {}, tk.number)), h("td", {}, tk.title),
    h("td", {}, h("span", { class: `badge s-${tk.status}` }, tOr("s_", tk.status))),
    h("td", {}, tOr("p_", tk.priority)),
    h("td", {}, tk.assignee_id ? userName(tk.assignee_id) : t("unassigned")),
    h("td", {}, fmtTime(tk.due_at, getLang()), " ", slaBadge(tk)),
    h("td", {}, fmtTime(tk.updated_at, getLang())));
  if (isBreached(tk)) tr.classList.add("breached");
  tr.addEventListener("click", () => openTicket(tk.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") openTicket(tk.id); });
  return tr;
}

/** Show the list's "N of TOTAL" and the load-more button while rows remain. */
function renderListMore(which) {
  const L = lists[which];
  if (!L || !L.count) return;
  const shown = L.ids.size;
  L.count.textContent = tf("list_count", { n: shown, total: Math.max(L.total, shown) });
  const more = !L.exhausted && L.offset < L.total;
  if (!more) { if (L.more) L.more.remove(); L.more = null; return; }
  if (!L.more) {
    L.more = h("button", { type: "button", class: "load-more", dataset: { hk: "more" }, onclick: () => loadMore(which) });
    L.count.after(L.more);
  }
  // Not disabled while loading: a disabled button would drop the keyboard focus.
  L.more.setAttribute("aria-busy", String(!!L.loading));
  L.more.textContent = L.loading ? t("loading") : t("load_more");
}

/** A filter control bound to listState[which][key]: changing it reloads the list. */
function filterSelect(which, key, list, blank, label, value = listState[which][key]) {
  const st = listState[which];
  const sel = options(list, value, blank);
  sel.name = key;
  sel.setAttribute("aria-label", label);
  sel.addEventListener("change", () => { st[key] = sel.value; loadList(which); });
  return sel;
}

function dateFilter(which, key, label) {
  const st = listState[which];
  const input = h("input", { type: "date", name: key, value: st[key], "aria-label": label, title: label });
  input.addEventListener("change", () => { st[key] = input.value; loadList(which); });
  return h("label", { class: "inline date-filter" }, h("span", {}, label), input);
}

function filterForm(which) {
  const st = listState[which];
  const statuses = [["open", t("open_status")], ...STATUSES.map((s) => [s, t(`s_${s}`)])];
  const mineGroups = S.groups.filter((g) => !S.me.group_ids || !S.me.group_ids.length || S.me.group_ids.includes(g.id));
  const staff = S.users.filter((u) => u.role !== "customer");
  const form = h("form", { class: "row filters" },
    which === "queue" ? filterSelect(which, "group", mineGroups.map((g) => [g.id, nameOf(g)]), undefined, t("group"),
      st.group || (S.me.group_ids || [])[0]) : null,
    filterSelect(which, "status", statuses, t("all_status"), t("status")),
    which === "all" ? [
      filterSelect(which, "priority", PRIORITIES.map((p) => [p, t(`p_${p}`)]), t("all_priorities"), t("priority")),
      filterSelect(which, "type", S.types.map((x) => [x.key, nameOf(x)]), t("all_types"), t("type")),
      filterSelect(which, "group", S.groups.map((g) => [g.id, nameOf(g)]), t("all_groups"), t("group")),
      filterSelect(which, "assignee", staff.map((u) => [u.id, userLabel(u)]), t("anyone"), t("assignee")),
      dateFilter(which, "from", t("created_from")), dateFilter(which, "to", t("created_to")),
    ] : null,
    h("input", { type: "search", name: "q", value: st.q, placeholder: t("search"), "aria-label": t("search") }),
    h("button", { type: "submit" }, t("refresh")));
  form.addEventListener("submit", (e) => { e.preventDefault(); st.q = form.elements.q.value.trim(); loadList(which); });
  return form;
}

async function fetchRows(which, params, want) {
  const seq = listSeq[which];
  const rows = [];
  const ids = new Set();
  let offset = 0;
  let total = 0;
  let exhausted = false;
  do {
    const page = await fetchTickets(params, offset, Math.min(API_MAX_LIMIT, want - rows.length));
    if (seq !== listSeq[which]) return null; // a newer load (filter change) is under way
    offset += page.rows.length;
    total = page.total;
    for (const tk of page.rows) if (!ids.has(tk.id)) { ids.add(tk.id); rows.push(tk); }
    if (!page.rows.length) exhausted = true;
  } while (!exhausted && rows.length < want && offset < total);
  return { rows, ids, offset, total, exhausted };
}

export async function loadList(which, { keep = false } = {}) {
  if (which === "all" && !mayListAll()) return;
  const box = $(`#tab-${which}`);
  const params = listParams(which);
  const prev = lists[which];
  // A live refresh of the same query keeps what was loaded, focus and scroll included.
  const same = keep && prev && prev.params === params.toString();
  const want = same ? Math.min(KEEP_MAX, Math.max(PAGE, prev.ids.size)) : PAGE;
  const active = document.activeElement;
  const focusId = same && box.contains(active) ? (active.dataset.hk ? `hk:${active.dataset.hk}` : active.dataset.id) : null;
  const scroll = same ? box.scrollTop : 0;
  const oldQ = same ? $("input[name=q]", box) : null; // search text typed but not yet submitted
  const filters = filterForm(which);
  const seq = ++listSeq[which];
  let got = { rows: [], ids: new Set(), offset: 0, total: 0, exhausted: true };
  try {
    const answer = await fetchRows(which, params, want);
    if (!answer) return;
    got = answer;
  } catch (err) { fail(err); }
  if (seq !== listSeq[which]) return;
  if (oldQ) filters.elements.q.value = oldQ.value;
  const L = { params: params.toString(), ids: got.ids, offset: got.offset, total: got.total,
    exhausted: got.exhausted, tbody: null, more: null, count: null, loading: false };
  lists[which] = L;
  if (!got.rows.length) { fill(box, filters, h("p", { class: "muted" }, t("empty"))); return; }
  L.tbody = h("tbody", {}, got.rows.map(ticketRow));
  const heads = [t("number"), t("title"), t("status"), t("priority"), t("assignee"), t("due"), t("updated")];
  const table = h("div", { class: "table-scroll" }, h("table", { class: "list" },
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))), L.tbody));
  L.count = h("span", { class: "list-count muted", role: "status", "aria-live": "polite", tabindex: -1 });
  fill(box, filters, table, h("div", { class: "row list-more" }, L.count));
  renderListMore(which);
  if (same) restoreView(box, filters, { scroll, focusId, oldQ, active });
}

function restoreView(box, filters, { scroll, focusId, oldQ, active }) {
  box.scrollTop = scroll;
  const back = focusId && (focusId.startsWith("hk:")
    ? $(`[data-hk="${focusId.slice(3)}"]`, box) : $(`tr[data-id="${CSS.escape(focusId)}"]`, box));
  if (back) back.focus({ preventScroll: true });
  else if (oldQ && active === oldQ) {
    filters.elements.q.focus({ preventScroll: true });
    filters.elements.q.setSelectionRange(oldQ.selectionStart, oldQ.selectionEnd);
  }
}

/** Append the next page; keyboard focus moves to the first new row. */
async function loadMore(which) {
  const L = lists[which];
  if (!L || L.loading || !L.tbody) return;
  const seq = listSeq[which];
  const hadFocus = !!L.more && document.activeElement === L.more;
  L.loading = true;
  renderListMore(which);
  let page = null;
  try { page = await fetchTickets(new URLSearchParams(L.params), L.offset, PAGE); } catch (err) { fail(err); }
  if (seq !== listSeq[which] || lists[which] !== L) return; // the list was reloaded meanwhile
  L.loading = false;
  let first = null;
  if (page) {
    L.offset += page.rows.length;
    L.total = page.total;
    if (!page.rows.length) L.exhausted = true;
    const fresh = page.rows.filter((tk) => !L.ids.has(tk.id)); // rows shifted by new tickets
    for (const tk of fresh) L.ids.add(tk.id);
    const trs = fresh.map(ticketRow);
    L.tbody.append(...trs);
    first = trs[0] || null;
  }
  renderListMore(which);
  if (first && hadFocus) first.focus();
  else if (hadFocus && L.more) L.more.focus();
  else if (hadFocus) L.count.focus();
}

/** Live refresh of the list on screen; a burst of ticket events makes one reload. */
let refreshTimer = null;
export function refreshListSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (LIST_TABS.includes(S.tab)) loadList(S.tab, { keep: true }); }, 200);
}
