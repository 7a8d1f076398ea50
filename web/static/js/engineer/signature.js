// The customer signs on the engineer's screen: signature_pad (vendored by scripts/vendor.py
// into /static/vendor/signature_pad/, never a CDN) on a canvas sized to the device's pixels.
// Loaded on demand, so the rest of the page works even where the vendor files are missing.

const VENDOR = "/static/vendor/signature_pad/signature_pad.min.js";
let loading = null;

function load() {
  if (!loading) loading = import(VENDOR).then((m) => m.default).catch((err) => { loading = null; throw err; });
  return loading;
}

/** A pad on `canvas`; resolves to {isEmpty, clear, toDataURL, onChange, destroy}. */
export async function mountSignature(canvas, onChange) {
  const SignaturePad = await load();
  const pad = new SignaturePad(canvas, { penColor: "#10233d", minWidth: 0.8, maxWidth: 2.6,
    backgroundColor: "rgb(255,255,255)" });
  const fit = () => {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const w = canvas.offsetWidth;
    const h = canvas.offsetHeight;
    if (!w || !h) return;
    if (canvas.width === Math.round(w * ratio) && canvas.height === Math.round(h * ratio)) return;
    const data = pad.toData();
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    canvas.getContext("2d").scale(ratio, ratio);
    pad.clear();
    pad.fromData(data); // a turned phone keeps what was drawn
  };
  const observer = new ResizeObserver(fit);
  observer.observe(canvas);
  fit();
  pad.addEventListener("endStroke", () => onChange && onChange());
  return {
    isEmpty: () => pad.isEmpty(),
    clear: () => { pad.clear(); if (onChange) onChange(); },
    toDataURL: () => pad.toDataURL("image/png"),
    destroy: () => { observer.disconnect(); pad.off(); },
  };
}
