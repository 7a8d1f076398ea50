// The routing rules page (/admin/routing): the rules in the order they run (enable toggles,
// drag or arrows to reorder → PUT rules-order), a form per rule with a condition builder
// (groups of field/op/value rows, "all"/"any" at both levels; the fields and operators of
// tickets/routing/conditions.py; a value input that fits the field's kind) and a list of
// actions, and a dry run on a ticket number or a sample. Admins edit; supervisors read and
// dry-run (the server enforces this; the page only hides what would be refused). A 422
// names the part it is about ("conditions.all[0].any[1].value: …"): the message is shown
// next to the row carrying that path. Outside text only ever goes in through h()/textContent.
import { ApiError, api, items, logout } from "./api.js";
import { $, fill, h } from "./dom.js";
import { describeError } from "./errors.js";
import { applyStatic, getLang, langSwitch, t, tOr } from "./i18n.js";
import { rememberLocale } from "./notifyprefs.js";
import { ACTIONS, FIELDS, OPS, describeChange, dryRunLine, fieldLabel, namer, opLabel, reasonText } from "./routingwords.js";

const PRIORITIES = ["urgent", "high", "normal", "low"];
const CHANNELS = ["phone", "email", "web", "ivr", "api"];
const STATUSES = ["new", "assigned", "in_progress", "pending_customer", "resolved", "closed", "cancelled"];

const P = { me: null, rules: [], groups: [], users: [], types: [], editing: null, dryOut: null };
const isAdmin = () => P.me && P.me.role === "admin";
const names = () => namer(P.groups, P.users, getLang());
const nameOf = (o) => (getLang() === "zh" && o.name_zh) || o.name || o.key;
const list = (s) => String(s || "").split(/[,，;；]/).map((x) => x.trim()).filter(Boolean);

function toast(text, kind = "info", detail = "") {
  const el = $("#toast");
  fill(el, text, detail ? h("small", { class: "detail" }, detail) : null);
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3500);
}
function fail(err, what) {
  const { headline, detail } = describeError(err);
  toast(what ? `${what}: ${headline}` : headline, "error", detail);
}

/** A <select> of [value, label] pairs; blank adds an empty first option. */
function select(pairs, value, blank) {
  const sel = h("select", {}, blank !== undefined ? h("option", { value: "" }, blank) : null,
    pairs.map(([v, label]) => h("option", { value: String(v) }, label)));
  if (value !== undefined && value !== null) sel.value = String(value);
  return sel;
}

// --- the list ---------------------------------------------------------------------------------

function renderRules() {
  const admin = isAdmin();
  fill($("#rules"), P.rules.length ? P.rules.map((r, i) => {
    const li = h("li", { class: `rule-item${r.enabled ? "" : " off"}${P.editing && P.editing.id === r.id ? " editing" : ""}`,
      dataset: { id: r.id }, draggable: admin ? "true" : null },
    h("span", { class: "rule-pos", "aria-hidden": "true" }, admin ? "⋮⋮ " : "", String(i + 1)),
    h("label", { class: "inline rule-enabled", title: t("rule_enabled") },
      h("input", { type: "checkbox", checked: r.enabled, disabled: !admin, "aria-label": `${t("rule_enabled")}: ${r.name}`,
        onchange: (e) => toggle(r, e.target.checked) })),
    h("span", { class: "rule-name" }, r.name,
      r.stop ? h("span", { class: "badge" }, t("stops")) : null,
      h("small", { class: "muted" }, ` · ${r.triggers.map((x) => tOr("trig_", x)).join(" / ")}`)),
    h("span", { class: "rule-buttons" },
      admin ? h("button", { type: "button", class: "small", "aria-label": `${t("move_up")}: ${r.name}`, title: t("move_up"), disabled: i === 0, onclick: () => move(i, i - 1) }, "↑") : null,
      admin ? h("button", { type: "button", class: "small", "aria-label": `${t("move_down")}: ${r.name}`, title: t("move_down"), disabled: i === P.rules.length - 1, onclick: () => move(i, i + 1) }, "↓") : null,
      h("button", { type: "button", class: "small", onclick: () => edit(r) }, admin ? t("edit") : t("open"))));
    if (admin) {
      li.addEventListener("dragstart", (e) => { e.dataTransfer.setData("text/plain", String(i)); li.classList.add("dragging"); });
      li.addEventListener("dragend", () => li.classList.remove("dragging"));
      li.addEventListener("dragover", (e) => { e.preventDefault(); li.classList.add("drop"); });
      li.addEventListener("dragleave", () => li.classList.remove("drop"));
      li.addEventListener("drop", (e) => { e.preventDefault(); li.classList.remove("drop"); move(Number(e.dataTransfer.getData("text/plain")), i); });
    }
    return li;
  }) : h("li", { class: "muted" }, t("no_rules")));
}

