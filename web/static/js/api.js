// REST client: same-origin fetch riding on the HttpOnly session cookie (page scripts never
// see the token). Errors become ApiError with the server's `detail` text.

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** One item of a 422's list as "field: message", the field named by its path without the
 * "body" prefix ("kinds.0: Input should be …"), so the page says which input is wrong. */
function fieldError(d) {
  if (!d || typeof d !== "object") return String(d);
  const path = (Array.isArray(d.loc) ? d.loc : []).filter((p) => p !== "body" && p !== "query" && p !== "path");
  const msg = d.msg || JSON.stringify(d);
  return path.length ? `${path.join(".")}: ${msg}` : msg;
}

export async function api(method, path, body, { form = false } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    if (form) init.body = body;
    else { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  }
  let res;
  try {
    res = await fetch(`/api/v1/${path.replace(/^\//, "")}`, init);
  } catch (err) {
    throw new ApiError(0, `network: ${err.message}`);
  }
  if (res.status === 401) {
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, "not logged in");
  }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) {
    let detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    const fields = Array.isArray(detail) ? detail.map(fieldError) : null;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    const error = new ApiError(res.status, detail || res.statusText);
    if (fields) error.fields = fields; // a 422's items as "field: message"
    throw error;
  }
  return data;
}

/** A list endpoint may answer a bare array or a page {items,total}. */
export const items = (data) => (Array.isArray(data) ? data : (data && data.items) || []);

export async function logout() {
  try { await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" }); } catch { /* ignore */ }
  location.assign("/login");
}
