"""Property-based tests of the image, mask and NIfTI readers on odd encodings and cut-off files.

Every file gives either the right array or a BadImageError naming the file — never another
exception and never a silently altered mask. PNGs in the colour types OpenCV cannot write
(palette, grey + alpha, 1-bit) are written chunk by chunk here.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pytest
from fixtures_folder import write_folder_fixture
from fixtures_ham import write_ham_fixture
from fixtures_lits import volume_arrays, write_lits_fixture, write_nifti
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from weaklesion import PATCH_SIZE
from weaklesion.datasets.folder import FolderAdapter
from weaklesion.datasets.ham10000 import Ham10000Adapter
from weaklesion.datasets.imaging import read_binary_mask, read_rgb, whole_image_patch
from weaklesion.datasets.lits import LitsAdapter
from weaklesion.errors import BadImageError
from weaklesion.evaluation.folder_scoring import read_mask
from weaklesion.raw.sources import SourceTree

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SETTINGS = {"protocol": "paper", "on_bad_image": "fail"}


# --- PNG, chunk by chunk -----------------------------------------------------------------------

GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6  # PNG colour types


def png_bytes(pixels: np.ndarray, colour_type: int, bit_depth: int = 8, *,
              palette: bytes = b"", transparency: bytes = b"", claimed_size=None) -> bytes:
    """A PNG of ``pixels`` (rows, cols[, samples]): 1-, 8- or 16-bit, any colour type; its
    header may claim another ``(rows, cols)``."""
    rows, cols = pixels.shape[:2]
    if bit_depth == 1:
        scanlines = np.packbits(pixels.astype(np.uint8), axis=1)
    elif bit_depth == 16:
        scanlines = pixels.astype(">u2").reshape(rows, -1).view(np.uint8)
    else:
        scanlines = pixels.astype(np.uint8).reshape(rows, -1)
    raw = b"".join(b"\x00" + line.tobytes() for line in scanlines)  # filter type 0 per row
    claimed_rows, claimed_cols = claimed_size or (rows, cols)
    header = struct.pack(">IIBBBBB", claimed_cols, claimed_rows, bit_depth, colour_type, 0, 0, 0)
    chunks = [(b"IHDR", header), (b"PLTE", palette), (b"tRNS", transparency),
              (b"IDAT", zlib.compress(raw)), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
        if data or kind in (b"IHDR", b"IDAT", b"IEND")
    )


def grey(mask: np.ndarray, on: int) -> np.ndarray:
    return mask.astype(np.int64) * on


def channels(*planes: np.ndarray) -> np.ndarray:
    return np.stack(planes, axis=-1)


BLACK_WHITE = bytes([0, 0, 0, 255, 255, 255])
ALWAYS, IF_FOREGROUND = "always", "if the mask has foreground"


@dataclass(frozen=True)
class Encoding:
    name: str
    encode: Callable[[np.ndarray], bytes]
    refused: str = ""  # "", ALWAYS or IF_FOREGROUND

    def should_refuse(self, mask: np.ndarray) -> bool:
        return self.refused == ALWAYS or (self.refused == IF_FOREGROUND and bool(mask.any()))


ENCODINGS = [
    Encoding("grey 0/255", lambda m: png_bytes(grey(m, 255), GREY)),
    Encoding("grey 0/1", lambda m: png_bytes(grey(m, 1), GREY)),
    Encoding("grey 1-bit", lambda m: png_bytes(grey(m, 1), GREY, 1)),
    Encoding("grey 16-bit 0/65535", lambda m: png_bytes(grey(m, 65535), GREY, 16)),
    Encoding("grey 16-bit 0/255", lambda m: png_bytes(grey(m, 255), GREY, 16)),
    Encoding("grey 16-bit 0/1", lambda m: png_bytes(grey(m, 1), GREY, 16)),
    Encoding("grey + opaque alpha",
             lambda m: png_bytes(channels(grey(m, 255), np.full(m.shape, 255)), GREY_ALPHA)),
    Encoding("grey + alpha = grey",
             lambda m: png_bytes(channels(grey(m, 255), grey(m, 255)), GREY_ALPHA)),
    Encoding("RGB grey", lambda m: png_bytes(channels(*[grey(m, 255)] * 3), RGB)),
    Encoding("RGB 16-bit grey", lambda m: png_bytes(channels(*[grey(m, 65535)] * 3), RGB, 16)),
    Encoding("RGBA opaque",
             lambda m: png_bytes(channels(*[grey(m, 255)] * 3, np.full(m.shape, 255)), RGBA)),
    Encoding("RGBA alpha = mask", lambda m: png_bytes(channels(*[grey(m, 255)] * 4), RGBA)),
    Encoding("palette black/white",
             lambda m: png_bytes(grey(m, 1), PALETTE, palette=BLACK_WHITE)),
    Encoding("palette 1-bit", lambda m: png_bytes(grey(m, 1), PALETTE, 1, palette=BLACK_WHITE)),
    Encoding("palette 0/1 grey",
             lambda m: png_bytes(grey(m, 1), PALETTE, palette=bytes([0, 0, 0, 1, 1, 1]))),
    Encoding("palette, background transparent", lambda m: png_bytes(
        grey(m, 1), PALETTE, palette=BLACK_WHITE, transparency=bytes([0, 255]))),
    Encoding("palette, opaque tRNS", lambda m: png_bytes(
        grey(m, 1), PALETTE, palette=BLACK_WHITE, transparency=bytes([255, 255]))),
    # Refused: not a lesion mask, or not one that can be read without guessing.
    Encoding("grey 0/128", lambda m: png_bytes(grey(m, 128), GREY), IF_FOREGROUND),
    Encoding("grey 16-bit 0/300", lambda m: png_bytes(grey(m, 300), GREY, 16), IF_FOREGROUND),
    Encoding("grey 0/1/255", lambda m: png_bytes(
        np.where(m, np.arange(m.size).reshape(m.shape) % 2 * 254 + 1, 0), GREY), IF_FOREGROUND),
    Encoding("RGB red", lambda m: png_bytes(
        channels(grey(m, 255), np.zeros(m.shape), np.zeros(m.shape)), RGB), IF_FOREGROUND),
    Encoding("palette red", lambda m: png_bytes(
        grey(m, 1), PALETTE, palette=bytes([0, 0, 0, 255, 0, 0])), IF_FOREGROUND),
    Encoding("palette, foreground transparent", lambda m: png_bytes(
        grey(m, 1), PALETTE, palette=BLACK_WHITE, transparency=bytes([255, 0])), IF_FOREGROUND),
    Encoding("RGBA half transparent", lambda m: png_bytes(
        channels(*[grey(m, 255)] * 3, np.full(m.shape, 128)), RGBA), ALWAYS),
]

small_masks = st.tuples(st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1),
                        st.floats(0, 1)).map(
    lambda args: np.random.default_rng(args[2]).random(args[:2]) < args[3])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_readers")


def assert_names(error: BadImageError, path: Path) -> None:
    assert error.source == str(path)
    assert str(path) in str(error)


# --- masks in every encoding ---------------------------------------------------------------


@FUZZ
@given(small_masks, st.sampled_from(ENCODINGS))
def test_a_mask_reads_back_exactly_or_is_refused_naming_the_file(scratch, mask, encoding):
    path = scratch / "mask file.png"
    path.write_bytes(encoding.encode(mask))
    if encoding.should_refuse(mask):
        with pytest.raises(BadImageError) as raised:
            read_binary_mask(path)
        assert_names(raised.value, path)
        return
    read = read_binary_mask(path)
    assert read.dtype == bool
    np.testing.assert_array_equal(read, mask)


@FUZZ
@given(small_masks, st.sampled_from(ENCODINGS), st.floats(0, 1, exclude_max=True))
@example(mask=np.ones((3, 4), bool), encoding=ENCODINGS[0], keep=0.0)  # zero bytes
def test_a_cut_off_mask_is_refused_naming_the_file_or_reads_back_whole(
    scratch, mask, encoding, keep
):
    # scoring.read_mask is the same reader under the name the scoring command uses.
    assert read_mask is read_binary_mask
    data = encoding.encode(mask)
    path = scratch / "cut.png"
    path.write_bytes(data[: int(len(data) * keep)])
    try:
        read = read_mask(path)
    except BadImageError as error:
        assert_names(error, path)
        return
    # Only a cut into the trailing end chunk leaves every pixel in place.
    assert not encoding.should_refuse(mask)
    np.testing.assert_array_equal(read, mask)


UNREADABLE = {
    "empty.png": b"",
    "empty.jpg": b"",
    "header only.png": b"\x89PNG\r\n\x1a\n",
    "jpeg start.jpg": b"\xff\xd8\xff",
    "html.png": b"<html>login required</html>",
    # A header claiming 100,000 x 100,000 pixels: OpenCV refuses it with an exception.
    "bomb.png": png_bytes(np.zeros((1, 1)), GREY, claimed_size=(100_000, 100_000)),
}


@pytest.mark.parametrize("reader", [read_rgb, read_binary_mask])
@pytest.mark.parametrize("name", UNREADABLE)
def test_unreadable_files_are_refused_naming_the_file(scratch, reader, name):
    path = scratch / name
    path.write_bytes(UNREADABLE[name])
    with pytest.raises(BadImageError) as raised:
        reader(path)
    assert_names(raised.value, path)


def test_a_folder_is_not_an_image(scratch):
    folder = scratch / "a folder.png"
    folder.mkdir(exist_ok=True)
    for reader in (read_rgb, read_binary_mask):
        with pytest.raises(BadImageError) as raised:
            reader(folder)
        assert_names(raised.value, folder)


# --- whole-image patches -------------------------------------------------------------------


@FUZZ
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["blob", "empty", "full", "single pixel", "speckle"]),
       st.sampled_from([e for e in ENCODINGS if not e.refused]))
def test_whole_image_patch_is_the_block_average_of_the_mask_or_refuses_it(
    scratch, rows_factor, cols_factor, seed, kind, encoding
):
    # Whole multiples of 120 px make area resizing a plain block average, known exactly.
    rows, cols = PATCH_SIZE * rows_factor, PATCH_SIZE * cols_factor
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, cols), bool)
    if kind == "blob":
        ys, xs = np.indices((rows, cols))
        mask = (xs - rng.uniform(0, cols)) ** 2 + (ys - rng.uniform(0, rows)) ** 2 <= (
            rng.uniform(2, 200) ** 2)
    elif kind == "full":
        mask[:] = True
    elif kind == "single pixel":
        mask[rng.integers(rows), rng.integers(cols)] = True
    elif kind == "speckle":
        mask = rng.random((rows, cols)) < 0.3
    image = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
    image_path, mask_path = scratch / "image.png", scratch / "mask.png"
    assert cv2.imwrite(str(image_path), image)
    mask_path.write_bytes(encoding.encode(mask))
    blocks = mask.reshape(PATCH_SIZE, rows_factor, PATCH_SIZE, cols_factor).mean(axis=(1, 3))
    expected = blocks >= 0.5
    if not expected.any():
        with pytest.raises(BadImageError, match="mask is empty") as raised:
            whole_image_patch(image_path, mask_path)
        assert_names(raised.value, mask_path)
        return
    patch, patch_mask, full_mask = whole_image_patch(image_path, mask_path)
    assert patch.shape == (PATCH_SIZE, PATCH_SIZE, 3) and patch.dtype == np.uint8
    np.testing.assert_array_equal(patch_mask, expected)
    np.testing.assert_array_equal(full_mask, mask)


# --- cut-off files through the dataset adapters ----------------------------------------------


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    root = tmp_path_factory.mktemp("ham")
    images = write_ham_fixture(root, n_images=2)
    adapter = Ham10000Adapter()
    (item, *_) = [i for i in adapter.list_items(root, SETTINGS) if i.image_id == images[0].image_id]
    return adapter, item, images[0].image_path(root), images[0].mask_path(root)


def assert_cut_file_is_refused_or_changes_nothing(load, path: Path, keep: float, source: str):
    intact = path.read_bytes()
    expected = load()
    try:
        path.write_bytes(intact[: int(len(intact) * keep)])
        result = load()
    except BadImageError as error:
        assert error.source == source
        assert source in str(error)
        return
    finally:
        path.write_bytes(intact)
    assert len(result.lesions) == len(expected.lesions)
    for got, wanted in zip(result.lesions, expected.lesions, strict=True):
        np.testing.assert_array_equal(got.image, wanted.image)
        np.testing.assert_array_equal(got.mask, wanted.mask)


@FUZZ
@given(st.sampled_from(["image", "mask"]), st.floats(0, 1, exclude_max=True))
@example(which="image", keep=0.0)  # zero bytes
@example(which="mask", keep=0.0)
def test_ham10000_cut_off_jpeg_or_mask_is_refused_naming_it(ham, which, keep):
    adapter, item, image_path, mask_path = ham
    path = image_path if which == "image" else mask_path
    assert_cut_file_is_refused_or_changes_nothing(
        lambda: adapter.load(item, SETTINGS), path, keep, str(path))


def zip_folder(folder: Path, archive: Path, replaced: dict[str, bytes] | None = None) -> None:
    """Zip the files of ``folder`` (names relative to it), some contents replaced."""
    replaced = replaced or {}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            zipped.writestr(name, replaced.get(name, path.read_bytes()))


@pytest.fixture(scope="module")
def ham_archives(tmp_path_factory):
    """HAM10000 as downloaded (three zips and the csv), read in place; the first image's
    archive, member and intact bytes."""
    root = tmp_path_factory.mktemp("ham-archives")
    images = write_ham_fixture(root / "tree", n_images=2)
    (root / "archives").mkdir()
    paths = [Path(shutil.copy2(root / "tree" / "HAM10000_metadata.csv", root / "archives"))]
    for folder in sorted(p for p in (root / "tree").iterdir() if p.is_dir()):
        paths.append(root / "archives" / f"{folder.name}.zip")
        zip_folder(folder, paths[-1])
    adapter = Ham10000Adapter()
    item = next(i for i in adapter.list_items(paths, SETTINGS)
                if i.image_id == images[0].image_id)
    image_folder = root / "tree" / item.image.tree_path.split("/")[0]
    return adapter, item, image_folder, item.image.member


def fresh_archive_path(archive: str) -> Path:
    """A new path for a changed copy of ``archive``, with its file name: each process keeps
    the archives it read open by path, so a changed archive must not reuse one."""
    archive = Path(archive)
    return Path(tempfile.mkdtemp(dir=archive.parent)) / archive.name


def reading_from(item, archive: Path):
    """``item`` with its image read from ``archive`` (a changed copy of its own)."""
    return dataclasses.replace(
        item, image=SourceTree.from_archives([archive]).get(item.image.tree_path))


@FUZZ
@given(st.floats(0, 1, exclude_max=True))
@example(keep=0.0)
def test_ham10000_cut_off_member_of_an_archive_is_refused_naming_archive_and_member(
        ham_archives, keep):
    adapter, item, folder, member = ham_archives
    intact = (folder / member).read_bytes()
    expected = adapter.load(item, SETTINGS)
    archive = fresh_archive_path(item.image.archive)
    zip_folder(folder, archive, {member: intact[: int(len(intact) * keep)]})
    try:
        result = adapter.load(reading_from(item, archive), SETTINGS)
    except BadImageError as error:
        assert error.source == f"{archive}:{member}"
        assert error.source in str(error)
        return
    np.testing.assert_array_equal(result.lesions[0].image, expected.lesions[0].image)


@FUZZ
@given(st.floats(0, 1, exclude_max=True), st.integers(1, 255))
def test_ham10000_damaged_member_bytes_are_refused_naming_archive_and_member(
        ham_archives, where, flip):
    """A byte of the member's compressed data changed in the archive: refused, as its CRC
    fails, unless the change leaves the content as it was (a deflate block's final-block bit
    on the stream's last block, say)."""
    adapter, item, folder, member = ham_archives
    expected = adapter.load(item, SETTINGS)
    with zipfile.ZipFile(item.image.archive) as zipped:
        info = zipped.getinfo(member)
    intact = Path(item.image.archive).read_bytes()
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    at = start + int(info.compress_size * where)
    damaged = bytearray(intact)
    damaged[at] ^= flip
    archive = fresh_archive_path(item.image.archive)
    archive.write_bytes(bytes(damaged))
    try:
        result = adapter.load(reading_from(item, archive), SETTINGS)
    except BadImageError as error:
        assert error.source == f"{archive}:{member}"
        assert error.source in str(error)
        return
    with zipfile.ZipFile(io.BytesIO(bytes(damaged))) as zipped:
        assert zipped.read(member) == (folder / member).read_bytes()
    np.testing.assert_array_equal(result.lesions[0].image, expected.lesions[0].image)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    cases = write_folder_fixture(root, n_images=2)  # case_00 is a PNG, case_01 a JPEG
    adapter = FolderAdapter()
    return adapter, adapter.list_items(root, SETTINGS), cases, root


@FUZZ
@given(st.sampled_from([0, 1]), st.sampled_from(["image", "mask"]),
       st.floats(0, 1, exclude_max=True))
@example(index=0, which="image", keep=0.0)  # zero bytes
@example(index=1, which="image", keep=0.0)
def test_folder_cut_off_png_jpeg_or_mask_is_refused_naming_it(folder, index, which, keep):
    adapter, items, cases, root = folder
    path = cases[index].image_path(root) if which == "image" else cases[index].mask_path(root)
    assert_cut_file_is_refused_or_changes_nothing(
        lambda: adapter.load(items[index], SETTINGS), path, keep, str(path))


@pytest.fixture(scope="module")
def lits(tmp_path_factory):
    adapter, found = LitsAdapter(), {}
    for compressed in (False, True):
        root = write_lits_fixture(tmp_path_factory.mktemp("lits"), numbers=[0],
                                  compressed=compressed)
        (item,) = adapter.list_items(root, SETTINGS)
        found[compressed] = (root, item)
    return adapter, found


@FUZZ
@given(st.booleans(), st.sampled_from(["volume", "segmentation"]),
       st.one_of(st.floats(0, 1, exclude_max=True), st.floats(0.999, 1, exclude_max=True)))
@example(compressed=False, which="volume", keep=0.0)  # zero bytes
@example(compressed=True, which="segmentation", keep=0.0)
def test_lits_cut_off_nifti_is_refused_naming_it(lits, compressed, which, keep):
    # .nii.gz cut inside its 8-byte trailer still holds every voxel: that reads back whole.
    adapter, found = lits
    root, item = found[compressed]
    relative = item.volume if which == "volume" else item.segmentation
    assert_cut_file_is_refused_or_changes_nothing(
        lambda: adapter.load(item, SETTINGS), root / relative, keep, relative)


@pytest.mark.parametrize(
    ("odd", "where"),
    [(1.5, "on slice 1"), (np.nan, "on slice 1"), (2.0001, "from 0 to 2.0001"),
     (-0.0001, "from -0.0001 to 2")],
)
def test_lits_float_labels_that_are_not_0_1_2_are_refused_naming_the_slice(tmp_path, odd, where):
    # A segmentation resampled with interpolation: fractions at every tumour edge.
    hu, labels = volume_arrays(0)
    floats = labels.astype(np.float32)
    floats[30, 40, 1] = odd  # inside the first tumour, on slice 1
    write_nifti(tmp_path / "volume-0.nii", hu)
    write_nifti(tmp_path / "segmentation-0.nii", floats)
    adapter = LitsAdapter()
    (item,) = adapter.list_items(tmp_path, SETTINGS)
    refusal = r"labels must be 0 \(background\), 1 \(liver\) or 2 \(tumour\)"
    with pytest.raises(BadImageError, match=refusal) as raised:
        adapter.load(item, SETTINGS)
    assert raised.value.source == "segmentation-0.nii"
    assert where in str(raised.value)


@pytest.mark.parametrize("scaled", [False, True])
def test_lits_float_or_scaled_labels_of_0_1_2_read_like_integers(tmp_path, scaled):
    hu, labels = volume_arrays(0)
    write_nifti(tmp_path / "int" / "volume-0.nii", hu)
    write_nifti(tmp_path / "int" / "segmentation-0.nii", labels)
    write_nifti(tmp_path / "float" / "volume-0.nii", hu)
    stored = nib.Nifti1Image(labels.astype(np.float32) * (4 if scaled else 1), np.eye(4))
    if scaled:
        stored.header.set_slope_inter(0.25, 0.0)
    stored.to_filename(tmp_path / "float" / "segmentation-0.nii")
    adapter = LitsAdapter()
    results = [adapter.load(adapter.list_items(tmp_path / kind, SETTINGS)[0], SETTINGS)
               for kind in ("int", "float")]
    assert len(results[0].lesions) == len(results[1].lesions) > 0
    for a, b in zip(results[0].lesions, results[1].lesions, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)
