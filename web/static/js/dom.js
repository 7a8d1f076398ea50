// Building DOM without markup strings: every piece of outside text goes in as textContent,
// so a customer called "<img onerror=…>" is shown, never run.

/**
 * h("div", {class: "x", onclick: fn, dataset: {id: 1}}, "text", child, [more])
 * Attribute values are set with setAttribute / properties, children as text nodes or elements.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replace all children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** A date/time for humans in the UI language; tolerant of missing values. */
export function fmtTime(value, lang) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB",
    { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

export function fmtDate(value, lang) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB");
}

/** Seconds as m:ss. */
export function fmtDuration(s) {
  if (s === null || s === undefined || Number.isNaN(Number(s))) return "—";
  const n = Math.max(0, Math.round(Number(s)));
  return `${Math.floor(n / 60)}:${String(n % 60).padStart(2, "0")}`;
}

/** Run fn once the browser has drawn what the page holds now (after the next frame's
 * rendering), so work that can wait does not delay that frame; at once when the page is
 * hidden, since no frames are drawn then. */
export function afterPaint(fn) {
  if (document.hidden) { fn(); return; }
  requestAnimationFrame(() => setTimeout(fn, 0));
}
