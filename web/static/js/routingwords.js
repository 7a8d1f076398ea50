// Routing in words, for the console (form preview, ticket history) and the rules page: the
// condition grammar's fields and operators (a copy of tickets/routing/conditions.py FIELDS /
// OPS, which the server checks again), what a rule changed, and the assignment's reason in
// the UI language. The server writes reasons in English; the ones it knows are translated
// here and anything else is shown as written. Names come from `names` = {group(key) → label,
// user(username) → label}, so this module needs no console state.
import { getLang, t, tOr, tf } from "./i18n.js";

/** Field → kind; the kind decides the operators and the value input. */
export const FIELDS = {
  type: "value", priority: "priority", channel: "value", status: "value",
  "customer.tier": "value", queue: "value", group: "value", assignee: "value",
  order_number: "value", product: "text", "customer.address": "text", title: "text",
  description: "text", transcript: "text", text: "text", tags: "tags",
  time_of_day: "time", weekday: "weekday",
};

export const OPS = {
  value: ["eq", "ne", "in", "not_in", "is_set", "is_not_set"],
  priority: ["eq", "ne", "in", "not_in", "at_least", "at_most"],
  text: ["contains_any", "contains_all", "contains_none"],
  tags: ["has_any", "has_all", "has_none"],
  time: ["between"],
  weekday: ["in", "not_in"],
};

export const ACTIONS = ["set_group", "set_assignee", "set_priority", "add_tags", "set_flow", "notify"];

export const fieldLabel = (f) => tOr("fd_", String(f).replace(".", "_"));
export const opLabel = (op) => tOr("op_", op);

/** The names helper every describer takes: group keys and usernames → labels. */
export function namer(groups, users, lang) {
  const g = new Map(groups.map((x) => [x.key, (lang === "zh" && x.name_zh) || x.name || x.key]));
  const u = new Map(users.map((x) => [x.username, x.display_name || x.username]));
  return { group: (k) => (k ? g.get(k) || k : "—"), user: (k) => (k ? u.get(k) || k : "—") };
}

/** A routing value in words: group/assignee by name, priority in the UI language. */
export function routingValue(field, v, names) {
  if (v === null || v === undefined || v === "") return "—";
  if (field === "group") return names.group(v);
  if (field === "assignee") return names.user(v);
  if (field === "priority") return tOr("p_", v);
  if (field === "notify" && Array.isArray(v)) return v.map((x) => (x.startsWith("group:") ? names.group(x.slice(6)) : names.user(x))).join(", ");
  if (Array.isArray(v)) return v.join(", ");
  return String(v);
}

/** One change a rule made (or was not allowed to make): {field, from, to, skipped}. */
export function describeChange(c, names) {
  const field = tOr("rf_", c.field);
  const to = routingValue(c.field, c.to, names);
  return c.skipped ? tf("hist_skipped", { field, to }) : tf("hist_set", { field, to });
}

/** A pause reason word from the PBX (lunch, break…) in the UI language; others as sent. */
export function pauseReason(reason) {
  return reason ? tOr("reason_", reason) : "";
}

/** "暂停 12 分钟（午餐）" / "paused 12 min (lunch)": whole minutes, the reason if any. */
export function pausedFor(minutes, reason) {
  const n = Math.max(0, Math.floor(Number(minutes) || 0));
  return reason ? tf("paused_for", { n, reason: pauseReason(reason) }) : tf("paused_for_plain", { n });
}

/** The server's assignment reason ("least loaded (load 2) (VIP: most senior)", "the group
 * assigns by hand: …") in the UI language; unknown text as written. */
