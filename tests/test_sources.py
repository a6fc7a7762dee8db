"""Datasets read from their archives in place (weaklesion.raw.sources) give what their unpacked
copies give, byte for byte, and a bad member is named by archive and member."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from fixtures_deeplesion import series_name, write_deeplesion_fixture
from workflow_helpers import (
    DATA_HALF_OUTPUTS,
    copy_workflow,
    job_stats,
    run_snakemake,
    tiny_demo_config,
)

from weaklesion.datasets.demo import DEMO_FILES, IMAGE_ARCHIVES, write_demo_dataset
from weaklesion.datasets.preprocess import preprocess, source_listing
from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.raw.sources import SourceFile, SourceTree, read_bytes
from weaklesion.raw.unpack import unpack
from weaklesion.weak_labels.targets import write_ellipse_targets

N_DEMO = 16
DL_PATIENTS = 3


def zip_tree(folder: Path, archive: Path, *, under: str = "") -> Path:
    """Zip every file below ``folder`` as ``under/<relative path>`` (deflated)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            zipped.write(path, f"{under}{path.relative_to(folder).as_posix()}")
    return archive


def write_deeplesion_archives(tmp_path: Path) -> tuple[list[Path], Path]:
    """DeepLesion as NIH ships it: one Images_png_NN.zip per patient here, each holding
    Images_png/<series>/NNN.png, and DL_info.csv beside them; and the unpacked copy."""
    raw = write_deeplesion_fixture(tmp_path / "raw", n_patients=DL_PATIENTS)
    archives = tmp_path / "archives"
    archives.mkdir()
    paths = [zip_tree(raw / "Images_png" / series_name(patient),
                      archives / f"Images_png_{patient:02d}.zip",
                      under=f"Images_png/{series_name(patient)}/")
             for patient in range(1, DL_PATIENTS + 1)]
    paths.append(Path(shutil.copy2(raw / "DL_info.csv", archives / "DL_info.csv")))
    return paths, unpack(paths, tmp_path / "unpacked", progress=False)


def write_demo_archives(tmp_path: Path) -> tuple[list[Path], Path]:
    out = tmp_path / "archives"
    write_demo_dataset(out, n_images=N_DEMO, width=160, height=120, seed=3)
    paths = [out / name for name in DEMO_FILES]
    return paths, unpack(paths, tmp_path / "unpacked", progress=False)