async function loadRules() {
  P.rules = items(await api("GET", "routing/rules"));
  renderRules();
}

async function toggle(rule, enabled) {
  try {
    const saved = await api("PATCH", `routing/rules/${rule.id}`, { enabled, version: rule.version });
    Object.assign(rule, saved);
    toast(t("rule_saved"));
  } catch (err) { fail(err, t("rule_enabled")); await loadRules(); }
  renderRules();
}

async function move(from, to) {
  if (from === to || to < 0 || to >= P.rules.length || Number.isNaN(from)) return;
  const ids = P.rules.map((r) => r.id);
  const [id] = ids.splice(from, 1);
  ids.splice(to, 0, id);
  try {
    P.rules = items(await api("PUT", "routing/rules-order", { ids }));
    toast(t("order_saved"));
  } catch (err) { fail(err, t("drag_hint")); await loadRules(); }
  renderRules();
  const btn = $(`#rules li[data-id="${id}"] .rule-buttons button`);
  if (btn && document.activeElement === document.body) btn.focus();
}

// --- the editor -------------------------------------------------------------------------------

/** The builder's model of a condition: {mode, groups: [{mode, rows: [leaf]}]}, or null when
 * the JSON does not fit that shape (a `not`, deeper nesting): then it is edited as JSON. */
function toModel(cond) {
  const isLeaf = (c) => c && typeof c === "object" && "field" in c;
  const modeOf = (c) => (c && Array.isArray(c.all) ? "all" : c && Array.isArray(c.any) ? "any" : null);
  if (!cond || (modeOf(cond) && !cond[modeOf(cond)].length)) return { mode: "all", groups: [] };
  if (isLeaf(cond)) return { mode: "all", groups: [{ mode: "all", rows: [cond] }] };
  const top = modeOf(cond);
  if (!top) return null;
  const parts = cond[top];
  if (parts.every(isLeaf)) return { mode: "all", groups: [{ mode: top, rows: parts }] };
  if (parts.every((p) => isLeaf(p) || (modeOf(p) && p[modeOf(p)].every(isLeaf)))) {
    return { mode: top, groups: parts.map((p) => (isLeaf(p) ? { mode: "all", rows: [p] } : { mode: modeOf(p), rows: p[modeOf(p)] })) };
  }
  return null;
}