export function reasonText(reason) {
  if (!reason) return "";
  let s = String(reason);
  let vip = "";
  if (s.endsWith(" (VIP: most senior)")) { vip = t("how_vip_senior"); s = s.slice(0, -" (VIP: most senior)".length); }
  let m;
  if (s === "round robin") return t("how_round_robin") + vip;
  if ((m = /^least loaded \(load (\d+)\)$/.exec(s))) return tf("how_least_loaded", { n: m[1] }) + vip;
  if (s.startsWith("the group assigns by hand")) return t("how_manual");
  if (s.startsWith("the group has no members")) return t("how_no_members");
  if ((m = /^(.+) was disabled$/.exec(s))) return tf("why_disabled", { user: m[1] });
  if ((m = /^released: paused (\d+) min(?: \((.*)\))?$/.exec(s))) return pausedFor(m[1], m[2] || "");
  if ((m = /^(.+): the ticket waits in the group's queue$/.exec(s))) {
    const why = m[1];
    let w = why;
    if (why === "no member is active") w = t("why_inactive");
    else if (why === "every active member is paused or logged out") w = t("why_paused");
    else if (why.startsWith("every member who could take it")) w = t("why_cap");
    else if ((m = /^no member has the skills (.+)$/.exec(why))) w = tf("why_skills", { skills: m[1] });
    return tf("how_waits", { why: w });
  }
  return String(reason);
}

/** A routing history entry in words, or null for kinds this module does not own. */
export function describeEvent(kind, data, names) {
  const d = data || {};
  switch (kind) {
    case "rule_applied": {
      const changes = (d.changes || []).map((c) => describeChange(c, names)).join(getLang() === "zh" ? "，" : ", ");
      return tf("hist_rule", { rule: d.rule || "?", changes }).trim();
    }
    case "auto_assigned":
      return tf("hist_assigned", { who: names.user(d.assignee), how: reasonText(d.reason) })
        + (d.group ? ` · ${t("group")}: ${names.group(d.group)}` : "");
    case "assignment_waiting":
      return tf("hist_waiting", { why: reasonText(d.reason) }) + (d.group ? ` · ${t("group")}: ${names.group(d.group)}` : "");
    case "returned_to_pool":
      return tf("hist_pool", { why: reasonText(d.reason) });
    case "forwarded": case "returned": case "flow_moved": {
      const parts = [tf("hist_moved", { group: names.group(d.group) })];
      if (d.flow_step && typeof d.flow_step === "object") parts.push(tf("flow_step_n", { n: Number(d.flow_step.to) + 1 }));
      if (d.note) parts.push(`${t("reason")}: ${d.note}`);
      return parts.join(" · ");
    }
    // the SLA clock (tickets/sla) and 督办
    case "sla_reminder": case "sla_breached":
      return tf(`hist_${kind}`, { target: tOr("sla_t_", d.target) });
    case "sla_escalated":
      return tf("hist_sla_escalated", { target: tOr("sla_t_", d.target), action: tOr("esc_", d.action) })
        + (d.priority ? ` · ${tOr("p_", d.priority.to)}` : "")
        + (d.assignee_id && d.assignee_id.to ? ` · ${names.user(d.assignee_id.to)}` : "")
        + (d.error ? ` · ${d.error}` : "");
    case "supervision_ordered": case "supervision_reminder": case "supervision_overdue":
      return tf(`hist_${kind}`, { note: d.note || "" });
    case "supervision_closed":
      return tf("hist_supervision_closed", { status: tOr("sv_", d.status) });
    default: return null;
  }
}

/** "VIP refunds → Group 财务组, Assignee ben (most senior)": a dry run's answer in one line. */
export function dryRunLine(out, names) {
  if (!out || !out.fired || !out.fired.length) {
    return out && out.assignment ? tf("hist_assigned", { who: names.user(out.assignment.assignee), how: reasonText(out.assignment.reason) }) : t("rules_none");
  }
  const rules = out.fired.map((f) => f.rule_name).join(getLang() === "zh" ? "、" : ", ");
  const r = out.result || {};
  const bits = [];
  if (r.group) bits.push(`${t("group")} ${names.group(r.group)}`);
  const a = out.assignment;
  if (r.assignee) bits.push(`${t("assignee")} ${names.user(r.assignee)}`);
  else if (a && a.assignee) bits.push(`${t("assignee")} ${names.user(a.assignee)} (${reasonText(a.reason)})`);
  else if (a && a.reason) bits.push(reasonText(a.reason));
  for (const f of out.fired) for (const c of f.changes) {
    if (c.field === "priority" && !c.skipped) bits.push(`${t("priority")} ${tOr("p_", c.to)}`);
    if (c.field === "tags" && !c.skipped) bits.push(`${t("tags")} ${routingValue("tags", c.to, names)}`);
  }
  const sep = getLang() === "zh" ? "，" : ", ";
  return `${rules} → ${bits.join(sep) || t("rules_none")}`;
}
