"""Unpack a dataset's archives into one tree (only with ``unpack: true``: by default they
are read in place, :mod:`weaklesion.raw.sources`), and where each member lands in it."""

from __future__ import annotations

import filecmp
import gzip
import os
import re
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.raw.verify import CHUNK_SIZE, progress_bar
from weaklesion.utilities.atomic import atomic_dir

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_archive(path: str | os.PathLike) -> bool:
    """Whether ``path`` is unpacked (zip, tar, tar.gz, tgz) rather than copied."""
    name = Path(path).name.lower()
    return name.endswith(".zip") or name.endswith(_TAR_SUFFIXES)


def unpack(
    archives: Iterable[str | os.PathLike], dest_dir: str | os.PathLike, *, progress: bool = True
) -> Path:
    """Extract ``archives`` into one tree at ``dest_dir``, replacing it only once complete.

    Files that are not archives are copied in as they are. macOS metadata (``__MACOSX/``,
    ``._*``, ``.DS_Store``) is skipped. An archive whose members do not all sit under one
    top-level folder goes into a folder named after the archive, so that flat archives do
    not spill into each other. Members that would land outside the tree are refused.
    """
    archives = [Path(a) for a in archives]
    if not archives:
        raise ValueError("unpack needs at least one archive")
    absent = [str(a) for a in archives if not a.is_file()]
    if absent:
        raise MissingFilesError("cannot unpack, file(s) not found:\n  " + "\n  ".join(absent))
    dest_dir = Path(dest_dir)
    with atomic_dir(dest_dir) as tree:
        for archive in archives:
            if archive.name.lower().endswith(".zip"):
                _unpack_zip(archive, tree, progress)
            elif archive.name.lower().endswith(_TAR_SUFFIXES):
                _unpack_tar(archive, tree, progress)
            else:
                _place(archive, tree / archive.name, archive.name, archive.open("rb"))
    return dest_dir


def _unpack_zip(archive: Path, tree: Path, progress: bool):
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [(info, member_path(info.filename, archive)) for info in zipped.infolist()]
            members = [(info, rel) for info, rel in members if rel is not None]
            root = extraction_root(archive, tree, [rel for _, rel in members])
            for info, rel in progress_bar(progress, iterable=members, desc=f"unpack {archive.name}",
                                       unit="file"):
                if info.is_dir():
                    (root / rel).mkdir(parents=True, exist_ok=True)
                else:
                    _place(archive, root / rel, info.filename, zipped.open(info))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise WeaklesionError(
            f"{archive}: corrupt or truncated zip archive ({error}); delete it and download "
            "it again"
        ) from None


def _unpack_tar(archive: Path, tree: Path, progress: bool):
    try:
        with tarfile.open(archive, "r:*") as tarred:
            members = [(m, member_path(m.name, archive)) for m in tarred.getmembers()]
            members = [(m, rel) for m, rel in members if rel is not None]
            root = extraction_root(archive, tree, [rel for _, rel in members])
            for member, rel in progress_bar(progress, iterable=members,
                                         desc=f"unpack {archive.name}", unit="file"):
                if member.isdir():
                    (root / rel).mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    _place(archive, root / rel, member.name, tarred.extractfile(member))
                else:
                    raise WeaklesionError(
                        f"{archive}: member {member.name!r} is a link or device file; only "
                        "regular files and folders are unpacked"
                    )
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as error:
        raise WeaklesionError(
            f"{archive}: corrupt or truncated tar archive ({error}); delete it and download "
            "it again"
        ) from None


def member_path(name: str, archive: Path) -> PurePosixPath | None:
    """Relative path of a member inside the tree; None for macOS metadata and empty names."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _WINDOWS_DRIVE.match(normalised):
        raise WeaklesionError(f"{archive}: refusing member {name!r} with an absolute path")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise WeaklesionError(f"{archive}: refusing member {name!r}, which points outside the "
                              "destination folder ('..')")
    if not parts or "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] == ".DS_Store":
        return None
    return PurePosixPath(*parts)


def extraction_root(archive: Path, tree: Path, members: Sequence[PurePosixPath]) -> Path:
    tops = {m.parts[0] for m in members}
    under_one_folder = len(tops) == 1 and any(len(m.parts) > 1 for m in members)
    if under_one_folder or not members:
        return tree
    stem = archive.name
    for suffix in (".zip", *_TAR_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return tree / stem


def _place(archive: Path, target: Path, member: str, stream: IO[bytes]):
    """Write ``stream`` to ``target``; an identical file already there is fine, a different
    one is an error (two archives disagree about the same path)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    destination = target if not target.exists() else target.with_name(target.name + ".incoming")
    with stream as src, destination.open("wb") as out:
        shutil.copyfileobj(src, out, CHUNK_SIZE)
    if destination != target:
        same = filecmp.cmp(destination, target, shallow=False)
        destination.unlink()
        if not same:
            raise WeaklesionError(
                f"{archive}: member {member!r} differs from the file already unpacked at "
                f"{target.name} from an earlier archive"
            )