/** The value input for a field and operator; returns {el, read()} (read gives the JSON value). */
function valueInput(field, op, value) {
  const kind = FIELDS[field];
  if (op === "is_set" || op === "is_not_set") return { el: h("span", { class: "muted" }, "—"), read: () => undefined };
  const pick = (pairs) => {
    if (op === "in" || op === "not_in") {
      const have = new Set(Array.isArray(value) ? value.map(String) : []);
      const boxes = pairs.map(([v, label]) => h("label", { class: "inline chip" }, h("input", { type: "checkbox", value: String(v), checked: have.has(String(v)) }), label));
      const el = h("span", { class: "checks" }, boxes);
      return { el, read: () => boxes.map((b) => b.firstChild).filter((x) => x.checked).map((x) => (kind === "weekday" ? Number(x.value) : x.value)) };
    }
    const sel = select(pairs, typeof value === "string" ? value : pairs[0] && pairs[0][0]);
    sel.setAttribute("aria-label", t("values_hint"));
    return { el: sel, read: () => sel.value };
  };
  if (kind === "priority") return pick(PRIORITIES.map((p) => [p, tOr("p_", p)]));
  if (kind === "weekday") return pick([1, 2, 3, 4, 5, 6, 7].map((d) => [d, t(`wd_${d}`)]));
  if (kind === "time") {
    const [a, b] = Array.isArray(value) ? value : ["09:00", "18:00"];
    const from = h("input", { type: "time", value: a, required: true, "aria-label": t("time_from") });
    const to = h("input", { type: "time", value: b, required: true, "aria-label": t("time_to") });
    return { el: h("span", { class: "time-range" }, t("time_from"), " ", from, " ", t("time_to"), " ", to), read: () => [from.value.slice(0, 5), to.value.slice(0, 5)] };
  }
  if (kind === "value" && (op === "eq" || op === "ne" || op === "in" || op === "not_in")) {
    const known = { type: P.types.map((x) => [x.key, nameOf(x)]), channel: CHANNELS.map((c) => [c, tOr("ch_", c)]),
      status: STATUSES.map((s) => [s, tOr("s_", s)]), group: P.groups.map((g) => [g.key, nameOf(g)]),
      assignee: P.users.filter((u) => u.role !== "customer").map((u) => [u.username, u.display_name || u.username]) }[field];
    if (known && known.length) return pick(known);
  }
  // text keywords, tag lists, free values: a comma-separated list (one value for eq/ne)
  const single = op === "eq" || op === "ne";
  const input = h("input", { type: "text", value: Array.isArray(value) ? value.join(", ") : value || "", maxlength: 2000,
    placeholder: single ? "" : t("values_hint"), "aria-label": single ? fieldLabel(field) : `${fieldLabel(field)} (${t("values_hint")})` });
  return { el: input, read: () => (single ? input.value.trim() : list(input.value)) };
}

function conditionRow(leaf, onRemove) {
  const row = h("div", { class: "cond-row" });
  const fieldSel = select(Object.keys(FIELDS).map((f) => [f, fieldLabel(f)]), leaf.field || "text");
  fieldSel.setAttribute("aria-label", t("conditions"));
  fieldSel.name = "cond_field";
  const opSlot = h("span");
  const valSlot = h("span", { class: "cond-value" });
  const err = h("span", { class: "field-error", role: "alert" });
  let opSel; let val;
  const drawOps = (op, value) => {
    const ops = OPS[FIELDS[fieldSel.value]];
    opSel = select(ops.map((o) => [o, opLabel(o)]), ops.includes(op) ? op : ops[0]);
    opSel.name = "cond_op";
    opSel.setAttribute("aria-label", opLabel(opSel.value));
    opSel.addEventListener("change", () => drawValue(undefined));
    fill(opSlot, opSel);
    drawValue(value);
  };
  const drawValue = (value) => { val = valueInput(fieldSel.value, opSel.value, value); fill(valSlot, val.el); };
  fieldSel.addEventListener("change", () => drawOps(undefined, undefined));
  drawOps(leaf.op, leaf.value);
  fill(row, fieldSel, opSlot, valSlot,
    h("button", { type: "button", class: "small", "aria-label": t("remove"), title: t("remove"), onclick: onRemove }, "✕"), err);
  row.read = () => {
    const out = { field: fieldSel.value, op: opSel.value };
    const v = val.read();
    if (v !== undefined) out.value = v;
    return out;
  };
  return row;
}

function modeSelect(mode, labels) {
  const sel = select([["all", t(labels[0])], ["any", t(labels[1])]], mode);
  sel.setAttribute("aria-label", t(labels[0]));
  return sel;
}

