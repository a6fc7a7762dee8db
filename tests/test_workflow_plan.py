"""What the workflow plans from a config (weaklesion.workflow.plan), without Snakemake: the
targets, each job's inputs and settings, and the sizes a scheduler is told."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from workflow_helpers import validated

from weaklesion import layout
from weaklesion.datasets import adapter_class
from weaklesion.datasets.demo import DEMO_FILES
from weaklesion.errors import ConfigError
from weaklesion.workflow import resources
from weaklesion.workflow.plan import FIGURES, Plan

CONFIG = {
    "protocols": ["paper", "corrected"],
    "datasets": {
        "demo": {"format": "demo", "k": 6, "ablations": {"k": [3, 6, 12]}},
        "dl": {"format": "deeplesion", "protocol": "corrected"},
        "mine": {"format": "folder", "path": "data/mine", "target": "grabcut", "unpack": True},
    },
    "models": ["A1", "A1+L"],
    "seeds": [0, 1],
    "train": {"encoder": "resnet18", "encoder_weights": "imagenet"},
}


@pytest.fixture(scope="module")
def plan():
    return Plan(validated(CONFIG))


def job(**wildcards):
    return SimpleNamespace(**wildcards)


def test_targets_cover_every_run_figure_and_table(plan):
    targets = set(plan.all_targets())
    for model in ("A1", "A1+L"):
        for seed in (0, 1):
            assert f"results/demo/paper/{model}/seed{seed}/summary.json" in targets
            assert f"results/dl/corrected/{model}/seed{seed}/summary.json" in targets
    assert "results/dl/paper/A1/seed0/summary.json" not in targets  # dl: corrected only
    # k = 6 is the default run: only k = 3 and 12 are ablated, and only A1+L trains again.
    assert {t for t in targets if "/ablations/" in t} == {
        f"results/demo/{p}/ablations/k-{k}/A1+L/seed{s}/summary.json"
        for p in ("paper", "corrected") for k in (3, 12) for s in (0, 1)}
    assert {f"results/figures/demo/paper/{name}.png" for name in FIGURES} <= targets
    assert "results/figures/demo/paper/ablation_k.png" in targets
    assert "results/figures/dl/corrected/ablation_k.png" not in targets
    assert {"results/tables/paper_table.md", "results/tables/comparisons.md",
            "results/figures/mine/comparisons.png"} <= targets
    # GrabCut only where it is a target or the reference of a dataset without masks.
    assert "results/dl/corrected/grabcut.h5" in targets
    assert "results/mine/paper/grabcut.h5" in targets
    assert "results/demo/paper/grabcut.h5" not in targets


def test_every_planned_run_file_is_read_back_as_the_same_run(plan):
    for path in plan.summaries() + plan.run_metrics():
        run = layout.parse_run(path)
        assert str(run.path(path.rsplit("/", 1)[1])) == path
    assert len(plan.run_metrics()) == len(plan.summaries()) + 8


def test_formats_fill_their_defaults(plan):
    assert plan.datasets["dl"]["k"] == adapter_class("deeplesion").default_k == 190
    assert plan.datasets["dl"]["source"] == "archives"
    assert plan.datasets["dl"]["manifest"] == "deeplesion"
    assert plan.datasets["demo"]["source"] == "generated"
    assert plan.datasets["mine"]["source"] == "path"
    assert plan.datasets["demo"]["split"] == {"train": 0.7, "val": 0.2, "test": 0.1, "seed": 1}


def test_raw_files_by_source(plan):
    demo, mine = job(dataset="demo"), job(dataset="mine")
    assert plan.archives(demo) == [f"resources/demo/archives/{n}" for n in DEMO_FILES]
    assert plan.manifest_file(demo) == "resources/demo/archives/manifest.tsv"
    assert plan.raw_inputs(demo) == {"verified": "results/demo/archives.tsv",
                                     "archives": plan.archives(demo)}
    assert len(plan.archive_names("dl")) == 57  # 56 image zips and DL_info.csv
    entry = plan.manifest_entry(job(dataset="dl", archive="Images_png_01.zip"))
    assert entry["name"] == "Images_png_01.zip" and len(entry["md5"]) == 32
    with pytest.raises(ValueError, match="not in the manifest of dl"):
        plan.manifest_entry(job(dataset="dl", archive="other.zip"))
    assert plan.raw_root(mine) == "data/mine" and plan.raw_inputs(mine) == {}
    assert "k" not in plan.source_settings(demo)
    assert plan.preprocess_settings(job(dataset="demo", protocol="corrected"))["protocol"] == (
        "corrected")


def test_a_k_ablation_trains_on_its_own_clusters_with_its_own_k(plan):
    ablated = job(dataset="demo", protocol="paper", variant="k-3", model="A1+L", seed="1")
    default = job(dataset="demo", protocol="paper", model="A1+L", seed="1")
    assert plan.setting("k")(ablated) == 3 and plan.setting("k")(default) == 6
    assert plan.training_inputs(ablated) == {
        "data": "results/demo/paper/data.h5", "targets": "results/demo/paper/targets.h5",
        "clusters": "results/demo/paper/ablations/k-3/clusters.parquet",
        "split": "results/demo/paper/split.csv",
        "weights": "resources/weights/resnet18.imagenet.pt"}
    assert plan.training_inputs(default)["clusters"] == "results/demo/paper/clusters.parquet"
    assert plan.checkpoint_folder(ablated) == (
        "results/demo/paper/ablations/k-3/A1+L/seed1/checkpoints")
    assert plan.expected_checkpoint(ablated) == {"name": "A1+L", "encoder": "resnet18",
                                                 "num_clusters": 3}
    settings = plan.training_settings(ablated)
    assert settings["k"] == 3 and settings["protocol"] == "paper"
    assert "protocols" not in settings and "ablations" not in settings


def test_grabcut_target_and_a_dataset_without_masks(plan):
    mine = job(dataset="mine", protocol="corrected", model="A1", seed="0")
    assert plan.training_inputs(mine)["targets"] == "results/mine/corrected/grabcut.h5"
    dl = job(dataset="dl", protocol="corrected", model="A1", seed="0")
    assert plan.evaluation_inputs(dl)["reference"] == "results/dl/corrected/grabcut.h5"
    assert plan.evaluated_set(dl) == {"split": "test", "reference": "grabcut",
                                      "whole_batches_of": None}
    assert plan.figure_reference(dl) == "results/dl/corrected/grabcut.h5"
    assert plan.figure_reference_name(dl) == "grabcut"
    demo = job(dataset="demo", protocol="paper", model="A1", seed="0")
    assert plan.evaluation_inputs(demo)["reference"] == "results/demo/paper/data.h5"
    assert plan.figure_reference_name(demo) == "mask"


@pytest.mark.parametrize(("weights", "expected"), [
    ("imagenet", "resources/weights/resnet18.imagenet.pt"),
    ("weights/mine.pth", "weights/mine.pth"),
    (None, None),
])
def test_encoder_weights_are_a_preset_fetched_once_or_the_users_file(weights, expected):
    config = {**CONFIG, "train": {**CONFIG["train"], "encoder_weights": weights}}
    plan = Plan(validated(config))
    assert plan.encoder_weights_file() == expected
    inputs = plan.training_inputs(job(dataset="demo", protocol="paper", model="A1", seed="0"))
    assert inputs.get("weights") == expected


def test_the_figures_read_every_run_or_each_models_first_seed(plan):
    demo = job(dataset="demo", protocol="corrected")
    assert plan.run_files("history.csv")(demo) == [
        f"results/demo/corrected/{m}/seed{s}/history.csv" for m in ("A1", "A1+L")
        for s in (0, 1)]
    assert plan.run_files("test_predictions.h5", first_seed=True)(demo) == [
        "results/demo/corrected/A1/seed0/test_predictions.h5",
        "results/demo/corrected/A1+L/seed0/test_predictions.h5"]
    ablation = job(dataset="demo", protocol="paper", setting="k")
    assert plan.ablation_metrics(ablation) == (
        [f"results/demo/paper/A1+L/seed{s}/metrics.parquet" for s in (0, 1)]
        + [f"results/demo/paper/ablations/k-{k}/A1+L/seed{s}/metrics.parquet"
           for k in (3, 12) for s in (0, 1)])
    assert plan.ablation_default(ablation) == 6
    assert plan.ablation_defaults() == {"demo": {"k": 6}, "dl": {}, "mine": {}}
    assert plan.formats() == {"demo": "demo", "dl": "deeplesion", "mine": "folder"}


def test_jobs_are_sized_from_the_expected_lesions(plan):
    dl = job(dataset="dl", protocol="corrected", model="A1+L")
    lesions = adapter_class("deeplesion").release_lesions
    assert plan.lesions(dl) == lesions
    assert plan.in_memory_mb(dl) == resources.in_memory_mb(lesions) > 4000
    assert plan.training_priority(dl) == resources.training_priority(lesions, "A1+L")
    assert plan.training_runtime(dl) == resources.training_runtime_minutes(lesions, "A1+L", 50)
    demo = job(dataset="demo")
    assert plan.lesions(demo) == 300  # the demo's default size
    assert plan.preprocess_mem_mb(job(dataset="mine")) < resources.preprocess_mem_mb(
        adapter_class("lits").worker_memory_mb)


RELEASED = {"A1": "checkpoints/ham_a1.pt", "ACoseg": "checkpoints/ham_coseg.pt"}


def released_plan(models=("A1", "A1+L")) -> Plan:
    config = {"protocols": ["paper", "corrected"], "models": list(models),
              "datasets": {"ham": {"format": "ham10000", "released": RELEASED}}}
    return Plan(validated(config))


def test_released_models_are_imported_and_evaluated_under_protocol_paper_only():
    plan = released_plan()
    expected = [f"results/ham/paper/{model}/released/summary.json" for model in RELEASED]
    assert plan.released_summaries() == expected
    assert set(expected) <= set(plan.all_targets())
    assert plan.summaries()[-2:] == expected  # the paper table's input
    assert not [t for t in plan.all_targets() if "corrected" in t and "released" in t]
    released = job(dataset="ham", protocol="paper", model="ACoseg")
    assert plan.evaluation_inputs(released)["model"] == "results/ham/paper/ACoseg/released/model.pt"
    assert plan.expected_checkpoint(released) == {"name": "ACoseg"}  # its own encoder and k
    assert plan.evaluated_set(released) == plan.evaluated_set(job(
        dataset="ham", protocol="paper", model="ACoseg", seed="0"))
    assert plan.dataset_format(released) == "ham10000"
    trained = job(dataset="ham", protocol="paper", model="A1", seed="1")
    assert plan.evaluation_inputs(trained)["model"] == "results/ham/paper/A1/seed1/model.pt"
    # Adding released models to a finished run leaves its training jobs' params as they were.
    assert "released" not in plan.training_settings(trained)


def test_a_released_file_is_looked_up_where_the_workflow_runs(tmp_path, monkeypatch):
    plan = released_plan()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"datasets\.ham\.released\.A1: "
                                          r"checkpoints/ham_a1\.pt is not a file"):
        plan.check_released_files()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints/ham_a1.pt").write_bytes(b"weights")
    with pytest.raises(ConfigError, match=r"released\.ACoseg: checkpoints/ham_coseg\.pt"):
        plan.check_released_files()
    (tmp_path / "checkpoints/ham_coseg.pt").write_bytes(b"weights")
    plan.check_released_files()
    assert plan.released_file(job(dataset="ham", protocol="paper", model="A1")) == (
        "checkpoints/ham_a1.pt")


def test_released_models_need_the_paper_protocol():
    config = {"datasets": {"ham": {"format": "ham10000", "protocol": "corrected",
                                   "released": RELEASED}}}
    with pytest.raises(ConfigError, match=r"datasets\.ham\.released: .*add paper"):
        Plan(validated(config))


def test_released_models_alone_train_nothing_and_draw_only_the_data_figures():
    targets = released_plan(models=()).all_targets()
    assert not [t for t in targets if "/seed" in t]
    figures = {t for t in targets if t.startswith("results/figures/")}
    assert figures == {f"results/figures/ham/{protocol}/{name}.png"
                       for protocol in ("paper", "corrected")
                       for name in ("clusters", "cluster_parameters")}
    assert "results/tables/paper_table.md" in targets
