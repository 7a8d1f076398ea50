// The wallboard's figures, pure: which value a queue tile shows (the extended queue_stats
// of the live statistics engine, or the older message's fields when that is all there is),
// its colour by the thresholds, and how numbers read. No DOM here, so it is easy to reason
// about and shared by the laptop and TV layouts alike.

/** "ok" | "amber" | "red" | "none" for value against (amber, red); higherIsWorse says
 * which side is bad (waiting: higher is worse; service level: lower is worse). A figure
 * at the threshold takes its colour. null/undefined/NaN: "none" (nothing to judge). */
export function level(value, amber, red, higherIsWorse = true) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "none";
  const v = Number(value);
  if (higherIsWorse) return v >= red ? "red" : v >= amber ? "amber" : "ok";
  return v <= red ? "red" : v <= amber ? "amber" : "ok";
}

const num = (v) => (v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v));

/** A share 0..1 as "87%" ("—" when unknown). */
export const pct = (v) => (num(v) === null ? "—" : `${Math.round(num(v) * 100)}%`);

/** Seconds as m:ss, or h:mm:ss from an hour on ("—" when unknown). */
export function clock(s) {
  if (num(s) === null) return "—";
  const n = Math.max(0, Math.floor(num(s)));
  const hh = Math.floor(n / 3600);
  const mm = Math.floor((n % 3600) / 60);
  const ss = String(n % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** The window W of a queue_stats message ("15m", "60m", "today"), or null. */
export const win = (q, name) => (q && q.windows && q.windows[name]) || null;

/**
 * The tiles of one queue: [{key, label key, text, level, sub}] in display order.
 * th: the thresholds (GET /api/v1/wallboard/settings). Without windows (an older
 * queue_stats), service level and abandon rate are the message's own counters.
 */
export function queueFigures(q, th) {
  const m15 = win(q, "15m");
  const today = win(q, "today");
  const sl15 = m15 ? m15.service_level : q.service_level;
  const slToday = today ? today.service_level : null;
  const abandonRate = today ? today.abandon_rate : q.abandon_rate;
  const abandoned = today ? today.abandoned : q.abandoned;
  const asa = today ? today.asa_s : null;
  const aht = today ? today.aht_s : null;
  return [
    { key: "waiting", label: "waiting", text: num(q.waiting) === null ? "—" : String(q.waiting),
      level: level(q.waiting, th.waiting_amber, th.waiting_red) },
    { key: "longest", label: "longest_wait", text: clock(q.longest_wait_s),
      level: level(num(q.waiting) ? q.longest_wait_s : 0, th.longest_wait_amber_s, th.longest_wait_red_s) },
    { key: "sl", label: m15 ? "wb_sl_15m" : "service_level", text: pct(sl15),
      level: level(sl15, th.sl_amber, th.sl_red, false),
      sub: m15 ? { label: "wb_today", text: pct(slToday), level: level(slToday, th.sl_amber, th.sl_red, false) } : null },
    { key: "abandoned", label: "wb_abandoned_today", text: num(abandoned) === null ? "—" : String(abandoned),
      level: level(abandonRate, th.abandon_amber, th.abandon_red),
      sub: { label: "abandon_rate", text: pct(abandonRate), level: level(abandonRate, th.abandon_amber, th.abandon_red) } },
    { key: "asa", label: "wb_asa", text: clock(asa), level: level(asa, th.asa_amber_s, th.asa_red_s) },
    { key: "aht", label: "wb_aht", text: clock(aht), level: level(aht, th.aht_amber_s, th.aht_red_s) },
  ];
}

/** The minute (Unix seconds, floored) a time falls in. */
export const minuteOf = (ms) => Math.floor(ms / 60000) * 60;

/**
 * Add one queue_stats reading to a queue's trend ([{t (s), waiting, sl}], one per minute,
 * oldest first): the reading replaces its minute's point (latest wins), points older than
 * keepMinutes go. Returns the same array.
 */
export function addTrendPoint(points, q, nowMs, keepMinutes = 60) {
  const at = Date.parse(q.at || "") || nowMs;
  const t = minuteOf(at);
  const m15 = win(q, "15m");
  const p = { t, waiting: num(q.waiting), sl: num(m15 ? m15.service_level : q.service_level) };
  const last = points[points.length - 1];
  if (last && last.t === t) points[points.length - 1] = p;
  else if (!last || last.t < t) points.push(p);
  const oldest = minuteOf(nowMs) - keepMinutes * 60;
  while (points.length && points[0].t < oldest) points.shift();
  return points;
}

/** Rows of GET /api/v1/reports/queues (bucket=hour) → offered calls per hour 0..23 of
 * the site's day, summed over queues; hours after upTo (today's hours still to come) null. The hour is read from bucket_start as written (it
 * carries the site's offset), never converted to the browser's zone. */
export function perHour(rows, upTo = 23) {
  const out = Array.from({ length: 24 }, (_, i) => (i <= upTo ? 0 : null));
  for (const r of rows || []) {
    const hour = Number(String(r.bucket_start || "").slice(11, 13));
    if (Number.isInteger(hour) && hour >= 0 && hour < 24) out[hour] = (out[hour] || 0) + (Number(r.offered) || 0);
  }
  return out;
}

/** "2026-12-01" minus n days (calendar arithmetic on the date alone, no time zone). */
export function daysBefore(isoDay, n) {
  const d = new Date(`${isoDay}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

/** The hour (0..23) it is now in time zone tz (the site's), or 23 if the browser cannot say. */
export function hourIn(tz, now = new Date()) {
  try {
    const hh = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", hourCycle: "h23" }).format(now);
    const n = Number(hh);
    return Number.isInteger(n) ? n : 23;
  } catch { return 23; }
}
