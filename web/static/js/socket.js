// The console's websocket: reconnects with backoff, answers the hub's heartbeat pings,
// and hands every other message to the page's handler.
import { $ } from "./dom.js";
import { t } from "./i18n.js";

/** The "live updates" pill (#conn) every page shows: the websocket's own state. */
export function showConnection(status) {
  const el = $("#conn");
  el.textContent = t(status);
  el.className = `conn ${status}`;
  document.body.dataset.ws = status;
}

export class HubSocket {
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.ws = null;
    this.backoff = 500;
    this.watched = new Set();
    this.stopped = false;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    // The HttpOnly session cookie goes with the handshake (same origin only: web/ws.py).
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    this.ws = ws;
    this.onStatus("connecting");
    ws.onopen = () => {
      this.backoff = 500;
      this.onStatus("online");
      for (const id of this.watched) this.send({ type: "watch_call", call_id: id });
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "ping") { this.send({ type: "pong" }); return; }
      try { this.onMessage(msg); } catch (err) { console.error("handler failed", msg.type, err); }
    };
    ws.onclose = (ev) => {
      this.onStatus(ev.code === 1008 ? "unauthorized" : "offline");
      if (ev.code === 1008) {
        location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
        return;
      }
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  watch(callId) {
    if (!callId || this.watched.has(callId)) return;
    this.watched.add(callId);
    this.send({ type: "watch_call", call_id: callId });
  }
}
