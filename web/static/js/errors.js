// API failures in words, in the UI language: a headline chosen from the server's known
// reasons (its detail text) or else from the HTTP status, and the server's own text kept as
// the detail, so "409 cannot move…" on a Chinese page reads "工单当前状态不允许这样变更".
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

/** Known server reasons (matched on the detail text) → i18n key of the headline. */
const REASONS = [
  [/no PBX|PBX (is )?not connected|AMI .*(down|not connected)|not logged in to the PBX/i, "err_no_pbx"],
  [/has no assignee/i, "err_no_assignee"],
  [/was merged into .* read-only/i, "err_merged"],
  [/belong to different customers/i, "err_other_customer"],
  [/one level only/i, "err_one_level"],
  [/cannot move the ticket|already (new|assigned|in_progress|pending_customer|resolved|closed|cancelled)/i, "err_illegal_move"],
  [/changed since version/i, "err_stale"],
  [/no phone extension/i, "err_no_extension"],
  [/no customer has the number/i, "err_unknown_number"],
  [/phone number|area code/i, "err_phone"],
];

const BY_STATUS = {
  0: "err_network", 400: "err_bad_request", 403: "err_forbidden", 404: "err_not_found",
  409: "err_conflict", 413: "err_too_large", 422: "err_invalid", 429: "err_busy",
  500: "err_server", 502: "err_unavailable", 503: "err_unavailable", 504: "err_unavailable",
};

/** {headline, detail}: headline in the UI language; detail is the server's text with the
 * status code ("409 · no PBX is configured …"), or "" for errors that are not API errors. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return { headline: t("err_server"), detail: String(err && err.message || err) };
  const text = typeof err.detail === "string" ? err.detail : err.message;
  const known = REASONS.find(([re]) => re.test(text || ""));
  const key = known ? known[1] : BY_STATUS[err.status] || (err.status >= 500 ? "err_server" : "err_bad_request");
  return { headline: t(key), detail: [err.status || null, text].filter(Boolean).join(" · ") };
}
