"""Download a manifest's file with resume and retries, verifying it as it is written.

Downloads stream into ``<name>.part`` in chunks, hashing as they write, so verification needs
no second pass over files of tens of GB: the part is renamed to ``<name>`` only once it
matches the manifest, and its MD5 is recorded in the file's receipt
(:mod:`weaklesion.raw.verify`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from weaklesion import __version__
from weaklesion.errors import ChecksumError, MissingFilesError, WeaklesionError
from weaklesion.raw.manifest import ManifestEntry
from weaklesion.raw.verify import CHUNK_SIZE, byte_bar, verify, write_receipt

USER_AGENT = f"weaklesion/{__version__} (Python urllib)"

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


# HTTP statuses that will not change on retry: the URL is wrong or needs a login.
_PERMANENT_STATUSES = frozenset(range(400, 500)) - {408, 425, 429}


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
            md5 = _attempt_download(entry, part, timeout=timeout, progress=progress)
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
        write_receipt(final, md5)  # hashed while written: verification reads it no more
        return final
    raise AssertionError("unreachable")  # the loop returns or raises


def _attempt_download(entry: ManifestEntry, part: Path, *, timeout: float,
                      progress: bool) -> str:
    """One request: resume or restart ``part`` and leave it complete and verified; its MD5."""
    offset = part.stat().st_size if part.exists() else 0
    if entry.size is not None and offset > entry.size:
        part.unlink()
        offset = 0
    if entry.size is not None and offset == entry.size:
        # Complete but never verified (e.g. a crash before the rename): no request needed.
        md5 = _md5_of_part(part).hexdigest()
        _check_complete(entry, part, offset, md5)
        return md5
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
        return _receive(entry, part, response, offset, progress)


def _receive(entry: ManifestEntry, part: Path, response, offset: int, progress: bool) -> str:
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
    with part.open("ab" if offset else "wb") as out, byte_bar(
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
    md5 = digest.hexdigest()
    _check_complete(entry, part, written, md5)
    return md5


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
