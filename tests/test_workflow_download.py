"""The obtain stage through Snakemake: archives fetched over HTTP from a local server, verified
against their manifest, unpacked and read by the HAM10000 adapter — the real download path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from http_fixture_server import FixtureServer
from workflow_helpers import copy_workflow, run_snakemake

from weaklesion.datasets.demo import DEMO_FILES, write_demo_dataset


@pytest.fixture(scope="module")
def served_archives(tmp_path_factory):
    """The demo's HAM10000-layout files served on 127.0.0.1, and a manifest pointing at them."""
    source = tmp_path_factory.mktemp("served")
    write_demo_dataset(source, n_images=12, width=160, height=120)
    with FixtureServer() as server:
        rows = []
        for name in DEMO_FILES:
            body = (source / name).read_bytes()
            rows.append({"name": name, "size": len(body), "md5": hashlib.md5(body).hexdigest(),
                         "url": server.add(f"/files/{name}", body)})
        yield server, pd.DataFrame(rows)


def workflow_with_manifest(workdir: Path, manifest: pd.DataFrame) -> Path:
    manifest_file = workdir.parent / "manifest.tsv"
    manifest.to_csv(manifest_file, sep="\t", index=False)
    config = {"datasets": {"web": {"format": "ham10000", "k": 3, "protocol": "corrected",
                                   "manifest": str(manifest_file)}}}
    return copy_workflow(workdir, config)


@pytest.mark.slow
def test_archives_are_downloaded_verified_and_read(served_archives, tmp_path):
    server, manifest = served_archives
    workdir = workflow_with_manifest(tmp_path / "wf", manifest)
    result = run_snakemake(workdir, "results/web/source_files.tsv")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    verified = pd.read_csv(workdir / "results/web/archives.tsv", sep="\t")
    assert list(verified["name"]) == list(DEMO_FILES)
    assert (verified["md5"] == verified["expected_md5"]).all()
    assert not verified["hashed_now"].any()  # each MD5 as the download computed it
    assert len(pd.read_csv(workdir / "results/web/source_files.tsv", sep="\t")) == 12
    for name in DEMO_FILES:
        assert len(server.requests_for(f"/files/{name}")) >= 1
        log = workdir / f"logs/web/download/{name}.log"
        assert "downloaded and verified" in log.read_text()

    # Present files are never fetched again.
    before = len(server.requests)
    again = run_snakemake(workdir, "results/web/source_files.tsv")
    assert again.returncode == 0 and len(server.requests) == before


@pytest.mark.slow
def test_a_wrong_checksum_stops_before_anything_downstream(served_archives, tmp_path):
    _, manifest = served_archives
    manifest = manifest.copy()
    manifest.loc[0, "md5"] = "0" * 32
    workdir = workflow_with_manifest(tmp_path / "wf", manifest)
    result = run_snakemake(workdir, "results/web/source_files.tsv")
    assert result.returncode != 0
    log = (workdir / f"logs/web/download/{DEMO_FILES[0]}.log").read_text()
    assert DEMO_FILES[0] in log and "0" * 32 in log
    assert not (workdir / "resources/web/archives" / DEMO_FILES[0]).exists()
    assert not (workdir / "results/web/archives.tsv").exists()
