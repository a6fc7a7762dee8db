"""Where a dataset's raw files are: a folder on disk, or its verified archives read in place.

A :class:`SourceTree` lists every file of a dataset by its *tree path*: where the file sits in
the folder that unpacking the archives side by side would give (:func:`weaklesion.raw.
unpack.unpack` lays them out the same way), or its path under the dataset's folder. Adapters find
their files by tree path, whichever the source, and read them with :func:`read_bytes`, which
opens each archive once per process and reads only the members asked for, so DeepLesion's
56 zips (221 GB) need not be extracted to read the few slices around each key slice.

A :class:`SourceFile` is picklable and small, so work items carry their files to the worker
processes, and each worker opens its own handles. What a user sees (messages, excluded.csv,
source_files.tsv) is the file as they can find it: ``archive.zip:member`` or the file's path;
what goes into data.h5 is the tree path, the same for both sources.

Zip members are read at their offsets, in the order the items come: a zip gives random
access, and the items come in about archive order anyway (DeepLesion's rows and zips both
follow the patient index; HAM10000's image ids and its two image zips). Members of a
gzip-compressed tar can only be reached by decompressing from the start, so such archives
are read in place too but slowly; the datasets this workflow downloads ship zips.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeAlias

from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.raw.unpack import extraction_root, is_archive, member_path

SourceSpec: TypeAlias = "str | os.PathLike | Sequence[str | os.PathLike] | SourceTree"
"""Where a dataset is: its folder, or the list of its archives (or a tree already open)."""


ZipEntry: TypeAlias = tuple[int, int, int, int, int]
"""Where a zip member's data is: (local header offset, compressed size, size, CRC-32, method),
from the archive's central directory."""


@dataclass(frozen=True, order=True, slots=True)  # slots: DeepLesion lists 928,000
class SourceFile:
    """One raw file: ``tree_path`` in the dataset's tree; ``member`` of ``archive``, or, where
    ``archive`` is None, the file at path ``member``. ``zip_entry``: where a zip member's
    data lies, so that reading it needs no central directory (see :func:`read_bytes`)."""

    tree_path: str
    archive: str | None
    member: str
    zip_entry: ZipEntry | None = dataclasses.field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.archive}:{self.member}" if self.archive else self.member

    @property
    def name(self) -> str:
        return PurePosixPath(self.tree_path).name

    @property
    def parent(self) -> str:
        return str(PurePosixPath(self.tree_path).parent)


class SourceTree:
    """Every file of a dataset by tree path (see the module docstring)."""

    def __init__(self, files: Iterable[SourceFile], description: str,
                 root: Path | None = None, empty_folders: Iterable[str] = ()):
        self.root = root  # the folder, for a tree read from one
        self.files: dict[str, SourceFile] = {}
        for file in files:
            self.files.setdefault(file.tree_path, file)
        self.description = description
        self._empty_folders = list(empty_folders)
        self._folders: dict[str, list[str]] | None = None

    def __str__(self) -> str:
        return self.description

    @classmethod
    def from_folder(cls, root: str | os.PathLike) -> SourceTree:
        """The files under ``root`` (symbolic links to folders are not followed); none where
        ``root`` does not exist."""
        root = Path(root)
        if not root.is_dir():
            # Empty: the adapter's message says what the folder must hold.
            return cls([], f"{root} (which does not exist)", root)
        files, empty = [], []
        for folder, subfolders, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                relative = path.relative_to(root).as_posix()
                files.append(SourceFile(relative, None, str(path)))
            if not names and not subfolders:
                empty.append(Path(folder).relative_to(root).as_posix())
        return cls(sorted(files), str(root), root, empty)

    @classmethod
    def from_archives(cls, paths: Sequence[str | os.PathLike]) -> SourceTree:
        """The members of the zip and tar archives, and the other files given, laid out as
        :func:`weaklesion.raw.unpack.unpack` would unpack them (macOS metadata left out)."""
        files = []
        for path in map(Path, paths):
            if not path.is_file():
                raise MissingFilesError(f"archive {path} does not exist")
            if not is_archive(path):
                files.append(SourceFile(path.name, None, str(path)))
                continue
            members = [(name, rel, entry) for name, rel, entry in _archive_members(path)
                       if rel is not None]
            root = extraction_root(Path(path.name), Path(), [rel for _, rel, _ in members])
            files += [SourceFile((root / rel).as_posix(), str(path), name, entry)
                      for name, rel, entry in members]
        return cls(files, ", ".join(str(Path(p).name) for p in paths))

    @classmethod
    def open(cls, spec: SourceSpec) -> SourceTree:
        """A folder (one path) or archives (a list of paths)."""
        if isinstance(spec, SourceTree):
            return spec
        if isinstance(spec, str | os.PathLike):
            return cls.from_folder(spec)
        return cls.from_archives(list(spec))

    # --- finding files ---------------------------------------------------------------------

    def get(self, tree_path: str) -> SourceFile | None:
        return self.files.get(tree_path)

    def folders(self) -> dict[str, list[str]]:
        """Folder tree path → tree paths of the files directly in it ("" is the top)."""
        if self._folders is None:
            folders: dict[str, list[str]] = {}
            for tree_path in sorted(self.files):
                parent = str(PurePosixPath(tree_path).parent)
                folders.setdefault("" if parent == "." else parent, []).append(tree_path)
                # Folders holding only folders are folders too.
                while parent not in (".", ""):
                    parent = str(PurePosixPath(parent).parent)
                    folders.setdefault("" if parent == "." else parent, [])
            for folder in self._empty_folders:
                folders.setdefault("" if folder == "." else folder, [])
            self._folders = folders
        return self._folders

    def in_folder(self, folder: str) -> list[SourceFile]:
        """The files directly in ``folder`` (a tree path), sorted."""
        return [self.files[p] for p in self.folders().get(folder, [])]

    def folders_named(self, name: str) -> list[str]:
        """Tree paths of the folders called ``name``, at any depth, sorted."""
        return sorted(f for f in self.folders() if f and PurePosixPath(f).name == name)

    def matching(self, predicate: Callable[[str], bool]) -> list[SourceFile]:
        """The files whose tree path satisfies ``predicate``, sorted by tree path."""
        return [self.files[p] for p in sorted(self.files) if predicate(p)]