/** The condition builder: {el, read(), setPaths()} — paths name each part as the server does. */
function conditionBuilder(cond) {
  const model = toModel(cond);
  if (!model) { // not representable: edit the JSON itself
    const ta = h("textarea", { rows: 6, class: "json", "aria-label": t("conditions") });
    ta.value = JSON.stringify(cond, null, 2);
    const box = h("div", { class: "cond-json", dataset: { path: "conditions" } }, ta, h("span", { class: "field-error", role: "alert" }));
    return { el: box, read: () => { try { return JSON.parse(ta.value); } catch { return ta.value; } }, setPaths: () => {} };
  }
  const topSel = modeSelect(model.mode, ["match_groups_all", "match_groups_any"]);
  const groupsBox = h("div", { class: "cond-groups" });
  const addGroup = (g) => {
    const rows = h("div", { class: "cond-rows" });
    const gSel = modeSelect(g.mode, ["match_all", "match_any"]);
    const box = h("fieldset", { class: "cond-group" },
      h("legend", {}, gSel),
      rows,
      h("div", { class: "row" },
        h("button", { type: "button", class: "small add-cond", onclick: () => { addRow({}); setPaths(); } }, `+ ${t("add_condition")}`),
        h("button", { type: "button", class: "small", onclick: () => { box.remove(); setPaths(); } }, t("remove"))),
      h("span", { class: "field-error", role: "alert" }));
    box.mode = gSel;
    const addRow = (leaf) => { const r = conditionRow(leaf, () => { r.remove(); setPaths(); }); rows.appendChild(r); };
    gSel.addEventListener("change", setPaths);
    (g.rows.length ? g.rows : [{}]).forEach(addRow);
    groupsBox.appendChild(box);
  };
  function setPaths() {
    [...groupsBox.children].forEach((g, gi) => {
      const gp = `conditions.${topSel.value}[${gi}]`;
      g.dataset.path = gp;
      [...$(".cond-rows", g).children].forEach((r, ri) => { r.dataset.path = `${gp}.${g.mode.value}[${ri}]`; });
    });
  }
  topSel.addEventListener("change", setPaths);
  model.groups.forEach(addGroup);
  const el = h("div", { class: "cond-builder", dataset: { path: "conditions" } },
    h("div", { class: "row" }, topSel),
    groupsBox,
    h("button", { type: "button", class: "small add-group", onclick: () => { addGroup({ mode: "all", rows: [] }); setPaths(); } }, `+ ${t("add_cond_group")}`),
    h("span", { class: "field-error", role: "alert" }));
  setPaths();
  const read = () => ({ [topSel.value]: [...groupsBox.children].map((g) => ({ [g.mode.value]: [...$(".cond-rows", g).children].map((r) => r.read()) })) });
  return { el, read, setPaths };
}

function actionValue(kind, value) {
  const one = (pairs) => { const sel = select(pairs, value); sel.setAttribute("aria-label", tOr("act_", kind)); return { el: sel, read: () => sel.value }; };
  if (kind === "set_group") return one(P.groups.map((g) => [g.key, nameOf(g)]));
  if (kind === "set_assignee") return one(P.users.filter((u) => u.role !== "customer").map((u) => [u.username, u.display_name || u.username]));
  if (kind === "set_priority") return one(PRIORITIES.map((p) => [p, tOr("p_", p)]));
  if (kind === "set_flow") return one(P.types.filter((x) => x.flow && x.flow.length).map((x) => [x.key, nameOf(x)]));
  const input = h("input", { type: "text", value: Array.isArray(value) ? value.join(", ") : "", placeholder: kind === "notify" ? "alice, group:hotline" : t("values_hint"),
    "aria-label": `${tOr("act_", kind)} (${t("values_hint")})` });
  return { el: input, read: () => list(input.value) };
}

function actionRow(action, onRemove) {
  const row = h("div", { class: "action-row" });
  const kindSel = select(ACTIONS.map((a) => [a, tOr("act_", a)]), action.kind || "set_group");
  kindSel.name = "action_kind";
  kindSel.setAttribute("aria-label", t("rule_actions"));
  const slot = h("span", { class: "action-value" });
  let val;
  const draw = (value) => { val = actionValue(kindSel.value, value); fill(slot, val.el); };
  kindSel.addEventListener("change", () => draw(undefined));
  draw(action.value);
  fill(row, kindSel, slot, h("button", { type: "button", class: "small", "aria-label": t("remove"), title: t("remove"), onclick: onRemove }, "✕"),
    h("span", { class: "field-error", role: "alert" }));
  row.read = () => ({ kind: kindSel.value, value: val.read() });
  return row;
}

/** The editor of rule (null: a new one); P.editor holds what reading it back needs. */
function edit(rule) {
  P.editing = rule ? { ...rule } : { id: null, name: "", enabled: true, stop: false, triggers: ["created"],
    conditions: { all: [{ all: [{ field: "text", op: "contains_any", value: [] }] }] }, actions: [{ kind: "set_group", value: P.groups[0] ? P.groups[0].key : "" }] };
  renderRules();
  drawEditor();
  $("#editor-panel").hidden = false;
  $("#editor-panel").scrollIntoView({ block: "nearest" });
}

