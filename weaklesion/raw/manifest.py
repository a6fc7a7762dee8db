"""A dataset's manifest: the files to obtain, one per row.

Each shipped dataset has one (``weaklesion/raw/manifests/<dataset>.tsv``) with the columns
``name``, ``size`` (bytes), ``md5`` and ``url``; size, md5 and url may be empty where
unknown, and then nothing is checked for that field. A user's own ``.tsv`` works the same.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from weaklesion.errors import ConfigError, MissingFilesError

MANIFEST_COLUMNS = ("name", "size", "md5", "url")

_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class ManifestEntry:
    """One file to obtain; ``None`` marks a field the manifest leaves unknown."""

    name: str
    size: int | None = None
    md5: str | None = None
    url: str | None = None


def manifest_path(dataset: str) -> Path:
    """A manifest file: the one shipped for ``dataset`` (e.g. "ham10000"), or, for a value
    ending in ``.tsv``, the user's own manifest at that path."""
    if dataset.endswith(".tsv"):
        path = Path(dataset)
        if not path.is_file():
            raise MissingFilesError(f"manifest file {path} does not exist")
        return path
    folder = resources.files("weaklesion.raw") / "manifests"
    available = sorted(p.name[: -len(".tsv")] for p in folder.iterdir() if p.name.endswith(".tsv"))
    if dataset not in available:
        raise ConfigError(
            f"no download manifest for dataset {dataset!r}; available: {', '.join(available)}"
        )
    return Path(str(folder / f"{dataset}.tsv"))


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """Parse a manifest TSV; a bad row raises ConfigError naming the file and line."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or [c.strip() for c in rows[0]] != list(MANIFEST_COLUMNS):
        found = "nothing" if not rows else "\t".join(rows[0])
        raise ConfigError(
            f"{path}, line 1: header must be {chr(9).join(MANIFEST_COLUMNS)!r} "
            f"(tab-separated), found {found!r}"
        )
    entries: list[ManifestEntry] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        entry = _parse_manifest_row(row, f"{path}, line {line}")
        if entry.name in seen:
            raise ConfigError(
                f"{path}, line {line}: {entry.name!r} is already listed on line {seen[entry.name]}"
            )
        seen[entry.name] = line
        entries.append(entry)
    return entries


def _parse_manifest_row(row: list[str], where: str) -> ManifestEntry:
    if len(row) != len(MANIFEST_COLUMNS):
        raise ConfigError(
            f"{where}: expected {len(MANIFEST_COLUMNS)} tab-separated fields "
            f"({', '.join(MANIFEST_COLUMNS)}), found {len(row)}"
        )
    name, size_text, md5, url = (cell.strip() for cell in row)
    # The name becomes a path under the download folder, so it must not leave it.
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ConfigError(f"{where}: name must be a plain file name, found {name!r}")
    size = None
    if size_text:
        if not size_text.isdigit():
            raise ConfigError(
                f"{where}: size of {name} must be a whole number of bytes, found {size_text!r}"
            )
        size = int(size_text)
    if md5 and not _MD5.match(md5):
        raise ConfigError(f"{where}: md5 of {name} must be 32 hex digits, found {md5!r}")
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"{where}: url of {name} must start with https:// or http://, "
                          f"found {url!r}")
    return ManifestEntry(name=name, size=size, md5=md5.lower() or None, url=url or None)


def where_to_get(entry: ManifestEntry) -> str:
    if entry.url:
        return f"download it from {entry.url}"
    return "place it manually (the manifest has no download URL for it)"


def missing_message(missing: Sequence[ManifestEntry], directory: Path) -> str:
    lines = "\n  ".join(f"{e.name}: {where_to_get(e)}" for e in missing)
    return f"{len(missing)} file(s) missing from {directory}:\n  {lines}"
