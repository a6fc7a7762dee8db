"""Writing figures: PNG for viewing, PDF for papers, each renamed into place when complete."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from weaklesion.errors import WeaklesionError
from weaklesion.figures.style import PNG_DPI
from weaklesion.utilities.atomic import atomic_path

# No creation date or tool version inside the files, so a rerun on the same inputs writes the
# same bytes and a workflow sees nothing changed.
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def write_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` as PNG or PDF, chosen by the file's suffix."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise WeaklesionError(f"{path}: figures are written as .png or .pdf, not {path.suffix!r}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=_METADATA[fmt])
    return path


def save_figure(fig: Figure, stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf``; returns both paths."""
    stem = Path(stem)
    return (write_figure(fig, stem.parent / f"{stem.name}.png"),
            write_figure(fig, stem.parent / f"{stem.name}.pdf"))