function drawEditor(keep) {
  const r = keep || P.editing;
  if (!r) return;
  const admin = isAdmin();
  const name = h("input", { name: "name", value: r.name, required: true, maxlength: 128, "aria-label": t("rule_name") });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: r.enabled });
  const stop = h("input", { type: "checkbox", name: "stop", checked: r.stop });
  const trig = ["created", "updated"].map((x) => h("label", { class: "inline" }, h("input", { type: "checkbox", name: "trigger", value: x, checked: r.triggers.includes(x) }), t(`trig_${x}`)));
  const cond = conditionBuilder(r.conditions);
  const actionsBox = h("div", { class: "actions-list" });
  const setActionPaths = () => [...actionsBox.children].forEach((a, i) => { a.dataset.path = `actions[${i}]`; });
  const addAction = (a) => { const row = actionRow(a, () => { row.remove(); setActionPaths(); }); actionsBox.appendChild(row); setActionPaths(); };
  (r.actions.length ? r.actions : [{}]).forEach(addAction);
  const err = h("p", { class: "field-error form-error", role: "alert" });
  const del = h("button", { type: "button", class: "danger", hidden: !admin || !r.id }, t("delete"));
  del.addEventListener("click", () => {
    if (del.dataset.armed) { removeRule(r); return; }
    del.dataset.armed = "1";
    del.textContent = t("confirm_delete");
  });
  const form = h("form", { id: "rule-form", class: "rule-form", novalidate: true },
    h("fieldset", { disabled: !admin },
      h("div", { class: "row wrap" },
        h("label", { class: "stack grow", dataset: { path: "name" } }, h("span", {}, t("rule_name")), name, h("span", { class: "field-error", role: "alert" })),
        h("label", { class: "inline" }, enabled, t("rule_enabled")),
        h("label", { class: "inline" }, stop, t("rule_stop"))),
      h("div", { class: "row wrap", dataset: { path: "triggers" } }, h("span", { class: "muted" }, `${t("rule_triggers")}:`), trig, h("span", { class: "field-error", role: "alert" })),
      h("h3", {}, t("conditions")), cond.el,
      h("h3", {}, t("rule_actions")),
      h("div", { dataset: { path: "actions" } }, actionsBox,
        h("button", { type: "button", class: "small add-action", onclick: () => addAction({}) }, `+ ${t("add_action")}`),
        h("span", { class: "field-error", role: "alert" }))),
    err,
    h("div", { class: "row" },
      admin ? h("button", { type: "submit", class: "primary", id: "save-rule" }, t("save")) : null,
      h("button", { type: "button", onclick: closeEditor }, t("cancel")), del));
  form.read = () => ({
    name: name.value.trim(), enabled: enabled.checked, stop: stop.checked,
    triggers: trig.map((l) => l.firstChild).filter((x) => x.checked).map((x) => x.value),
    conditions: cond.read(), actions: [...actionsBox.children].map((a) => a.read()),
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); saveRule(form); });
  P.form = form;
  fill($("#editor-title"), r.id ? `${t("edit")}: ${r.name}` : t("new_rule"));
  fill($("#editor"), form);
}

function closeEditor() {
  P.editing = null;
  P.form = null;
  $("#editor-panel").hidden = true;
  renderRules();
}

/** Put a 422's message next to the part it names; anything else under the form. */
function showError(form, err) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
  const text = err instanceof ApiError && typeof err.detail === "string" ? err.detail : "";
  let best = null;
  for (const el of form.querySelectorAll("[data-path]")) {
    const p = el.dataset.path;
    if (text.startsWith(p) && /^[.:[ ]/.test(text.slice(p.length)) && (!best || p.length > best.dataset.path.length)) best = el;
  }
  if (err.status === 409 && /named/.test(text)) best = form.querySelector('[data-path="name"]');
  const { headline, detail } = describeError(err);
  if (best) {
    best.classList.add("has-error");
    const slot = [...best.children].reverse().find((c) => c.classList && c.classList.contains("field-error"));
    (slot || $(".form-error", form)).textContent = text || headline;
    best.scrollIntoView({ block: "nearest" });
  } else {
    $(".form-error", form).textContent = `${headline}${detail ? ` (${detail})` : ""}`;
  }
}

