"""Draws the engineer app's icons (``web/static/icons/engineer-{192,512}.png``): a white map
pin on the pages' blue, full bleed so the launcher may mask it to any shape.

Why a script: the icons are committed (a few KB), and this says how they were made; run it
again after changing the drawing. Only the standard library (zlib PNG writer, 4× supersampling).

Usage: ``python scripts/engineer_icons.py``
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "web" / "static" / "icons"
BLUE = (31, 111, 235)
WHITE = (255, 255, 255)
SS = 4  # samples per pixel side


def _inside_pin(x: float, y: float) -> bool:
    """The pin in unit coordinates (0..1): a ring head over a point, inside the maskable
    safe zone (the middle 80 %)."""
    cx, cy, r = 0.5, 0.42, 0.19
    d = math.hypot(x - cx, y - cy)
    if d <= r:
        return d >= 0.075  # the hole
    # the point: a triangle from the head's widest line down to the tip (0.5, 0.80)
    tip = 0.80
    if not cy < y <= tip:
        return False
    half = r * (tip - y) / (tip - cy)
    return abs(x - cx) <= half


def draw(size: int) -> bytes:
    rows = bytearray()
    n = SS * SS
    for py in range(size):
        rows.append(0)  # filter: none
        for px in range(size):
            hits = sum(_inside_pin((px + (i + .5) / SS) / size, (py + (j + .5) / SS) / size)
                       for i in range(SS) for j in range(SS))
            a = hits / n
            rows.extend(round(b + (w - b) * a) for b, w in zip(BLUE, WHITE, strict=True))
    return _png(size, size, bytes(rows))


def _png(w: int, h: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"engineer-{size}.png").write_bytes(draw(size))


if __name__ == "__main__":
    main()
