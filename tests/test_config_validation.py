"""Bad configs fail before any work, naming the key or value; the paper's config plans."""

from __future__ import annotations

import csv
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_helpers import (
    DATA_HALF_OUTPUTS,
    REPO_ROOT,
    CompletedRun,
    copy_tree,
    copy_workflow,
    dry_run,
    parse_jobs,
    run_snakemake,
    shared_demo_run,
    tiny_demo_config,
    write_config,
)


@pytest.fixture(scope="session")
def completed_demo(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    return shared_demo_run(request.config, tmp_path_factory)


def with_top_level(**keys):
    return {**tiny_demo_config(), **keys}


def lits_without_path():
    return {"datasets": {"mylits": {"format": "lits", "k": 40}}}


# Each config, and what the error must say so that the user finds the culprit.
BAD_CONFIGS = {
    "unknown top-level key": (with_top_level(dataset={"x": 1}), ["'dataset' was unexpected"]),
    "unknown dataset key": (tiny_demo_config(kk=3),
                            ["'kk' was unexpected", "['datasets']['demo']"]),
    "wrong type": (tiny_demo_config(k="many"),
                   ["'many' is not of type 'integer'", "['datasets']['demo']['k']"]),
    "k below 2": (tiny_demo_config(k=1), ["['datasets']['demo']['k']", "minimum of 2"]),
    "unknown format": (tiny_demo_config(format="dicom"),
                       ["'dicom' is not one of", "['datasets']['demo']['format']"]),
    "lits without path": (lits_without_path(), ["datasets.mylits.path", "'lits'"]),
    "no datasets": ({"datasets": {}}, ["['datasets']"]),
    "unknown protocol": (with_top_level(protocols=["paper", "faithful"]),
                         ["'faithful' is not one of", "['protocols']"]),
    "protocol twice": (with_top_level(protocols=["paper", "paper"]),
                       ["has non-unique elements", "['protocols']"]),
    "protocol and protocols": (tiny_demo_config(protocol="paper", protocols=["corrected"]),
                               ["datasets.demo: give either protocol or protocols"]),
    "unknown precision": (with_top_level(train={"precision": "fp16"}),
                          ["'fp16' is not one of", "['train']['precision']"]),
    "validation batch of 0": (with_top_level(gpus={"validation_batch_size": 0}),
                              ["['gpus']['validation_batch_size']", "minimum of 1"]),
    "fast path not a boolean": (with_top_level(gpus={"fused_pairs": "yes"}),
                                ["'yes' is not of type 'boolean'", "['gpus']['fused_pairs']"]),
    "released model unknown": (tiny_demo_config(released={"A2": "ham_a2.pt"}),
                               ["'A2' was unexpected", "['datasets']['demo']['released']"]),
}


@pytest.mark.parametrize(("config", "expected"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path: Path, config, expected):
    workdir = copy_workflow(tmp_path / "wf", config)
    result = run_snakemake(workdir, "--dry-run")
    assert result.returncode != 0
    missing = [text for text in expected if text not in result.stdout]
    assert not missing, f"{missing} not in the error:\n{result.stdout}"
    assert "Job stats:" not in result.stdout


@pytest.mark.slow
def test_k_above_the_number_of_lesions_fails_clustering(completed_demo: CompletedRun,
                                                        tmp_path: Path):
    workdir = copy_tree(completed_demo.workdir, tmp_path / "wf")
    n_lesions = len(pd.read_parquet(workdir / "results" / "demo" / "paper" / "ellipses.parquet"))
    write_config(workdir, tiny_demo_config(k=n_lesions + 1))

    result = run_snakemake(workdir, *DATA_HALF_OUTPUTS)

    assert result.returncode != 0
    message = f"datasets.demo.k = {n_lesions + 1} is larger than the number of lesions " \
              f"({n_lesions})"
    assert message in result.stdout
    assert message in (workdir / "logs" / "demo" / "paper" / "cluster_ellipses.log").read_text()
    # The outputs of the k that worked must not stay behind looking up to date.
    assert not (workdir / "results" / "demo" / "paper" / "clusters.parquet").exists()
    assert not (workdir / "results" / "demo" / "paper" / "centroids.csv").exists()


# --- config/paper.yaml -------------------------------------------------------------------

PAPER_DATASETS = {"ham10k", "lits", "deeplesion"}


def manifest_rows(name: str) -> int:
    text = (resources.files("weaklesion.raw") / "manifests" / f"{name}.tsv").read_text()
    return sum(1 for row in csv.DictReader(text.splitlines(), delimiter="\t") if row["name"])


def paper_workdir(tmp_path: Path) -> Path:
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copy2(REPO_ROOT / "config" / "paper.yaml", workdir / "config" / "config.yaml")
    return workdir


def test_paper_config_plans_downloads_and_every_dataset(tmp_path: Path):
    """Without the data the plan still builds: HAM10000 and DeepLesion are downloaded, LiTS
    (login only) is read from its `path`, and each dataset goes through every data step."""
    plan = dry_run(paper_workdir(tmp_path))
    stats = plan.stats
    assert stats["download_archive"] == manifest_rows("ham10000") + manifest_rows("deeplesion")
    assert stats["verify_archives"] == 2
    assert "unpack_archives" not in stats  # the archives are read in place
    # The raw files are located once per dataset, and processed once per protocol.
    assert stats["locate_source"] == len(PAPER_DATASETS)
    for rule in ("preprocess", "ellipse_targets", "cluster_ellipses", "split_dataset"):
        assert stats[rule] == 2 * len(PAPER_DATASETS), rule
        runs = {(job.wildcards["dataset"], job.wildcards["protocol"])
                for job in plan.jobs if job.rule == rule}
        assert runs == {(d, p) for d in PAPER_DATASETS for p in ("paper", "corrected")}, rule
    grabcut = {(job.wildcards["dataset"], job.wildcards["protocol"])
               for job in plan.jobs if job.rule == "grabcut_targets"}
    # DeepLesion's only evaluation target, as it has no masks.
    assert grabcut == {("deeplesion", "paper"), ("deeplesion", "corrected")}
    # fp32, as the released code trained.
    assert yaml.safe_load((REPO_ROOT / "config" / "paper.yaml").read_text())["train"][
        "precision"] == "fp32"
    downloads = {job.wildcards["dataset"] for job in plan.jobs if job.rule == "download_archive"}
    assert downloads == {"ham10k", "deeplesion"}


def test_paper_config_as_documented_plans_only_the_paper_datasets(tmp_path: Path):
    """`--configfile config/paper.yaml`, as its header says to run it, with the demo config
    left in place as the Snakefile's default."""
    workdir = copy_workflow(tmp_path / "wf")
    result = run_snakemake(workdir, "--dry-run", "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stdout
    planned = {job.wildcards["dataset"] for job in parse_jobs(result.stdout)
               if "dataset" in job.wildcards}
    # Snakemake merges --configfile into the Snakefile's `configfile:` key by key, so the
    # demo's datasets (and its `train` settings, e.g. epochs) would leak into the paper's run.
    assert planned == PAPER_DATASETS, f"planned for datasets {sorted(planned)}"


def test_released_config_as_documented_imports_and_evaluates_without_training(tmp_path: Path):
    """`--configfile config/released.yaml` with the three files in place: HAM10000 is
    downloaded and prepared under protocol paper only, each file imported and evaluated, and
    nothing trained."""
    workdir = copy_workflow(tmp_path / "wf")
    released = yaml.safe_load((REPO_ROOT / "config" / "released.yaml").read_text())
    files = released["datasets"]["ham10k"]["released"]
    assert files == {"A1": "resources/checkpoints/ham_a1.pt",
                     "A1+L": "resources/checkpoints/ham_a1class.pt",
                     "ACoseg": "resources/checkpoints/ham_coseg.pt"}
    for path in files.values():
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).write_bytes(b"placed by the user")
    result = run_snakemake(workdir, "--dry-run", "--configfile", "config/released.yaml")
    assert result.returncode == 0, result.stdout
    jobs = parse_jobs(result.stdout)
    rules = {job.rule for job in jobs}
    assert not rules & {"train_model", "evaluate_model", "fetch_encoder_weights"}
    assert {(job.wildcards["model"], job.wildcards["protocol"]) for job in jobs
            if job.rule == "evaluate_released"} == {(m, "paper") for m in files}
    assert {job.wildcards["protocol"] for job in jobs if job.rule == "preprocess"} == {"paper"}
    assert "make_tables" in rules and "download_archive" in rules


@pytest.mark.slow
def test_paper_lits_without_its_files_fails_at_once_naming_the_folder(tmp_path: Path):
    workdir = paper_workdir(tmp_path)
    result = run_snakemake(workdir, "results/lits/source_files.tsv")
    assert result.returncode != 0
    assert "resources/lits/raw" in result.stdout
    assert "volume-0.nii" in result.stdout and "segmentation-0.nii" in result.stdout
    assert not (workdir / "results" / "lits" / "source_files.tsv").exists()
