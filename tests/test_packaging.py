"""The environment is locked (every package pinned with hashes, the same for pip and conda),
and the package ships its data."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from workflow_helpers import REPO_ROOT

from weaklesion.raw.manifest import read_manifest

CONDA_ENV = REPO_ROOT / "envs" / "weaklesion.yaml"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")
# Conda packages that build the environment rather than being dependencies of the code.
CONDA_TOOLING = {"python", "pip"}

PACKAGE_DATA = (
    "raw/manifests/ham10000.tsv",
    "raw/manifests/deeplesion.tsv",
    "analysis/published_table.csv",
    "splits/lits_split/tr_ind.npy",
    "splits/lits_split/val_ind.npy",
    "splits/lits_split/test_ind.npy",
)


def parse_pin(line: str, where: str) -> tuple[str, str]:
    match = _PIN.match(line.strip())
    assert match, f"{where}: {line!r} is not an exact pin (name==version)"
    return canonicalize_name(match.group(1)), match.group(2)


def requirement_pins(path: Path) -> dict[str, str]:
    """Pins of a requirements file, following ``-r`` includes."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(requirement_pins(path.parent / line[3:].strip()))
            continue
        name, version = parse_pin(line, f"{path.name}, line {number}")
        assert name not in pins, f"{path.name}, line {number}: {name} pinned twice"
        pins[name] = version
    return pins


