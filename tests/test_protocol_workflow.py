"""``protocol: paper`` through the workflow: the released code's test inputs written in the
datasets' on-disk formats (tests/fixtures_released.py), run by Snakemake, and its outputs held
against the released outputs with the figures of tests/test_protocol_parity.py; and the
metrics through ``weaklesion evaluate`` on PNG masks."""

from __future__ import annotations

import logging

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from fixtures_released import (
    lits_lesion_id,
    write_deeplesion_dataset,
    write_ham_dataset,
    write_lits_dataset,
)
from paper_metric_vectors import load as load_metric_vectors
from reference_vectors import load
from test_protocol_parity import angle_difference, mean_iou
from workflow_helpers import copy_workflow, run_snakemake

from weaklesion.cli import main
from weaklesion.datasets.patch_store import as_levels, read_arrays, read_table
from weaklesion.ellipses.fitting import ELLIPSE_COLUMNS

TARGET_CASES = 40  # of the 200 DeepLesion target cases; the 30 GrabCut cases come after them


def outputs(dataset: str, *names: str) -> list[str]:
    return [f"results/{dataset}/paper/{name}" for name in names]


@pytest.fixture(scope="module")
def vectors():
    return {name: load(name) for name in ("ham10000", "lits", "deeplesion")}


@pytest.fixture(scope="module")
def workflow(vectors, tmp_path_factory):
    """The three datasets, written from the vectors, run up to their targets and clusters."""
    root = tmp_path_factory.mktemp("released")
    ham_ids = write_ham_dataset(root / "ham", vectors["ham10000"])
    write_lits_dataset(root / "lits", vectors["lits"])
    dl = vectors["deeplesion"]
    recist = np.concatenate([dl["recist"][:TARGET_CASES], dl["gc_recist"]])
    write_deeplesion_dataset(root / "dl", recist,
                             [None] * TARGET_CASES + [image[..., 0] for image in dl["gc_image"]])
    config = {
        "protocols": ["paper"],
        "datasets": {
            "ham": {"format": "ham10000", "path": str(root / "ham"), "k": 3},
            "lits": {"format": "lits", "path": str(root / "lits"), "k": 3},
            "dl": {"format": "deeplesion", "path": str(root / "dl"), "k": 3},
        },
    }
    workdir = copy_workflow(root / "wf", config)
    targets = [*outputs("ham", "targets.h5", "ellipses.parquet"),
               *outputs("lits", "targets.h5", "clusters.parquet"),
               *outputs("dl", "targets.h5", "grabcut.h5")]
    result = run_snakemake(workdir, *targets)
    assert result.returncode == 0, result.stdout[-4000:]
    return workdir / "results", ham_ids


@pytest.mark.slow
def test_ham10000_through_the_workflow(workflow, vectors):
    results, ham_ids = workflow
    ham = vectors["ham10000"]
    folder = results / "ham" / "paper"
    table = read_table(folder / "data.h5")
    assert list(table["lesion_id"]) == ham_ids  # all 30 kept: the released fits all succeed
    features = table[ELLIPSE_COLUMNS].to_numpy(np.float64)
    assert np.abs(features[:, :4] - ham["kmeans_features"][:, :4]).max() <= 0.1
    assert angle_difference(features[:, 4], ham["kmeans_features"][:, 4]).max() <= 0.5
    targets = read_arrays(folder / "targets.h5", ["ellipse"])["ellipse"]
    measured = mean_iou(targets, ham["target120"])
    print(f"HAM10000 through the workflow: target IoU {measured:.4f}")
    assert measured >= 0.97
    stored = read_arrays(folder / "data.h5", ["mask", "image"])
    np.testing.assert_array_equal(stored["mask"], ham["gt120"].astype(bool))
    # Stored RGB; the released code fed these BGR arrays (channel_order follows the protocol).
    count = len(ham["image120_bgr"])
    np.testing.assert_array_equal(stored["image"][:count, :, :, ::-1], ham["image120_bgr"])


