"""The workflow as Snakemake runs it: outputs and logs, what a config change re-runs, and a
corrupt archive stopping everything downstream."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from workflow_helpers import (
    DATA_HALF_OUTPUTS,
    CompletedRun,
    copy_tree,
    copy_workflow,
    dry_run,
    run_snakemake,
    shared_demo_run,
    tiny_demo_config,
    write_config,
)

# Steps before clustering; a later-stage setting must never re-run them.
UPSTREAM_OF_CLUSTERS = {
    "make_demo_dataset", "verify_archives", "locate_source", "preprocess",
    "ellipse_targets",
}
OBTAIN_STEPS = {"make_demo_dataset", "verify_archives"}


@pytest.fixture(scope="session")
def completed_demo(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    return shared_demo_run(request.config, tmp_path_factory)


@pytest.fixture
def demo_tree(completed_demo: CompletedRun, tmp_path: Path) -> Path:
    """A private copy of the finished run, outputs and Snakemake's records included."""
    return copy_tree(completed_demo.workdir, tmp_path / "wf")


# --- the finished run --------------------------------------------------------------------


@pytest.mark.slow
def test_data_half_writes_every_output(completed_demo: CompletedRun):
    outputs = {path for job in completed_demo.jobs for path in job.paths("output")}
    assert set(DATA_HALF_OUTPUTS) <= outputs
    for path in outputs:
        target = completed_demo.workdir / path
        assert target.exists(), f"{path} was not written"
        if target.is_dir():
            assert any(p.is_file() for p in target.rglob("*")), f"{path} is an empty folder"
        else:
            assert target.stat().st_size > 0, f"{path} is empty"
    results = completed_demo.workdir / "results" / "demo"
    leftovers = [p.name for p in results.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, f"temporary files left behind: {leftovers}"


@pytest.mark.slow
def test_data_half_outputs_describe_the_same_lesions(completed_demo: CompletedRun):
    results = completed_demo.workdir / "results" / "demo" / "paper"
    ellipses = pd.read_parquet(results / "ellipses.parquet")
    clusters = pd.read_parquet(results / "clusters.parquet")
    split = pd.read_csv(results / "split.csv")
    lesions = set(ellipses["lesion_id"])
    assert len(lesions) == len(ellipses) > 0
    assert set(clusters["lesion_id"]) == lesions
    assert set(split["lesion_id"]) == lesions
    assert set(clusters["cluster"]) == set(range(3))  # k: 3 in the tiny config
    assert set(split["split"]) == {"train", "val", "test"}


@pytest.mark.slow
def test_every_job_logs_under_logs(completed_demo: CompletedRun):
    jobs = completed_demo.jobs
    assert {job.rule for job in jobs} >= {"make_demo_dataset", "verify_archives", "preprocess",
                                          "cluster_ellipses", "split_dataset"}
    for job in jobs:
        logs = job.paths("log")
        assert logs, f"rule {job.rule} declares no log"
        for log in logs:
            assert log.startswith("logs/"), f"rule {job.rule} logs to {log}, outside logs/"
            path = completed_demo.workdir / log
            assert path.is_file() and path.stat().st_size > 0, f"{job.rule}: {log} is empty"


def test_every_planned_job_declares_a_log_under_logs(tmp_path: Path):
    """All rules of the default target, trained models included, not just the data half.

    A model's training and evaluation logs live beside the model, in its results folder."""
    plan = dry_run(copy_workflow(tmp_path / "wf", tiny_demo_config()))
    jobs = [job for job in plan.jobs if job.rule != "all"]
    assert {job.rule for job in jobs} >= UPSTREAM_OF_CLUSTERS
    unlogged = sorted({job.rule for job in jobs if not job.paths("log")})
    assert not unlogged, f"rules without a log: {unlogged}"
    elsewhere = {job.rule: log for job in jobs for log in job.paths("log")
                 if not log.startswith("logs/") and not _beside_outputs(job, log)}
    assert not elsewhere, f"rules logging outside logs/ (one example each): {elsewhere}"


def _beside_outputs(job, log: str) -> bool:
    return any(Path(log).parent == Path(out).parent for out in job.paths("output"))


# --- what a change re-runs ---------------------------------------------------------------


@pytest.mark.slow
def test_nothing_to_do_after_a_complete_run(demo_tree: Path):
    plan = dry_run(demo_tree, *DATA_HALF_OUTPUTS)
    assert plan.stats == {}
    assert "Nothing to be done" in plan.output


@pytest.mark.slow
@pytest.mark.parametrize(("change", "reruns"), [
    pytest.param({"k": 4}, {"cluster_ellipses"}, id="k"),
    pytest.param({"cluster_seed": 1}, {"cluster_ellipses"}, id="cluster_seed"),
    pytest.param({"split": {"seed": 2}}, {"split_dataset"}, id="split-seed"),
])
def test_later_stage_setting_reruns_only_its_step(demo_tree: Path, change, reruns):
    write_config(demo_tree, tiny_demo_config(**change))
    plan = dry_run(demo_tree, *DATA_HALF_OUTPUTS)
    assert plan.stats == dict.fromkeys(reruns, 1)


@pytest.mark.slow
def test_changing_k_never_reruns_upstream_steps_of_the_default_target(demo_tree: Path):
    write_config(demo_tree, tiny_demo_config(k=4))
    plan = dry_run(demo_tree)
    assert "cluster_ellipses" in plan.rules
    assert not plan.rules & (UPSTREAM_OF_CLUSTERS | {"split_dataset"})


PER_PROTOCOL_DATA_STEPS = {"preprocess", "ellipse_targets", "split_dataset", "cluster_ellipses"}


@pytest.mark.slow
def test_adding_a_protocol_schedules_nothing_before_preprocessing(demo_tree: Path):
    """The raw data is obtained, verified and located once; the finished paper run stays."""
    write_config(demo_tree, {**tiny_demo_config(), "protocols": ["paper", "corrected"]})
    corrected = [path.replace("/paper/", "/corrected/") for path in DATA_HALF_OUTPUTS]
    plan = dry_run(demo_tree, *DATA_HALF_OUTPUTS, *corrected)
    assert plan.stats == dict.fromkeys(PER_PROTOCOL_DATA_STEPS, 1)
    assert {job.wildcards.get("protocol") for job in plan.jobs if job.rule != "all"} == {
        "corrected"}
    # The whole default target (this tree has only the data half: the paper models and
    # figures are still to be made, its data steps are not).
    whole = dry_run(demo_tree)
    assert not whole.rules & (OBTAIN_STEPS | {"locate_source"})
    redone = [job for job in whole.jobs
              if job.rule in PER_PROTOCOL_DATA_STEPS and job.wildcards["protocol"] == "paper"]
    assert not redone


@pytest.mark.slow
def test_changing_the_protocol_reruns_only_what_follows_preprocessing(demo_tree: Path):
    write_config(demo_tree, tiny_demo_config(protocol="corrected"))
    plan = dry_run(demo_tree, *(p.replace("/paper/", "/corrected/") for p in DATA_HALF_OUTPUTS))
    assert plan.stats == dict.fromkeys(PER_PROTOCOL_DATA_STEPS, 1)


# --- a corrupt archive -------------------------------------------------------------------


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def md5_facts(data: bytes, expected: dict[str, str]) -> list[str]:
    return [hashlib.md5(data).hexdigest(), expected["md5"]]


def size_facts(data: bytes, expected: dict[str, str]) -> list[str]:
    return [f"{len(data)} bytes", f"{expected['size']} bytes"]


@pytest.mark.slow
@pytest.mark.parametrize(("corrupt", "facts"), [
    pytest.param(flip_middle_byte, md5_facts, id="flipped-byte"),
    pytest.param(truncate, size_facts, id="truncated"),
])
def test_corrupt_archive_stops_the_workflow_at_verification(tmp_path: Path, corrupt, facts):
    workdir = copy_workflow(tmp_path / "wf", tiny_demo_config())
    archives = workdir / "resources" / "demo" / "archives"
    generated = run_snakemake(workdir, "resources/demo/archives/manifest.tsv")
    assert generated.returncode == 0, generated.stdout

    name = "HAM10000_images_part_2.zip"
    with (archives / "manifest.tsv").open(newline="") as handle:
        expected = next(row for row in csv.DictReader(handle, delimiter="\t")
                        if row["name"] == name)
    corrupt(archives / name)
    wanted = [f"resources/demo/archives/{name}", *facts((archives / name).read_bytes(), expected)]

    result = run_snakemake(workdir, *DATA_HALF_OUTPUTS)

    assert result.returncode != 0
    log = (workdir / "logs" / "demo" / "verify_archives.log").read_text()
    for text in (result.stdout, log):
        missing = [fact for fact in wanted if fact not in text]
        assert not missing, f"{missing} not in:\n{text}"
    results = workdir / "results" / "demo"
    written = sorted(p.name for p in results.iterdir()) if results.exists() else []
    assert not written, f"verification failed but {written} were written"
    assert not (workdir / "resources" / "demo" / "unpacked").exists()