# --- reading ---------------------------------------------------------------------------------

class _CorruptMember(Exception):
    """A zip member whose data is not what its directory entry says."""


_handles: dict[tuple[int, str], zipfile.ZipFile | tarfile.TarFile] = {}
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, OSError,
            _CorruptMember)


def read_bytes(file: SourceFile) -> bytes:
    """The file's content; BadImageError naming it when it cannot be read (a missing file, a
    corrupt or truncated member)."""
    if file.archive is None:
        try:
            return Path(file.member).read_bytes()
        except OSError as error:
            raise BadImageError(str(file), f"cannot be read: {error.strerror or error}") from None
    try:
        if file.zip_entry is not None:
            return _read_zip_entry(file)
        archive = _open(file.archive)
        if isinstance(archive, zipfile.ZipFile):
            return archive.read(file.member)
        stream = archive.extractfile(file.member)
        if stream is None:
            raise BadImageError(str(file), "is not a regular file in its archive")
        return stream.read()
    except KeyError:
        raise BadImageError(str(file), "is not in its archive") from None
    except _CORRUPT as error:
        raise BadImageError(str(file), f"cannot be read from its archive, which is corrupt or "
                            f"truncated there ({error})") from None


_DIRECT = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, …, name length, extra field length
_files: dict[tuple[int, str], BinaryIO] = {}


def _read_zip_entry(file: SourceFile) -> bytes:
    """A stored or deflated zip member read at its offset, checked against its size and CRC.

    Not zipfile's own reader: a ZipFile holds the archive's whole central directory, about
    60 MB and 0.7 s to parse per 100,000 members (measured here), and every worker would
    hold DeepLesion's 928,000 (over 500 MB each); the entry's offset from the listing is all
    a read needs.
    """
    offset, compressed, size, crc, method = file.zip_entry
    handle = _open_file(file.archive)
    handle.seek(offset)
    header = handle.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise _CorruptMember("no local file header where the directory says")
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    handle.seek(offset + _LOCAL_HEADER.size + name_length + extra_length)
    data = handle.read(compressed)
    if len(data) < compressed:
        raise _CorruptMember(f"{len(data)} of {compressed} bytes")
    if method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        data = inflater.decompress(data, size + 1) if size else inflater.decompress(data, 1)
    if len(data) != size or zlib.crc32(data) != crc:
        raise _CorruptMember("its size or CRC-32 does not match the directory")
    return data


def _open_file(archive: str) -> BinaryIO:
    key = (os.getpid(), archive)  # as in _open: each process its own offset
    if key not in _files:
        for stale in [k for k in _files if k[0] != key[0]]:
            del _files[stale]
        _files[key] = open(archive, "rb")  # noqa: SIM115 - kept for reuse
    return _files[key]


def _open(archive: str) -> zipfile.ZipFile | tarfile.TarFile:
    # One handle per archive and process: a handle inherited over fork shares its file
    # offset with the parent's, so each process opens its own.
    key = (os.getpid(), archive)
    if key not in _handles:
        for stale in [k for k in _handles if k[0] != key[0]]:
            del _handles[stale]
        if archive.lower().endswith(".zip"):
            _handles[key] = zipfile.ZipFile(archive)
        else:
            _handles[key] = tarfile.open(archive, "r:*")  # noqa: SIM115 - kept for reuse
    return _handles[key]


def _archive_members(path: Path) -> Iterator[tuple[str, PurePosixPath | None, ZipEntry | None]]:
    """(member name, tree-relative path or None to skip, zip entry) of the archive's regular
    files."""
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        entry = (info.header_offset, info.compress_size, info.file_size,
                                 info.CRC, info.compress_type)
                        direct = info.compress_type in _DIRECT and not info.flag_bits & 1
                        yield (info.filename, member_path(info.filename, path),
                               entry if direct else None)
            return
        with tarfile.open(path, "r:*") as archive:
            for member in archive.getmembers():
                if member.isfile():
                    yield member.name, member_path(member.name, path), None
                elif not member.isdir():
                    raise WeaklesionError(f"{path}: member {member.name!r} is a link or device "
                                          "file; only regular files and folders are read")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as error:
        raise WeaklesionError(f"{path}: corrupt or truncated archive ({error}); delete it and "
                              "download it again") from None
