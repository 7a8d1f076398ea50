import { $ } from "./dom.js";
import { applyStatic, langSwitch, t } from "./i18n.js";

const HOME = { agent: "/console", admin: "/console", supervisor: "/wallboard",
  engineer: "/engineer", customer: "/portal" };

function nextTarget() {
  const n = new URLSearchParams(location.search).get("next");
  // Local paths only: never bounce a fresh session to another site.
  return n && n.startsWith("/") && !n.startsWith("//") && !n.includes("\\") ? n : null;
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
    sessionStorage.setItem("hotline_token", data.access_token);
    let target = nextTarget();
    if (!target) {
      const me = await fetch("/api/v1/auth/me", {
        headers: { Authorization: `Bearer ${data.access_token}` } }).then((r) => r.json());
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