LAYOUTS = {"demo": write_demo_archives, "deeplesion": write_deeplesion_archives}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def layout(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(request.param)
    paths, unpacked = LAYOUTS[request.param](tmp_path)
    return request.param, paths, unpacked


def test_archives_and_their_unpacked_copy_hold_the_same_files(layout):
    _, paths, unpacked = layout
    in_place, folder = SourceTree.from_archives(paths), SourceTree.from_folder(unpacked)
    assert sorted(in_place.files) == sorted(folder.files)
    for tree_path, file in in_place.files.items():
        assert read_bytes(file) == (unpacked / tree_path).read_bytes(), tree_path
    assert in_place.root is None and folder.root == unpacked


def run_data_half(tmp_path: Path, fmt: str, root, protocol: str, workers: int) -> Path:
    out = tmp_path / "out"
    preprocess(fmt=fmt, root=root, settings={"protocol": protocol, "on_bad_image": "fail"},
               dataset="ds",
               data_h5=out / "data.h5", excluded_csv=out / "excluded.csv", workers=workers)
    write_ellipse_targets(out / "data.h5", out / "ellipses.parquet", out / "targets.h5")
    return out


@pytest.mark.parametrize("protocol", ["paper", "corrected"])
def test_data_half_is_byte_identical_from_archives_and_from_unpacked(layout, protocol,
                                                                     tmp_path):
    fmt, paths, unpacked = layout
    # Two workers for the archives: each forked worker must open its own handles.
    from_archives = run_data_half(tmp_path / "archives", fmt, paths, protocol, workers=2)
    from_folder = run_data_half(tmp_path / "folder", fmt, unpacked, protocol, workers=1)
    for name in ("data.h5", "excluded.csv", "ellipses.parquet", "targets.h5"):
        assert (from_archives / name).read_bytes() == (from_folder / name).read_bytes(), name


def test_listing_names_archive_and_member_of_every_item(tmp_path):
    paths, unpacked = write_deeplesion_archives(tmp_path)
    listing = source_listing("deeplesion", paths, {"protocol": "paper"})
    assert listing["item_id"].is_unique and listing["item_id"].str.len().min() > 0
    assert listing["key_file"].str.fullmatch(
        r".*/Images_png_0\d\.zip:Images_png/\d{6}_01_01/\d{3}\.png").all()
    assert listing["series"].str.fullmatch(r".*/Images_png_0\d\.zip:Images_png/\d{6}_01_01/").all()
    unpacked_listing = source_listing("deeplesion", unpacked, {"protocol": "paper"})
    assert list(unpacked_listing["item_id"]) == list(listing["item_id"])
    demo_paths, _ = write_demo_archives(tmp_path / "demo")
    demo = source_listing("demo", demo_paths, {"protocol": "paper"})
    assert demo["image"].str.fullmatch(r".*HAM10000_images_part_[12]\.zip:ISIC_\d{7}\.jpg").all()
    assert demo["item_id"].tolist() == sorted(demo["item_id"])


def damage_member(archive: Path, member: str) -> None:
    """Flip bytes in the middle of one member's compressed data (the CRC then fails)."""
    with zipfile.ZipFile(archive) as zipped:
        info = zipped.getinfo(member)
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    archive.write_bytes(bytes(data))


def test_a_corrupt_member_is_excluded_naming_archive_and_member(tmp_path):
    paths, _ = write_demo_archives(tmp_path)
    archive = paths[0]
    member = zipfile.ZipFile(archive).namelist()[1]
    damage_member(archive, member)
    shown = f"{archive}:{member}"
    out = tmp_path / "out"
    settings = {"protocol": "paper", "on_bad_image": "skip"}
    preprocess(fmt="demo", root=paths, settings=settings, dataset="ds",
               data_h5=out / "data.h5", excluded_csv=out / "excluded.csv", workers=2)
    excluded = pd.read_csv(out / "excluded.csv", dtype=str, keep_default_na=False)
    row = excluded.set_index("source").loc[shown]
    assert "corrupt or truncated" in row["reason"]
    assert row["lesion_id"] == Path(member).stem
    with pytest.raises(BadImageError, match="corrupt or truncated") as error:
        preprocess(fmt="demo", root=paths, settings={"protocol": "paper", "on_bad_image": "fail"},
                   dataset="ds",
                   data_h5=tmp_path / "again" / "data.h5",
                   excluded_csv=tmp_path / "again" / "excluded.csv")
    assert error.value.source == shown
    assert not (tmp_path / "again" / "data.h5").exists()


def test_a_member_that_went_missing_is_named(tmp_path):
    paths, _ = write_demo_archives(tmp_path)
    file = SourceTree.from_archives(paths).in_folder(IMAGE_ARCHIVES[0].removesuffix(".zip"))[0]
    gone = SourceFile(file.tree_path, file.archive, file.member + ".not-there")
    with pytest.raises(BadImageError, match="is not in its archive") as error:
        read_bytes(gone)
    assert error.value.source == str(gone)


def test_a_truncated_archive_is_refused_naming_it(tmp_path):
    paths, _ = write_demo_archives(tmp_path)
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])  # the central directory is gone
    with pytest.raises(WeaklesionError, match="corrupt or truncated archive") as error:
        SourceTree.from_archives(paths)
    assert str(paths[0]) in str(error.value)
    assert "download it again" in str(error.value)


def test_a_missing_archive_is_named(tmp_path):
    paths, _ = write_demo_archives(tmp_path)
    paths[1].unlink()
    with pytest.raises(MissingFilesError, match=f"{paths[1]} does not exist"):
        SourceTree.from_archives(paths)