async function saveRule(form) {
  const body = form.read();
  const r = P.editing;
  if (!body.name) { showError(form, new ApiError(422, `name: ${t("rule_name")}?`)); return; }
  try {
    const saved = r.id ? await api("PATCH", `routing/rules/${r.id}`, { ...body, version: r.version })
      : await api("POST", "routing/rules", body);
    toast(t("rule_saved"));
    P.editing = { ...saved };
    await loadRules();
    drawEditor();
  } catch (err) {
    showError(form, err);
    if (err.status === 409 && /changed since/.test(err.message)) await loadRules();
  }
}

async function removeRule(r) {
  try {
    await api("DELETE", `routing/rules/${r.id}`);
    toast(t("rule_deleted"));
    closeEditor();
    await loadRules();
  } catch (err) { fail(err, t("delete")); }
}

// --- dry run ----------------------------------------------------------------------------------

function drawDry() {
  const prev = P.dryForm ? P.dryForm.snapshot() : null;
  const on = (v) => h("label", { class: "inline" }, h("input", { type: "radio", name: "dry_on", value: v, checked: (prev ? prev.on : "sample") === v }), t(`dry_on_${v}`));
  const number = h("input", { name: "dry_number", maxlength: 40, placeholder: "T-…", "aria-label": t("dry_on_ticket") });
  const title = h("input", { name: "dry_title", maxlength: 200, "aria-label": t("title") });
  const desc = h("textarea", { name: "dry_description", rows: 2, maxlength: 20000, "aria-label": t("description") });
  const type = select(P.types.map((x) => [x.key, nameOf(x)]), null, "—");
  const prio = select(PRIORITIES.map((p) => [p, tOr("p_", p)]), "normal");
  const channel = select(CHANNELS.map((c) => [c, tOr("ch_", c)]), "phone");
  const tags = h("input", { name: "dry_tags", maxlength: 500, placeholder: t("values_hint"), "aria-label": t("tags") });
  const trigger = select(["created", "updated"].map((x) => [x, t(`trig_${x}`)]), "created");
  const at = h("input", { type: "datetime-local", name: "dry_at", "aria-label": t("dry_at") });
  const draft = h("input", { type: "checkbox", name: "dry_draft", checked: prev ? prev.draft : true });
  type.name = "dry_type"; prio.name = "dry_priority"; channel.name = "dry_channel"; trigger.name = "dry_trigger";
  const lab = (label, el) => h("label", { class: "stack" }, h("span", {}, label), el);
  const sampleBox = h("div", { class: "dry-sample" }, lab(t("title"), title), lab(t("description"), desc),
    h("div", { class: "grid3" }, lab(t("type"), type), lab(t("priority"), prio), lab(t("f_channel"), channel)), lab(t("tags"), tags));
  const ticketBox = h("div", { class: "dry-ticket" }, lab(t("dry_on_ticket"), number));
  const form = h("form", { id: "dry-form", class: "dry-form" },
    h("div", { class: "row" }, on("sample"), on("ticket")),
    ticketBox, sampleBox,
    h("div", { class: "grid2" }, lab(t("dry_trigger"), trigger), lab(t("dry_at"), at)),
    h("label", { class: "inline" }, draft, t("dry_with_draft")),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "dry-go" }, t("dry_try"))));
  const which = () => form.querySelector("input[name=dry_on]:checked").value;
  const sync = () => { ticketBox.hidden = which() !== "ticket"; sampleBox.hidden = which() !== "sample"; };
  form.addEventListener("change", sync);
  form.snapshot = () => ({ on: which(), draft: draft.checked, values: [number, title, desc, type, prio, channel, tags, trigger, at].map((x) => x.value) });
  if (prev) [number, title, desc, type, prio, channel, tags, trigger, at].forEach((x, i) => { x.value = prev.values[i]; });
  sync();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { trigger: trigger.value };
    if (at.value) body.at = new Date(at.value).toISOString();
    if (which() === "ticket") {
      const n = number.value.trim();
      if (!n) return;
      try {
        const found = items(await api("GET", `tickets?q=${encodeURIComponent(n)}&limit=50`))
          .find((x) => x.number.toUpperCase() === n.toUpperCase() || String(x.id) === n);
        if (!found) { P.dryOut = { error: t("not_found_ticket") }; drawDryOut(); return; }
        body.ticket_id = found.id;
      } catch (err) { fail(err, t("dry_run")); return; }
    } else {
      body.sample = { title: title.value.trim(), description: desc.value.trim(), priority: prio.value, channel: channel.value, tags: list(tags.value) };
      if (type.value) body.sample.type = type.value;
    }
    if (draft.checked && P.form) {
      body.rule = P.form.read();
      if (P.editing && P.editing.id) body.rule_id = P.editing.id;
      if (!body.rule.name) body.rule.name = t("new_rule");
    }
    try {
      P.dryOut = { out: await api("POST", "routing/dry-run", body) };
    } catch (err) {
      if (body.rule && P.form && err.status === 422) showError(P.form, err);
      const { headline, detail } = describeError(err);
      P.dryOut = { error: `${headline}${detail ? ` (${detail})` : ""}` };
    }
    drawDryOut();
  });
  P.dryForm = form;
  fill($("#dry"), form);
}