@pytest.mark.slow
def test_lits_through_the_workflow(workflow, vectors):
    results, _ = workflow
    lits = vectors["lits"]
    folder = results / "lits" / "paper"
    ids = [lits_lesion_id(s, c) for s, c in zip(lits["comp_slice"], lits["comp_label"],
                                                 strict=True)]
    kept = [lesion_id for lesion_id, keep in zip(ids, lits["kept"], strict=True) if keep]
    table = read_table(folder / "data.h5")
    assert sorted(table["lesion_id"]) == sorted(kept)
    targets = as_levels(read_arrays(folder / "targets.h5", ["ellipse"])["ellipse"]) / 255
    expected = {lesion_id: target for lesion_id, target in zip(ids, lits["target120"],
                                                               strict=True)}
    differences = [np.abs(target - expected[lesion_id]).mean()
                   for lesion_id, target in zip(table["lesion_id"], targets, strict=True)]
    print(f"LiTS through the workflow: soft targets mean |difference| {np.mean(differences):.5f}")
    assert np.mean(differences) <= 0.02
    gt = read_arrays(folder / "data.h5", ["mask"])["mask"]
    for lesion_id, mask in zip(table["lesion_id"], gt, strict=True):
        np.testing.assert_array_equal(mask, lits["gt120"][ids.index(lesion_id)].astype(bool))
    # Item 6: every kept lesion takes the label of the ellipse table's row at its position.
    clusters = pd.read_parquet(folder / "clusters.parquet")
    with h5py.File(folder / "data.h5", "r") as h5:
        table_ids = [i.decode() for i in h5["cluster_table/lesion_id"][:]]
    assert list(clusters["label_of"]) == table_ids[:len(clusters)]
    assert list(clusters["label_of"]) != list(clusters["lesion_id"])  # misaligned


@pytest.mark.slow
def test_deeplesion_through_the_workflow(workflow, vectors):
    results, _ = workflow
    dl = vectors["deeplesion"]
    folder = results / "dl" / "paper"
    table = read_table(folder / "data.h5")
    assert len(table) == TARGET_CASES + len(dl["gc_recist"])
    features = table[ELLIPSE_COLUMNS].to_numpy(np.float64)
    np.testing.assert_allclose(features[:TARGET_CASES], dl["features"][:TARGET_CASES],
                               rtol=0, atol=1e-3)
    targets = read_arrays(folder / "targets.h5", ["ellipse"])["ellipse"]
    target_iou = mean_iou(targets[:TARGET_CASES], dl["target"][:TARGET_CASES])
    assert target_iou >= 0.95
    np.testing.assert_array_equal(read_arrays(folder / "data.h5", ["image"])["image"][
        TARGET_CASES:], dl["gc_image"])
    assert mean_iou(targets[TARGET_CASES:], dl["gc_ellipse"]) >= 0.95
    grabcut = read_arrays(folder / "grabcut.h5", ["grabcut"])["grabcut"]
    grabcut_iou = mean_iou(grabcut[TARGET_CASES:], dl["gc_target"])
    print(f"DeepLesion through the workflow: target IoU {target_iou:.4f}, "
          f"GrabCut IoU {grabcut_iou:.4f}")
    assert grabcut_iou >= 0.90


def test_metrics_of_png_masks_through_the_evaluate_command(tmp_path):
    """The six metric columns of ``weaklesion evaluate`` on the released vectors' masks
    written as PNG files, against what the released code computed (item 10 included)."""
    vectors = load_metric_vectors()
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    ids = [f"case_{i:03d}" for i in range(len(vectors["gt"]))]
    for lesion_id, gt, pred in zip(ids, vectors["gt"], vectors["pred"], strict=True):
        assert cv2.imwrite(str(gt_dir / f"{lesion_id}.png"), gt * np.uint8(255))
        assert cv2.imwrite(str(pred_dir / f"{lesion_id}.png"), pred * np.uint8(255))
    out = tmp_path / "scores.csv"
    handlers = list(logging.getLogger().handlers)
    try:
        assert main(["evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir),
                     "--out", str(out)]) == 0
    finally:  # main() sets up logging for a process of its own; leave pytest's alone
        for handler in set(logging.getLogger().handlers) - set(handlers):
            logging.getLogger().removeHandler(handler)
    scores = pd.read_csv(out)
    assert list(scores["id"]) == ids
    for column in ("iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff"):
        difference = np.abs(scores[column].to_numpy() - vectors[column]).max()
        assert difference <= 1e-4, (column, difference)
    np.testing.assert_array_equal(scores["pred_empty"], vectors["pred_empty"])