def test_tar_archives_are_read_in_place_too(tmp_path):
    paths, unpacked = write_deeplesion_archives(tmp_path)
    tarred = tmp_path / "Images_png.tar.gz"
    with tarfile.open(tarred, "w:gz") as archive:
        archive.add(unpacked / "Images_png", "Images_png")
    tree = SourceTree.from_archives([tarred, paths[-1]])
    assert sorted(tree.files) == sorted(SourceTree.from_folder(unpacked).files)
    out = run_data_half(tmp_path / "tar", "deeplesion", tree, "paper", workers=2)
    reference = run_data_half(tmp_path / "folder", "deeplesion", unpacked, "paper", workers=1)
    assert (out / "data.h5").read_bytes() == (reference / "data.h5").read_bytes()


def test_lits_from_archives_says_to_unpack(tmp_path):
    paths, _ = write_demo_archives(tmp_path)
    with pytest.raises(WeaklesionError, match="LiTS is read from a folder"):
        source_listing("lits", paths, {"protocol": "paper"})


def test_workflow_outputs_are_byte_identical_with_and_without_unpacking(tmp_path):
    """The demo's data half, read in place (the default: no unpack job, no unpacked copy) and
    with `unpack: true` (extracted first): every output file the same."""
    outputs = {}
    for unpack_first in (False, True):
        config = {**tiny_demo_config(unpack=unpack_first), "protocols": ["paper", "corrected"]}
        workdir = copy_workflow(tmp_path / f"unpack-{unpack_first}", config)
        result = run_snakemake(workdir, *DATA_HALF_OUTPUTS, "results/demo/corrected/split.csv")
        assert result.returncode == 0, result.stdout[-3000:]
        assert ("unpack_archives" in job_stats(result.stdout)) == unpack_first
        assert (workdir / "resources/demo/unpacked").exists() == unpack_first
        results = workdir / "results" / "demo"
        outputs[unpack_first] = {p.relative_to(results).as_posix(): p.read_bytes()
                                 for p in sorted(results.rglob("*")) if p.is_file()}
    assert sorted(outputs[False]) == sorted(outputs[True])
    differing = [name for name in outputs[False]
                 if name != "source_files.tsv" and outputs[False][name] != outputs[True][name]]
    assert differing == []
    assert len(outputs[False]) >= 9  # archives.tsv, and data.h5 … split.csv per protocol
    in_place = outputs[False]["source_files.tsv"].decode()
    assert "resources/demo/archives/HAM10000_images_part_1.zip:ISIC_" in in_place
    assert "resources/demo/unpacked/HAM10000_images_part_1/ISIC_" in (
        outputs[True]["source_files.tsv"].decode())


def test_stored_and_deflated_members_are_read_without_a_central_directory(tmp_path,
                                                                         monkeypatch):
    """Workers read members at the offsets the listing found; none parses the directory
    (for DeepLesion's 928,000 members that would cost each worker over 500 MB)."""
    archive = tmp_path / "mixed.zip"
    contents = {f"d/{i:03d}.bin": bytes(range(i % 256)) * (i + 1) for i in range(40)}
    contents["d/empty.bin"] = b""
    with zipfile.ZipFile(archive, "w") as zipped:
        for index, (name, data) in enumerate(sorted(contents.items())):
            zipped.writestr(name, data, zipfile.ZIP_DEFLATED if index % 2 else zipfile.ZIP_STORED)
        zipped.writestr("d/bz2.bin", b"bzip2 " * 100, zipfile.ZIP_BZIP2)
    tree = SourceTree.from_archives([archive])

    def no_directory(*args, **kwargs):
        raise AssertionError("read through zipfile.ZipFile")

    monkeypatch.setattr(zipfile, "ZipFile", no_directory)
    for name, data in contents.items():
        assert read_bytes(tree.get(name)) == data
    monkeypatch.undo()
    assert read_bytes(tree.get("d/bz2.bin")) == b"bzip2 " * 100  # through zipfile
