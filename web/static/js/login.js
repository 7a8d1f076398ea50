import { $ } from "./dom.js";
import { applyStatic, langSwitch, t } from "./i18n.js";

const HOME = { agent: "/console", admin: "/console", supervisor: "/wallboard",
  engineer: "/engineer", customer: "/portal" };

/** Where to go after logging in: `next` only when, once parsed as the browser will parse
 * it, it stays on this site (a string check is fooled: `/\tevil`, `/\evil`, `https:evil`). */
export function safeNext(n, here = location) {
  if (!n) return null;
  let url;
  try { url = new URL(n, here.origin); } catch { return null; }
  if (url.origin !== here.origin || !/^https?:$/.test(url.protocol)) return null;
  return url.pathname + url.search + url.hash;
}

function nextTarget() {
  return safeNext(new URLSearchParams(location.search).get("next"));
}

async function submit(ev) {
  ev.preventDefault();
  const err = $("#login-error");
  err.hidden = true;
  const body = { username: $("#username").value.trim(), password: $("#password").value };
  try {
    const res = await fetch("/api/v1/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(typeof data.detail === "string" ? data.detail : res.statusText);
    // The server set the HttpOnly session cookie; the token in the body is for API
    // clients, and this page keeps it nowhere.
    let target = nextTarget();
    if (!target) {
      const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" })
        .then((r) => r.json());
      target = HOME[me.role] || "/console";
    }
    location.assign(target);
  } catch (e) {
    err.textContent = `${t("login_failed")}: ${e.message}`;
    err.hidden = false;
  }
}

applyStatic();
$("#lang-slot").appendChild(langSwitch());
$("#login-form").addEventListener("submit", submit);
