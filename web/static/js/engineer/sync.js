// Offline-first changes on work orders: every change the engineer makes is an op in the
// IndexedDB queue first (store.js), shown at once on top of the last order the server sent
// (optimistic), and sent IN ORDER to POST /api/v1/dispatch/sync whenever the phone is online.
//
// Why one path for online and offline: a change is never lost between "tapped" and "the
// server has it" (a tunnel, a dead zone, the page closed mid-request), and a replay is safe
// since the server answers an op_id it has seen with its first result and applies nothing.
// Each op carries base_version: the version of the order as the server last sent it when the
// change was made; an order reassigned or cancelled meanwhile comes back as a conflict, which
// the page keeps and shows until the engineer has read it (never dropped silently).
import { addOp, addProblem, deleteOps, listOps, newOpId } from "./store.js";

/** The engineer's own moves (dispatch/lifecycle.py ENGINEER_MOVES): current → targets. */
export const ENGINEER_MOVES = {
  assigned: ["accepted"],
  accepted: ["en_route"],
  en_route: ["on_site", "failed"],
  on_site: ["completed", "failed"],
};
export const FINAL = new Set(["completed", "failed", "cancelled"]);
export const OPEN = new Set(["pending", "assigned", "accepted", "en_route", "on_site"]);

/** JSON bodies are capped by the server (HOTLINE_BODY_MAX_BYTES, 1 MiB by default): a batch
 * is cut before this many characters; an op bigger than that goes alone. */
const BATCH_CHARS = 900_000;

/** The order as the engineer sees it: `order` (the server's) with the queued `ops` on it. */
export function applyOps(order, ops) {
  if (!ops.length) return order;
  const o = { ...order, files: [...(order.files || [])], status_times: { ...(order.status_times || {}) } };
  for (const op of ops) {
    const p = op.payload || {};
    if (op.kind === "status") {
      o.status = p.status;
      o.status_times[p.status] = op.at;
      if (p.status === "failed") o.fail_reason = p.reason;
    } else if (op.kind === "report") {
      for (const k of ["notes", "parts_used", "rating", "signed_by"]) if (p[k] !== undefined) o[k] = p[k];
    } else if (op.kind === "photo" || op.kind === "signature") {
      o.files.push({ id: `q-${op.op_id}`, kind: op.kind, url: p.data_url, pending: true });
      if (op.kind === "signature" && p.signed_by) o.signed_by = p.signed_by;
    }
  }
  o.allowed_status = ENGINEER_MOVES[o.status] || [];
  o.pending_ops = ops.length;
  return o;
}

/** The engineer's next moves on an order: the server's allowed_status (or, with changes
 * still queued, the lifecycle's), kept to those an engineer makes. */
export function nextMoves(order) {
  const mine = ENGINEER_MOVES[order.status] || [];
  const allowed = order.allowed_status || mine;
  return mine.filter((s) => allowed.includes(s));
}

export class SyncQueue {
  /**
   * @param {number} userId whose ops these are
   * @param {(ops: object[]) => void} onChange the queue changed (re-render)
   * @param {(results: object[], sent: object[]) => void} onResults the server's answers
   */
  constructor(userId, { onChange, onResults, onState }) {
    this.userId = userId;
    this.ops = [];
    this.onChange = onChange;
    this.onResults = onResults;
    this.onState = onState || (() => {});
    this.running = null;
    this.again = false;
    this.retryTimer = null;
    this.retryDelay = 0;
  }

  async load() {
    this.ops = await listOps(this.userId);
    this.onChange(this.ops);
  }

  /** Queue one change and try to send it. `order` is the server's copy the change is made on. */
  async add(order, kind, payload) {
    const op = await addOp({
      op_id: newOpId(), user_id: this.userId, work_order_id: order.id, number: order.number,
      kind, base_version: order.version, payload, at: new Date().toISOString(),
    });
    this.ops.push(op);
    this.onChange(this.ops);
    this.flush();
    return op;
  }

  /** Put a refused op back in the queue, made on the order as the server has it now. */
  async retry(problemOp, order) {
    return this.add(order, problemOp.kind, problemOp.payload);
  }

  forOrder(id) { return this.ops.filter((op) => op.work_order_id === id); }

  /** Send the queue in order; resolves when done (or when the network failed). Calls made
   * while a flush runs make it go round once more. */
  flush() {
    if (this.running) { this.again = true; return this.running; }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this._flushOnce();
        } while (this.again && navigator.onLine !== false && this.ops.length);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** After a failed send: try again in 2 s, doubling up to a minute (the page's own timer,
   * the `online` event and the websocket coming back try too). */
  _retrySoon() {
    if (this.retryTimer) return;
    this.retryDelay = Math.min((this.retryDelay || 1000) * 2, 60000);
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.flush(); }, this.retryDelay);
  }

  async _flushOnce() {
    if (!this.ops.length) { this.onState("idle"); return; }
    if (navigator.onLine === false) { this.onState("offline"); return; }
    this.onState("syncing");
    while (this.ops.length) {
      const batch = [];
      let size = 0;
      for (const op of this.ops) {
        const wire = { op_id: op.op_id, work_order_id: op.work_order_id, kind: op.kind,
          base_version: op.base_version, payload: op.payload, at: op.at };
        const len = JSON.stringify(wire).length;
        if (batch.length && size + len > BATCH_CHARS) break;
        batch.push({ op, wire });
        size += len;
      }
      let res;
      try {
        res = await fetch("/api/v1/dispatch/sync", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ ops: batch.map((b) => b.wire) }),
        });
      } catch {
        this.onState("unreachable");
        this._retrySoon();
        return;
      }
      if (res.status === 401) {
        this.onState("unauthorized");
        return;
      }
      if (!res.ok) {
        // 5xx, 404 (an older server), 413 (over a proxy's limit): keep the ops and say so.
        let detail = res.statusText;
        try { const d = await res.json(); detail = d.detail || detail; } catch { /* not JSON */ }
        this.onState("error", `${res.status} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
        this._retrySoon();
        return;
      }
      const data = await res.json();
      const results = Array.isArray(data.results) ? data.results : [];
      const byId = new Map(results.map((r) => [r.op_id, r]));
      const done = [];
      for (const { op } of batch) {
        const r = byId.get(op.op_id);
        if (!r) continue; // not answered: stays queued, sent again next time
        if (r.outcome === "conflict" || r.outcome === "rejected") {
          await addProblem({ op_id: op.op_id, user_id: this.userId, outcome: r.outcome, op,
            work_order: r.work_order || null, detail: r.detail ?? null, at: new Date().toISOString() });
        }
        done.push(op.seq);
      }
      await deleteOps(done);
      const doneSet = new Set(done);
      this.ops = this.ops.filter((op) => !doneSet.has(op.seq));
      this.onResults(results, batch.map((b) => b.op));
      this.onChange(this.ops);
      if (!done.length) { this.onState("error", "no result"); return; }
    }
    this.retryDelay = 0;
    this.onState("synced");
  }
}
