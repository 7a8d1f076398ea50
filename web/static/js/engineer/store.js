// The engineer page's own storage on the phone (IndexedDB "hotline-engineer"): the queue of
// changes made on work orders that the server has not confirmed yet, and the problems the
// server reported for some of them (conflicts, refusals) until the engineer has read them.
//
// Why IndexedDB: a change made in a basement without signal must survive the page being
// closed, the phone being locked or restarted; photos and signatures go in as data URLs,
// which localStorage could not hold. Every op keeps the user it was made by, so a phone shared
// by two engineers never sends one's changes under the other's login.
//
// ops:      {seq (auto), op_id, user_id, work_order_id, number, kind, base_version, payload, at}
//           kind: status | report | photo | signature (POST /api/v1/dispatch/sync), in seq order
// problems: {op_id, user_id, outcome, op, work_order, detail, at} (conflict | rejected)

const DB_NAME = "hotline-engineer";
const DB_VERSION = 1;
let opening = null;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function db() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, DB_VERSION);
      r.onupgradeneeded = () => {
        const d = r.result;
        if (!d.objectStoreNames.contains("ops")) {
          const ops = d.createObjectStore("ops", { keyPath: "seq", autoIncrement: true });
          ops.createIndex("user_id", "user_id");
        }
        if (!d.objectStoreNames.contains("problems")) {
          const p = d.createObjectStore("problems", { keyPath: "op_id" });
          p.createIndex("user_id", "user_id");
        }
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => { opening = null; reject(r.error); };
    });
  }
  return opening;
}

async function tx(store, mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(store, mode);
    let out;
    Promise.resolve(fn(t.objectStore(store))).then((v) => { out = v; }, reject);
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("aborted"));
  });
}

/** A fresh op id: crypto.randomUUID, with a fallback for old browsers and plain http. */
export function newOpId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Append an op to the queue; resolves to it with its seq. */
export async function addOp(op) {
  const seq = await tx("ops", "readwrite", (s) => req(s.add(op)));
  return { ...op, seq };
}

/** The user's queued ops, oldest first. */
export async function listOps(userId) {
  const all = await tx("ops", "readonly", (s) => req(s.index("user_id").getAll(userId)));
  return all.sort((a, b) => a.seq - b.seq);
}

export async function deleteOps(seqs) {
  if (!seqs.length) return;
  await tx("ops", "readwrite", (s) => Promise.all(seqs.map((q) => req(s.delete(q)))));
}

export async function addProblem(problem) {
  await tx("problems", "readwrite", (s) => req(s.put(problem)));
}

export async function listProblems(userId) {
  const all = await tx("problems", "readonly", (s) => req(s.index("user_id").getAll(userId)));
  return all.sort((a, b) => String(a.at).localeCompare(String(b.at)));
}

export async function deleteProblem(opId) {
  await tx("problems", "readwrite", (s) => req(s.delete(opId)));
}
