"""Installs the pages' front-end libraries into ``web/static/vendor/`` (not committed).

Why this shape: call-centre floors are often offline, so a page may load nothing from a CDN
at run time, and third-party code is not pasted into the repository either. The setup
fetches each pinned package's tarball from the npm registry once, checks it against the
registry's ``sha512`` integrity (a changed or truncated download is refused), and copies the
few files the pages use, with the package's licence, to ``web/static/vendor/<name>/``,
where ``/static/vendor/<name>/<file>`` serves them. Only the standard library is used, so
the setup needs neither Node.js nor npm. Run again, it does nothing while the stamp file
names the same version.

Usage: ``python scripts/vendor.py`` (``HOTLINE_NPM_REGISTRY`` overrides the registry, e.g.
a local mirror).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "web" / "static" / "vendor"
REGISTRY = os.environ.get("HOTLINE_NPM_REGISTRY", "https://registry.npmjs.org").rstrip("/")


@dataclass(frozen=True)
class Package:
    name: str  # the npm package, also the folder under vendor/
    version: str
    integrity: str  # the registry's dist.integrity ("sha512-<base64>")
    files: tuple[str, ...]  # paths inside the tarball's package/ folder

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"


PACKAGES = (
    # charts: wallboard trends, reports
    Package("uplot", "1.6.32",
            "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/"
            "ep3tOkyTxpiQIw==",
            ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE")),
    # the customer's signature on the engineer's phone (/engineer); an ES module
    Package("signature_pad", "5.1.4",
            "sha512-q0wO5a+U+AWPVcVmiNXz7FY4Ad1QiE8wto/3Yn41WVqepoVVYMvkb1CTokaWPUUAHWDLLabH3/"
            "acODeWM9jCrg==",
            ("dist/signature_pad.min.js", "LICENSE")),
    # maps: the dispatcher board (circle markers and lines only, so no marker images)
    Package("leaflet", "1.9.4",
            "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQ"
            "ixURb+FA74PA==",
            ("dist/leaflet.js", "dist/leaflet.css", "LICENSE")),
)


def _check(data: bytes, integrity: str) -> None:
    algo, _, want = integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise SystemExit(f"vendor: integrity mismatch ({algo}): expected {want}, got {got}")


def install(pkg: Package) -> bool:
    """Install ``pkg`` unless already there; True when something was written."""
    dest = VENDOR / pkg.name
    stamp = dest / ".version"
    if stamp.is_file() and stamp.read_text().strip() == pkg.version and all(
            (dest / Path(f).name).is_file() for f in pkg.files):
        return False
    with urllib.request.urlopen(pkg.url, timeout=60) as resp:
        data = resp.read()
    _check(data, pkg.integrity)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for rel in pkg.files:
            member = tar.extractfile(f"package/{rel}")
            if member is None:
                raise SystemExit(f"vendor: {pkg.name}@{pkg.version} has no {rel}")
            (dest / Path(rel).name).write_bytes(member.read())
    stamp.write_text(pkg.version + "\n")
    return True


def main() -> int:
    for pkg in PACKAGES:
        if install(pkg):
            print(f"vendor: installed {pkg.name}@{pkg.version} into {VENDOR / pkg.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
