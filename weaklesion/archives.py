"""Obtain the raw dataset files: download with resume, verify size and MD5, unpack archives.

Each dataset ships a manifest (``weaklesion/manifests/<dataset>.tsv``) with the columns
``name``, ``size`` (bytes), ``md5`` and ``url``; size, md5 and url may be empty where unknown,
and then nothing is checked for that field. Downloads stream into ``<name>.part`` in chunks,
hashing as they write, so verification needs no second pass over files of tens of GB; the
part is renamed to ``<name>`` only once it matches the manifest.
"""

from __future__ import annotations

import csv
import filecmp
import gzip
import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO

import pandas as pd
from tqdm import tqdm

from weaklesion import __version__
from weaklesion.atomic import atomic_dir
from weaklesion.errors import ChecksumError, ConfigError, MissingFilesError, WeaklesionError

CHUNK_SIZE = 1 << 20
MANIFEST_COLUMNS = ("name", "size", "md5", "url")
USER_AGENT = f"weaklesion/{__version__} (Python urllib)"

_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# HTTP statuses that will not change on retry: the URL is wrong or needs a login.
_PERMANENT_STATUSES = frozenset(range(400, 500)) - {408, 425, 429}
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class ManifestEntry:
    """One file to obtain; ``None`` marks a field the manifest leaves unknown."""

    name: str
    size: int | None = None
    md5: str | None = None
    url: str | None = None


# --- manifests ---------------------------------------------------------------------------


def manifest_path(dataset: str) -> Path:
    """A manifest file: the one shipped for ``dataset`` (e.g. "ham10000"), or, for a value
    ending in ``.tsv``, the user's own manifest at that path."""
    if dataset.endswith(".tsv"):
        path = Path(dataset)
        if not path.is_file():
            raise MissingFilesError(f"manifest file {path} does not exist")
        return path
    folder = resources.files("weaklesion") / "manifests"
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


# --- verification ------------------------------------------------------------------------


def _progress(progress: bool, **kwargs) -> tqdm:
    return tqdm(file=sys.stderr, disable=not progress, dynamic_ncols=True, **kwargs)


def _byte_bar(progress: bool, desc: str, total: int | None, initial: int = 0) -> tqdm:
    return _progress(progress, desc=desc, total=total, initial=initial, unit="B",
                     unit_scale=True, unit_divisor=1024)


def file_md5(path: str | os.PathLike, *, progress: bool = False) -> str:
    """MD5 of a file, read in chunks."""
    path = Path(path)
    digest = hashlib.md5()
    with path.open("rb") as handle, _byte_bar(progress, f"md5 {path.name}",
                                              path.stat().st_size) as bar:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def verify(path: str | os.PathLike, entry: ManifestEntry, *, progress: bool = False) -> str:
    """Check ``path`` against ``entry``'s size and MD5; return the file's actual MD5."""
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"{path} does not exist; {_where_to_get(entry)}")
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise ChecksumError(
            f"{path}: size is {size} bytes, the manifest expects {entry.size} bytes "
            f"for {entry.name} (truncated or a different file)"
        )
    actual = file_md5(path, progress=progress)
    if entry.md5 is not None and actual != entry.md5:
        raise ChecksumError(
            f"{path}: MD5 is {actual}, the manifest expects {entry.md5} for {entry.name} "
            "(corrupt or a different file)"
        )
    return actual


def verify_all(
    entries: Iterable[ManifestEntry], archive_dir: str | os.PathLike, *, progress: bool = False
) -> pd.DataFrame:
    """Verify every entry's file in ``archive_dir``; one row per file.

    Columns: name, size, md5 (actual), expected_md5, status ('verified' or 'no-checksum').
    All absent files are reported together in one MissingFilesError, and all mismatches
    together in one ChecksumError.
    """
    archive_dir = Path(archive_dir)
    entries = list(entries)
    missing = [e for e in entries if not (archive_dir / e.name).is_file()]
    if missing:
        raise MissingFilesError(_missing_message(missing, archive_dir))
    rows, problems = [], []
    for entry in entries:
        path = archive_dir / entry.name
        try:
            actual = verify(path, entry, progress=progress)
        except ChecksumError as error:
            problems.append(str(error))
            continue
        rows.append({
            "name": entry.name,
            "size": path.stat().st_size,
            "md5": actual,
            "expected_md5": entry.md5,
            "status": "verified" if entry.md5 else "no-checksum",
        })
    if problems:
        raise ChecksumError(
            f"{len(problems)} of {len(entries)} file(s) in {archive_dir} do not match their "
            "manifest; delete them and download again:\n  " + "\n  ".join(problems)
        )
    return pd.DataFrame(rows, columns=["name", "size", "md5", "expected_md5", "status"])


