"""Check every raw file against its manifest entry (size, MD5), hashing each file once.

A file is hashed where it arrives: the download hashes the bytes as it writes them, and a
file the user placed is hashed when it is first verified. Either way the result goes into a
*receipt* beside the file (``.<name>.verified``: the file's device, inode, size and MD5), and
a later check takes the MD5 from the receipt while it describes the same file, so
DeepLesion's 221 GB are not read a second time after downloading. Not the modification time:
Snakemake touches every output after its job, the download's included. A file replaced by
another (a new download, a copy put in its place) is another inode and is hashed again; one
overwritten in place with other bytes of the same size would not be, so delete its receipt
after doing that.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from weaklesion.errors import ChecksumError, MissingFilesError
from weaklesion.raw.manifest import ManifestEntry, missing_message, where_to_get
from weaklesion.utilities.atomic import write_text

CHUNK_SIZE = 1 << 20


def progress_bar(progress: bool, **kwargs) -> tqdm:
    return tqdm(file=sys.stderr, disable=not progress, dynamic_ncols=True, **kwargs)


def byte_bar(progress: bool, desc: str, total: int | None, initial: int = 0) -> tqdm:
    return progress_bar(progress, desc=desc, total=total, initial=initial, unit="B",
                     unit_scale=True, unit_divisor=1024)


def file_md5(path: str | os.PathLike, *, progress: bool = False) -> str:
    """MD5 of a file, read in chunks."""
    path = Path(path)
    digest = hashlib.md5()
    with path.open("rb") as handle, byte_bar(progress, f"md5 {path.name}",
                                              path.stat().st_size) as bar:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def receipt_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.verified")


def _identity(path: str | os.PathLike) -> dict[str, int]:
    stat = Path(path).stat()
    return {"device": stat.st_dev, "inode": stat.st_ino, "size": stat.st_size}


def write_receipt(path: str | os.PathLike, md5: str) -> None:
    """Record ``md5`` as the MD5 of the file now at ``path``."""
    write_text(receipt_path(path), json.dumps({**_identity(path), "md5": md5}) + "\n")


def recorded_md5(path: str | os.PathLike) -> str | None:
    """The MD5 a receipt records for ``path``, or None without a receipt that describes the
    file there now (another device, inode or size: the file was replaced)."""
    try:
        receipt = json.loads(receipt_path(path).read_text())
        identity = _identity(path)
    except (OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or any(receipt.get(k) != v for k, v in identity.items()):
        return None
    md5 = receipt.get("md5")
    return md5 if isinstance(md5, str) else None


def verify(path: str | os.PathLike, entry: ManifestEntry, *, progress: bool = False) -> str:
    """Check ``path`` against ``entry``'s size and MD5; return the file's actual MD5, from
    its receipt where one still describes the file, else hashed now (and recorded)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFilesError(f"{path} does not exist; {where_to_get(entry)}")
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise ChecksumError(
            f"{path}: size is {size} bytes, the manifest expects {entry.size} bytes "
            f"for {entry.name} (truncated or a different file)"
        )
    actual = recorded_md5(path)
    if actual is None:
        actual = file_md5(path, progress=progress)
        with contextlib.suppress(OSError):  # a read-only folder: hashed again next time
            write_receipt(path, actual)
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

    Columns: name, size, md5 (actual), expected_md5, status ('verified' or 'no-checksum'),
    hashed_now (False where the MD5 came from the file's receipt).
    All absent files are reported together in one MissingFilesError, and all mismatches
    together in one ChecksumError.
    """
    archive_dir = Path(archive_dir)
    entries = list(entries)
    missing = [e for e in entries if not (archive_dir / e.name).is_file()]
    if missing:
        raise MissingFilesError(missing_message(missing, archive_dir))
    rows, problems = [], []
    for entry in entries:
        path = archive_dir / entry.name
        hashed_now = recorded_md5(path) is None
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
            "hashed_now": hashed_now,
        })
    if problems:
        raise ChecksumError(
            f"{len(problems)} of {len(entries)} file(s) in {archive_dir} do not match their "
            "manifest; delete them and download again:\n  " + "\n  ".join(problems)
        )
    return pd.DataFrame(rows, columns=["name", "size", "md5", "expected_md5", "status",
                                       "hashed_now"])