function drawDryOut() {
  const box = $("#dry-out");
  const d = P.dryOut;
  if (!d) { fill(box); return; }
  if (d.error) { fill(box, h("p", { class: "field-error" }, d.error)); return; }
  const n = names();
  const out = d.out;
  const r = out.result || {};
  fill(box,
    h("p", { class: "dry-line" }, h("strong", {}, `${t("rules_preview")}: `), dryRunLine(out, n)),
    h("h3", {}, t("dry_fired")),
    out.fired.length ? h("ol", { class: "dry-fired" }, out.fired.map((f) => h("li", {},
      h("strong", {}, f.rule_name), f.stopped ? h("span", { class: "badge" }, t("stops")) : null,
      h("ul", {}, f.changes.map((c) => h("li", { class: c.skipped ? "skipped" : "" }, describeChange(c, n))))))) : h("p", { class: "muted" }, t("dry_none")),
    h("h3", {}, t("dry_result")),
    h("dl", { class: "facts" },
      h("dt", {}, t("group")), h("dd", {}, n.group(r.group)),
      h("dt", {}, t("assignee")), h("dd", {}, n.user(r.assignee)),
      h("dt", {}, t("priority")), h("dd", {}, tOr("p_", r.priority)),
      h("dt", {}, t("tags")), h("dd", {}, (r.tags || []).join(", ") || "—"),
      h("dt", {}, t("flow")), h("dd", {}, r.flow || "—"),
      h("dt", {}, t("dry_assignment")), h("dd", {}, out.assignment
        ? [out.assignment.assignee ? `${n.user(out.assignment.assignee)} · ` : "", reasonText(out.assignment.reason)] : "—")));
}

// --- start ------------------------------------------------------------------------------------

function relabel() {
  applyStatic();
  renderRules();
  if (P.form) {
    const r = { ...P.editing, ...P.form.read() };
    drawEditor(r);
  }
  drawDry();
  drawDryOut();
}

async function main() {
  applyStatic();
  $("#lang-slot").appendChild(langSwitch(() => { relabel(); rememberLocale(); }));
  $("#logout").addEventListener("click", logout);
  try { P.me = await api("GET", "auth/me"); } catch (err) { fail(err); return; }
  $("#me").textContent = P.me.display_name || P.me.username;
  $("#read-only").hidden = isAdmin();
  $("#new-rule").hidden = !isAdmin();
  $("#notify-link").hidden = !isAdmin();
  rememberLocale(P.me.locale);
  $("#new-rule").addEventListener("click", () => edit(null));
  const quiet = (p) => p.catch(() => []);
  const [groups, users, types] = await Promise.all([quiet(api("GET", "groups")), quiet(api("GET", "users")), quiet(api("GET", "ticket-types"))]);
  P.groups = items(groups); P.users = items(users); P.types = items(types);
  try { await loadRules(); } catch (err) { fail(err, t("routing_rules")); }
  drawDry();
  document.body.dataset.ready = "1";
}

main();