def _where_to_get(entry: ManifestEntry) -> str:
    if entry.url:
        return f"download it from {entry.url}"
    return "place it manually (the manifest has no download URL for it)"


def _missing_message(missing: Sequence[ManifestEntry], directory: Path) -> str:
    lines = "\n  ".join(f"{e.name}: {_where_to_get(e)}" for e in missing)
    return f"{len(missing)} file(s) missing from {directory}:\n  {lines}"


# --- download ----------------------------------------------------------------------------


class _TransferFailed(Exception):
    """One attempt failed. ``checksum``: the bytes were wrong rather than incomplete."""

    def __init__(self, reason: str, *, checksum: bool = False, permanent: bool = False):
        super().__init__(reason)
        self.checksum = checksum
        self.permanent = permanent


def download(
    entry: ManifestEntry,
    dest_dir: str | os.PathLike,
    *,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 2.0,
) -> Path:
    """Fetch ``entry`` to ``dest_dir/entry.name`` unless it is there; verify it either way.

    A partial ``<name>.part`` from an earlier attempt is resumed with an HTTP Range request.
    A failed attempt is retried ``retries`` times (``retries + 1`` requests at most), waiting
    ``backoff``, then twice as long, and so on between attempts.
    """
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    dest_dir = Path(dest_dir)
    final = dest_dir / entry.name
    if final.exists():
        try:
            verify(final, entry, progress=progress)
        except ChecksumError as error:
            raise ChecksumError(f"{error}; delete it to download it again") from None
        return final
    if not entry.url:
        raise MissingFilesError(
            f"{entry.name} is not in {dest_dir} and the manifest has no download URL for it; "
            f"obtain it yourself and place it at {final}"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            _attempt_download(entry, part, timeout=timeout, progress=progress)
        except _TransferFailed as failure:
            if failure.permanent or attempt == attempts:
                error_type = ChecksumError if failure.checksum else WeaklesionError
                tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                kept = (f"; the {part.stat().st_size} bytes received are kept in {part} and "
                        "the next run resumes from there") if part.exists() else ""
                raise error_type(
                    f"could not download {entry.name} from {entry.url} ({tries}): {failure}{kept}"
                ) from None
            time.sleep(backoff * 2 ** (attempt - 1))
            continue
        os.replace(part, final)
        return final
    raise AssertionError("unreachable")  # the loop returns or raises


def download_all(
    entries: Iterable[ManifestEntry],
    dest_dir: str | os.PathLike,
    *,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
) -> list[Path]:
    """Download (or verify) every entry; entries without URL that are absent fail together."""
    dest_dir = Path(dest_dir)
    entries = list(entries)
    manual = [e for e in entries if not e.url and not (dest_dir / e.name).exists()]
    if manual:
        raise MissingFilesError(_missing_message(manual, dest_dir))
    return [download(e, dest_dir, retries=retries, timeout=timeout, progress=progress)
            for e in entries]


def _attempt_download(entry: ManifestEntry, part: Path, *, timeout: float, progress: bool):
    """One request: resume or restart ``part`` and leave it complete and verified."""
    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset > entry.size:
        part.unlink()
        offset = 0
    if entry.size is not None and offset == entry.size:
        # Complete but never verified (e.g. a crash before the rename): no request needed.
        _check_complete(entry, part, offset, _md5_of_part(part).hexdigest())
        return
    request = urllib.request.Request(entry.url, headers={"User-Agent": USER_AGENT,
                                                          "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416:  # our part is not a prefix the server can continue
            part.unlink(missing_ok=True)
        raise _TransferFailed(f"HTTP {error.code} {error.reason}",
                              permanent=error.code in _PERMANENT_STATUSES) from None
    except (OSError, http.client.HTTPException) as error:
        raise _TransferFailed(f"connection failed: {error}") from None
    with response:
        _receive(entry, part, response, offset, progress)


def _receive(entry: ManifestEntry, part: Path, response, offset: int, progress: bool):
    status = response.status
    if status == 206:
        start, total = _content_range(response.headers.get("Content-Range"))
        if start != offset:
            part.unlink(missing_ok=True)
            raise _TransferFailed(f"server resumed at byte {start} instead of {offset}")
    elif status == 200:
        offset, total = 0, None  # the server ignored the Range header: start again
    else:
        raise _TransferFailed(f"unexpected HTTP status {status}")
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        total = offset + int(length)
    content_type = response.headers.get("Content-Type", "")
    try:
        first = response.read(CHUNK_SIZE)
    except (OSError, http.client.HTTPException) as error:
        raise _TransferFailed(f"connection dropped: {error!r}") from None
    # Before the size check: a login or error page also has the wrong size, but saying that
    # it is an HTML page tells the user what went wrong.
    if _looks_like_html(entry.name, content_type, first if offset == 0 else b""):
        raise _TransferFailed(
            f"the server sent an HTML page (HTTP {status}, Content-Type {content_type!r}) "
            "instead of the file; the link may have expired or need a login"
        )
    if entry.size is not None and total is not None and total != entry.size:
        part.unlink(missing_ok=True)
        raise _TransferFailed(
            f"server announces {total} bytes, the manifest expects {entry.size} bytes",
            checksum=True,
        )
    digest = _md5_of_part(part) if offset else hashlib.md5()
    written = offset
    with part.open("ab" if offset else "wb") as out, _byte_bar(
        progress, entry.name, entry.size or total, offset
    ) as bar:
        chunk = first
        try:
            while chunk:
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                bar.update(len(chunk))
                if entry.size is not None and written > entry.size:
                    break
                chunk = response.read(CHUNK_SIZE)
        except (OSError, http.client.HTTPException) as error:
            # The part is kept: the next attempt resumes from where this one stopped.
            raise _TransferFailed(
                f"connection dropped after {written} of {total or '?'} bytes: {error!r}"
            ) from None
    if total is not None and written < total:
        raise _TransferFailed(f"connection closed after {written} of {total} bytes")
    _check_complete(entry, part, written, digest.hexdigest())


def _check_complete(entry: ManifestEntry, part: Path, written: int, md5: str):
    if entry.size is not None and written < entry.size:
        raise _TransferFailed(f"body ended after {written} of {entry.size} bytes")
    if entry.size is not None and written > entry.size:
        part.unlink()
        raise _TransferFailed(
            f"received more than the {entry.size} bytes the manifest expects", checksum=True
        )
    if entry.md5 is not None and md5 != entry.md5:
        part.unlink()
        raise _TransferFailed(
            f"MD5 of the {written} bytes received is {md5}, the manifest expects {entry.md5}",
            checksum=True,
        )


def _content_range(header: str | None) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(header or "")
    if not match:
        raise _TransferFailed(f"partial response with unreadable Content-Range {header!r}")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _md5_of_part(part: Path):
    """Running MD5 over what an earlier attempt wrote, to be continued with the rest."""
    digest = hashlib.md5()
    with part.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest


def _looks_like_html(name: str, content_type: str, head: bytes) -> bool:
    if name.lower().endswith((".html", ".htm")):
        return False
    if content_type.split(";")[0].strip().lower() == "text/html":
        return True
    start = head[:512].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


# --- unpack ------------------------------------------------------------------------------


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
            for info, rel in _progress(progress, iterable=members, desc=f"unpack {archive.name}",
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
            for member, rel in _progress(progress, iterable=members,
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
