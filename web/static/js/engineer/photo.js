// A camera photo made small enough to queue and send: at most MAX_SIDE pixels on its longer
// side, JPEG, and a data URL short enough for one sync request (the server caps JSON bodies
// at 1 MiB by default). A phone camera's 12 MP, 4 MB photo comes out around 200–400 KB.

export const MAX_SIDE = 1600;
/** Longest data URL queued for one photo (characters); quality, then size, step down to it. */
export const MAX_DATA_URL = 700_000;

async function decode(file) {
  if (typeof createImageBitmap === "function") {
    try { return await createImageBitmap(file, { imageOrientation: "from-image" }); } catch { /* below */ }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function toDataUrl(canvas, quality) {
  return canvas.toDataURL("image/jpeg", quality);
}

/** `file` (an image the camera or the gallery gave) → {data_url, width, height}. */
export async function downscale(file, maxSide = MAX_SIDE) {
  const img = await decode(file);
  const w0 = img.width || img.naturalWidth;
  const h0 = img.height || img.naturalHeight;
  let scale = Math.min(1, maxSide / Math.max(w0, h0));
  for (;;) {
    const w = Math.max(1, Math.round(w0 * scale));
    const h = Math.max(1, Math.round(h0 * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // a transparent PNG from the gallery: white, not black
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(img, 0, 0, w, h);
    for (const q of [0.82, 0.7, 0.58]) {
      const dataUrl = toDataUrl(canvas, q);
      if (dataUrl.length <= MAX_DATA_URL) {
        if (typeof img.close === "function") img.close();
        return { data_url: dataUrl, width: w, height: h };
      }
    }
    scale *= 0.75;
  }
}