def lock_pins(path: Path) -> dict[str, str]:
    """Pins of a file ``make lock`` writes: its ``name==version \\`` lines, without hashes
    and comments."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().removesuffix("\\").strip()
        if line and not line.startswith("--"):
            name, version = parse_pin(line, f"{path.name}, line {number}")
            pins[name] = version
    return pins


def conda_env() -> dict:
    return yaml.safe_load(CONDA_ENV.read_text())


def conda_pins() -> dict[str, str]:
    """Versions the conda environment fixes: its pip section and its conda packages."""
    pins: dict[str, str] = {}
    for dependency in conda_env()["dependencies"]:
        if isinstance(dependency, dict):
            for line in dependency["pip"]:
                if not line.startswith("-e "):
                    name, version = parse_pin(line, f"{CONDA_ENV.name}, pip")
                    pins[name] = version
        else:
            name, _, version = dependency.partition("=")
            if name not in CONDA_TOOLING:
                pins[canonicalize_name(name)] = version.lstrip("=")
    return pins


def conda_spec(name: str) -> str:
    specs = [d for d in conda_env()["dependencies"]
             if isinstance(d, str) and d.partition("=")[0] == name]
    assert len(specs) == 1, f"{CONDA_ENV.name} must list {name} once, found {specs}"
    return specs[0].partition("=")[2].lstrip("=")


# --- pins --------------------------------------------------------------------------------


def test_conda_env_pins_exactly_the_lock():
    assert conda_pins() == lock_pins(REPO_ROOT / "requirements.lock")


@pytest.mark.parametrize(("direct", "lock"), [
    ("requirements.txt", "requirements.lock"),
    ("requirements-dev.txt", "requirements-dev.lock"),
])
def test_the_lock_holds_every_direct_pin_with_hashes(direct, lock):
    pins = requirement_pins(REPO_ROOT / direct)
    locked = lock_pins(REPO_ROOT / lock)
    assert {name: locked.get(name) for name in pins} == pins
    text = (REPO_ROOT / lock).read_text()
    assert text.count("--hash=sha256:") >= len(locked)
    assert "file://" not in text and "/opt/" not in text  # nothing of this machine's disk


def test_conda_env_python_satisfies_requires_python():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    python = conda_spec("python")
    assert SpecifierSet(project["requires-python"]).contains(python), python


def test_conda_env_installs_this_repository():
    editable = [line for d in conda_env()["dependencies"] if isinstance(d, dict)
                for line in d["pip"] if line.startswith("-e ")]
    assert len(editable) == 1
    # pip resolves the path against the environment file's folder.
    target = (CONDA_ENV.parent / editable[0][3:].strip()).resolve()
    assert target == REPO_ROOT.resolve()


def test_installed_versions_are_the_locked_ones():
    pins = lock_pins(REPO_ROOT / "requirements-dev.lock")
    installed = {name: importlib.metadata.version(name) for name in pins}
    assert installed == pins


# --- package data ------------------------------------------------------------------------


@pytest.mark.parametrize("name", PACKAGE_DATA)
def test_package_data_is_installed(name):
    resource = resources.files("weaklesion").joinpath(name)
    assert resource.is_file(), f"weaklesion/{name} is not in the installed package"
    assert len(resource.read_bytes()) > 0


def test_lits_split_lists_have_the_papers_sizes_and_cover_every_patch():
    folder = resources.files("weaklesion.splits") / "lits_split"
    parts = {name: np.load(folder / f"{name}_ind.npy") for name in ("tr", "val", "test")}
    assert {name: len(ids) for name, ids in parts.items()} == {
        "tr": 11_522, "val": 3_310, "test": 1_630,
    }
    every = np.concatenate(list(parts.values()))
    assert np.issubdtype(every.dtype, np.integer)
    # Disjoint, and together exactly the 16,462 patches that remain after filtering.
    np.testing.assert_array_equal(np.sort(every), np.arange(16_462))


def test_ham10000_manifest_describes_the_dataverse_release():
    manifest = resources.files("weaklesion.raw") / "manifests" / "ham10000.tsv"
    with resources.as_file(manifest) as path:
        entries = {entry.name: entry for entry in read_manifest(path)}
    assert set(entries) == {
        "HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip",
        "HAM10000_segmentations_lesion_tschandl.zip", "HAM10000_metadata.csv",
    }
    masks = entries["HAM10000_segmentations_lesion_tschandl.zip"]
    assert (masks.size, masks.md5) == (10_808_743, "6e8d252e09cfdb0189199f15985a5b84")
    file_ids = {name: re.search(r"/datafile/(\d+)", entry.url).group(1)
                for name, entry in entries.items()}
    assert file_ids == {
        "HAM10000_images_part_1.zip": "3172585", "HAM10000_images_part_2.zip": "3172584",
        "HAM10000_segmentations_lesion_tschandl.zip": "3838943",
        "HAM10000_metadata.csv": "4338392",
    }


def test_deeplesion_manifest_lists_all_56_image_zips_with_checksums():
    manifest = resources.files("weaklesion.raw") / "manifests" / "deeplesion.tsv"
    with resources.as_file(manifest) as path:
        entries = read_manifest(path)
    zips = [e for e in entries if e.name.startswith("Images_png_")]
    assert [e.name for e in zips] == [f"Images_png_{i:02d}.zip" for i in range(1, 57)]
    assert all(e.md5 and e.url for e in zips)
    assert len({e.md5 for e in zips}) == 56
    assert "DL_info.csv" in {e.name for e in entries}


def test_published_table_has_every_dataset_and_model():
    with resources.as_file(resources.files("weaklesion.analysis") / "published_table.csv") as p:
        table = pd.read_csv(p)
    assert sorted(zip(table["dataset"], table["model"], strict=True)) == sorted(
        (d, m) for d in ("ham10k", "lits", "deeplesion") for m in ("A1", "A1+L", "ACoseg")
    )
    metrics = ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff")
    columns = [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    assert set(columns) <= set(table.columns)
    assert table[columns].notna().all().all()
    assert (table[columns] >= 0).all().all()


# --- the built distribution --------------------------------------------------------------


def test_console_script_resolves():
    scripts = importlib.metadata.entry_points(group="console_scripts", name="weaklesion")
    assert len(scripts) == 1
    assert callable(next(iter(scripts)).load())


@pytest.mark.slow
def test_wheel_ships_every_data_file_of_the_package(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "weaklesion", source / "weaklesion",
                    ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False,
    )
    assert build.returncode == 0, build.stdout
    (wheel,) = (tmp_path / "dist").glob("weaklesion-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    package_files = {
        path.relative_to(source).as_posix()
        for path in (source / "weaklesion").rglob("*") if path.is_file()
    }
    missing = sorted(package_files - shipped)
    assert not missing, f"not in the wheel: {missing}"
    assert {f"weaklesion/{name}" for name in PACKAGE_DATA} <= shipped
