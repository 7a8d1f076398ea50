// The engineer app's service worker (served as /engineer-sw.js, scope /engineer): the page
// opens without signal, with the orders it last saw.
//
// Why this shape:
// * Network first, the cache as the fallback, for everything it handles: the page, its
//   scripts and styles, and the GETs the page reads its orders from (auth/me, work_orders,
//   the day plan, pbx). Online the engineer always gets the current code and orders; offline
//   (or when the server does not answer within NET_TIMEOUT_MS) the last good copy. No build
//   step means no hashed file names, so "cache first" would pin old code after an upgrade.
// * Changes are NOT queued here: the page keeps its own queue in IndexedDB and sends it to
//   POST /api/v1/dispatch/sync itself (js/engineer/sync.js), where it can show what is
//   waiting and what the server refused. Writes pass through untouched.
// * A copy served from the cache says so (X-Hotline-Cached-At: when it was fetched), so the
//   page can say "as of 14:05".
// * Logged out (a 401, or the page redirecting to /login): the cached orders (customers'
//   names, phones, addresses) are deleted.
"use strict";

const VERSION = "v1";
const SHELL = `hotline-eng-shell-${VERSION}`;
const DATA = `hotline-eng-data-${VERSION}`;
const NET_TIMEOUT_MS = 6000;

const SHELL_URLS = [
  "/engineer",
  "/static/css/app.css",
  "/static/css/engineer.css",
  "/static/js/engineer.js",
  "/static/js/engineer/store.js",
  "/static/js/engineer/sync.js",
  "/static/js/engineer/photo.js",
  "/static/js/engineer/signature.js",
  "/static/js/api.js",
  "/static/js/dom.js",
  "/static/js/errors.js",
  "/static/js/i18n.js",
  "/static/js/notifyprefs.js",
  "/static/js/pbxstatus.js",
  "/static/js/socket.js",
  "/static/vendor/signature_pad/signature_pad.min.js",
  "/static/engineer.webmanifest",
  "/static/icons/engineer-192.png",
  "/static/icons/engineer-512.png",
];

/** GETs of the API whose last answer is kept for offline use. */
const DATA_PATHS = [/^\/api\/v1\/auth\/me$/, /^\/api\/v1\/work_orders$/, /^\/api\/v1\/work_orders\/\d+$/,
  /^\/api\/v1\/engineers\/\d+\/plan$/, /^\/api\/v1\/pbx$/];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // One by one: a missing file (e.g. the vendored signature pad not installed) must not
    // keep the rest out of the cache.
    await Promise.all(SHELL_URLS.map(async (url) => {
      try {
        const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (res.ok && !res.redirected) await cache.put(url, res);
      } catch { /* offline at install: filled as the page loads */ }
    }));
    // Who is logged in: the page asked before this worker controlled it, and needs it to
    // open without signal next time.
    try {
      const me = await fetch("/api/v1/auth/me", { credentials: "same-origin", cache: "no-store" });
      if (me.ok) await (await caches.open(DATA)).put("/api/v1/auth/me", await stamped(me));
    } catch { /* offline at install */ }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("hotline-eng-") && name !== SHELL && name !== DATA) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

async function stamped(res) {
  const headers = new Headers(res.headers);
  headers.set("X-Hotline-Cached-At", new Date().toISOString());
  return new Response(await res.blob(), { status: res.status, statusText: res.statusText, headers });
}

async function fromCache(cacheName, key) {
  const cache = await caches.open(cacheName);
  return cache.match(key, { ignoreVary: true });
}

async function networkFirst(request, cacheName, key, { stamp = false } = {}) {
  try {
    const res = await withTimeout(fetch(request), NET_TIMEOUT_MS);
    if (res.status === 401) await caches.delete(DATA);
    else if (res.ok && res.type === "basic" && !res.redirected) {
      const copy = stamp ? await stamped(res.clone()) : res.clone();
      const cache = await caches.open(cacheName);
      await cache.put(key, copy);
    }
    return res;
  } catch (err) {
    const hit = await fromCache(cacheName, key);
    if (hit) return hit;
    throw err;
  }
}

async function page(request) {
  try {
    const res = await withTimeout(fetch(request), NET_TIMEOUT_MS);
    if (res.type === "opaqueredirect" || res.redirected) {
      await caches.delete(DATA); // sent to the login form: not logged in any more
    } else if (res.ok) {
      const cache = await caches.open(SHELL);
      await cache.put("/engineer", res.clone());
    }
    return res;
  } catch (err) {
    const hit = await fromCache(SHELL, "/engineer");
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    if (url.pathname === "/engineer") event.respondWith(page(request));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(networkFirst(request, SHELL, url.pathname));
    return;
  }
  if (DATA_PATHS.some((re) => re.test(url.pathname))) {
    event.respondWith(networkFirst(request, DATA, url.pathname + url.search, { stamp: true }));
  }
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "logout") event.waitUntil(caches.delete(DATA));
});
