// Placing calls from the console: the dial box, "Call customer", transferring a call with its
// ticket. A number already being dialled is not dialled again until the PBX answered the
// request (a double click must not ring the customer twice).
import { api } from "../api.js";
import { t } from "../i18n.js";
import { fail, toast } from "./state.js";

const dialling = new Set();

/** Ring `to` from the agent's phone; with `ticketId`, a call-back on that ticket (the server
 * records it and counts the first one as the first response). */
export async function dial(to, ticketId) {
  if (!to || dialling.has(to)) return;
  dialling.add(to);
  try { await api("POST", "calls/originate", ticketId ? { to, ticket_id: ticketId } : { to }); toast(`${t("calling")} ${to}`); } catch (err) { fail(err, t("dial")); } finally { dialling.delete(to); }
}

export async function transferCall(ticket, extension) {
  try {
    await api("POST", `calls/${encodeURIComponent(ticket.call_id)}/transfer`, { extension, ticket_id: ticket.id });
    toast(`${t("transfer")} → ${extension}`);
  } catch (err) { fail(err, t("transfer")); }
}
