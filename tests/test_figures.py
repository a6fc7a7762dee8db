"""Figures: overlays drawn where the shapes are, the right lesions and runs chosen, and valid
PNG/PDF files written (the rule-script tests write every figure function's files)."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import run_rule_script
from figure_helpers import (
    MODELS,
    N_LESIONS,
    SEEDS,
    SQUARE_HALF,
    ellipse_points,
    history_table,
    write_figure_inputs,
)
from matplotlib.figure import Figure

from weaklesion.analysis.comparisons import NO_VERDICT
from weaklesion.datasets.patch_store import read_arrays, write_masks
from weaklesion.errors import WeaklesionError
from weaklesion.figures import (
    cluster_gallery,
    contour_overlay,
    dice_scores,
    ellipse_overlay,
    ellipse_scatter,
    metric_distributions,
    pick_clusters,
    pick_lesions,
    pick_members,
    save_figure,
    segmentation_figure,
    selection_model,
    training_curves,
    write_figure,
)
from weaklesion.figures.forest import ablation_figure, forest_plot
from weaklesion.figures.inputs import read_histories, read_metrics, read_rows
from weaklesion.figures.style import ELLIPSE_RGB, REFERENCE_RGB

RED = (255, 0, 0)


# --- checks on written files ------------------------------------------------------------------


def assert_png(path: Path, min_side: int = 300) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} does not decode as an image"
    assert min(image.shape[:2]) >= min_side
    assert image.std() > 10, f"{path} is nearly blank"
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= 50, f"{path} has few colours"
    return image


def assert_pdf(path: Path) -> None:
    content = path.read_bytes()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    assert len(content) > 10_000


def assert_figure_files(png: Path, pdf: Path) -> None:
    assert_png(png)
    assert_pdf(pdf)
    leftovers = [p.name for p in png.parent.iterdir() if ".tmp-" in p.name]
    assert not leftovers


def tile(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


def enlarged(patch: np.ndarray, tile_side: int) -> tuple[np.ndarray, int]:
    scale = tile_side // patch.shape[0]
    return patch.repeat(scale, axis=0).repeat(scale, axis=1), scale


def tile_pixels(points: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the tile pixels nearest patch points (x, y); pixel centres at integers."""
    xy = np.rint((points + 0.5) * scale - 0.5).astype(int)
    return xy[:, 1], xy[:, 0]


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return write_figure_inputs(tmp_path_factory.mktemp("results") / "ham" / "paper", kind="ham")


@pytest.fixture(scope="module")
def deeplesion(tmp_path_factory):
    return write_figure_inputs(tmp_path_factory.mktemp("results") / "dl" / "paper",
                               kind="deeplesion")


# --- overlays ---------------------------------------------------------------------------------


def test_ellipse_overlay_draws_the_outline_turned_clockwise():
    patch = np.full((120, 120, 3), 100, np.uint8)
    ellipse = (60.0, 50.0, 60.0, 20.0, 30.0)
    drawn = ellipse_overlay(patch, ellipse, colour=RED)
    raw, scale = enlarged(patch, drawn.shape[0])
    assert scale > 1 and drawn.shape == raw.shape
    rows, cols = tile_pixels(ellipse_points(ellipse, 180), scale)
    assert (drawn[rows, cols] == RED).all()
    # The width axis points 30° clockwise on screen (down-right), not up-right.
    down_right = np.array([[60 + 30 * np.cos(np.pi / 6), 50 + 30 * np.sin(np.pi / 6)]])
    up_right = np.array([[60 + 30 * np.cos(np.pi / 6), 50 - 30 * np.sin(np.pi / 6)]])
    assert (drawn[tile_pixels(down_right, scale)] == RED).all()
    assert (drawn[tile_pixels(up_right, scale)] == 100).all()
    # Away from the outline the patch is untouched, and so is the caller's array.
    centre = tile_pixels(np.array([[60.0, 50.0], [2.0, 2.0], [117.0, 117.0]]), scale)
    assert (drawn[centre] == raw[centre]).all()
    assert (patch == 100).all()


def test_ellipse_overlay_refuses_a_non_finite_ellipse():
    with pytest.raises(WeaklesionError, match="not finite"):
        ellipse_overlay(np.zeros((120, 120, 3), np.uint8), (60, 60, np.nan, 10, 0), colour=RED)


def test_contour_overlay_traces_outer_and_hole_boundaries():
    patch = np.random.default_rng(0).integers(0, 60, (120, 120), dtype=np.uint8)  # grey
    mask = np.zeros((120, 120), bool)
    mask[40:60, 50:80] = True
    mask[48:52, 60:64] = False  # a hole
    drawn = contour_overlay(patch, mask, colour=RED)
    raw, scale = enlarged(np.repeat(patch[..., None], 3, axis=2), drawn.shape[0])
    # On the outermost foreground pixels: the top edge, the left edge, the hole's rim.
    for row, col in ((40, 65), (50, 50), (59, 70), (47, 61), (52, 62), (50, 59)):
        assert (drawn[row * scale + scale // 2, col * scale + scale // 2] == RED).all()
    # Inside the lesion, inside the hole and outside, nothing is drawn.
    for row, col in ((44, 55), (50, 61), (10, 10), (70, 90)):
        centre = (row * scale + scale // 2, col * scale + scale // 2)
        assert (drawn[centre] == raw[centre]).all()
    assert np.array_equal(contour_overlay(patch, np.zeros_like(mask), colour=RED), raw)
    assert np.array_equal(contour_overlay(patch, None, colour=RED), raw)
    with pytest.raises(WeaklesionError, match="does not fit"):
        contour_overlay(patch, mask[:100], colour=RED)


# --- writing ----------------------------------------------------------------------------------


def small_figure() -> Figure:
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    x = np.linspace(0, 6, 50)
    for phase in range(4):
        ax.plot(x, np.sin(x + phase), linewidth=3, label=f"phase {phase}")
    ax.legend()
    ax.set_title("four sines")
    return fig


def test_save_figure_writes_both_formats_reproducibly(tmp_path):
    first = save_figure(small_figure(), tmp_path / "a" / "sines")
    second = save_figure(small_figure(), tmp_path / "b" / "sines")
    assert first == (tmp_path / "a" / "sines.png", tmp_path / "a" / "sines.pdf")
    assert_figure_files(*first)
    # No dates inside: the same figure gives the same bytes, so reruns change nothing.
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    with pytest.raises(WeaklesionError, match="svg"):
        write_figure(small_figure(), tmp_path / "sines.svg")
    assert not (tmp_path / "sines.svg").exists()


# --- cluster gallery and scatter --------------------------------------------------------------


def test_pick_clusters_spread_over_size_or_largest():
    # Cluster c has c + 1 members; areas: cluster 0 largest, then 3, 1, 2.
    areas = {0: 900.0, 1: 100.0, 2: 25.0, 3: 400.0}
    clusters = np.repeat([0, 1, 2, 3], [1, 2, 3, 4])
    side = np.sqrt([areas[c] for c in clusters])
    ellipses = np.column_stack([np.full((10, 2), 60.0), side, side, np.zeros(10)])
    assert pick_clusters(ellipses, clusters, 4) == [2, 1, 3, 0]
    assert pick_clusters(ellipses, clusters, 2) == [2, 0]  # smallest and largest lesions
    assert pick_clusters(ellipses, clusters, 2, how="largest") == [2, 3]  # by area order
    assert pick_clusters(ellipses, clusters, 9) == [2, 1, 3, 0]
    with pytest.raises(WeaklesionError, match="'random'"):
        pick_clusters(ellipses, clusters, 2, how="random")


def test_pick_members_takes_the_lesions_nearest_the_cluster_mean():
    # Cluster 1's offsets have mean 5/6: distances 8.2, 1.8, 2.2, 8.8, 0.3, 0.7.
    offsets = np.array([9.0, -1.0, 3.0, -8.0, 0.5, 1.5, 0.8])
    ellipses = np.column_stack([60 + offsets, np.full((7, 3), 30.0), np.zeros(7)])
    clusters = np.array([1, 1, 1, 1, 1, 1, 2])
    assert pick_members(ellipses, clusters, 1, 3).tolist() == [4, 5, 1]
    assert pick_members(ellipses, clusters, 1, 10).tolist() == [4, 5, 1, 2, 0, 3]


def test_cluster_gallery_draws_each_lesion_with_its_ellipse(ham, tmp_path):
    data = read_arrays(ham.data, ["image", "ellipse", "lesion_id"])
    ids = [i.decode() for i in data["lesion_id"]]
    labels = pd.read_parquet(ham.clusters).set_index("lesion_id")["cluster"]
    clusters = labels.loc[ids].to_numpy()
    with h5py.File(ham.data, "r") as h5:
        fig = cluster_gallery(h5["image"], data["ellipse"], clusters, lesion_ids=ids, rows=6,
                              per_row=3, title="ham")
    grid = np.array(fig.axes).reshape(-1, 3)
    sizes = labels.value_counts()
    assert len(grid) == labels.nunique()  # fewer clusters than rows: every one shown
    for row in grid:
        label = row[0].get_ylabel()
        cluster = int(label.split("\n")[0].removeprefix("cluster "))
        assert label == f"cluster {cluster}\nn = {sizes[cluster]}"
        for ax in row:
            index = ids.index(ax.get_xlabel())
            assert clusters[index] == cluster
            shown = tile(ax)
            raw, scale = enlarged(data["image"][index], shown.shape[0])
            on_outline = tile_pixels(ellipse_points(data["ellipse"][index]), scale)
            assert (shown[on_outline] != raw[on_outline]).any(axis=1).all()
            assert (shown[on_outline] == ELLIPSE_RGB).all(axis=1).mean() > 0.9
            corner = (slice(0, scale), slice(0, scale))
            assert np.array_equal(shown[corner], raw[corner])
    assert_figure_files(*save_figure(fig, tmp_path / "gallery"))


def test_ellipse_scatter_shows_every_lesion_coloured_by_cluster(ham):
    ellipses = read_arrays(ham.data, ["ellipse"])["ellipse"]
    clusters = np.arange(len(ellipses)) % 3
    fig = ellipse_scatter(ellipses, clusters, title="ham")
    points = fig.axes[0].collections[0]
    np.testing.assert_allclose(points.get_offsets(), ellipses[:, :2])
    colours = points.get_facecolors()
    for cluster in range(3):
        assert len(np.unique(colours[clusters == cluster], axis=0)) == 1
    assert len(np.unique(colours, axis=0)) == 3
    assert fig.axes[0].yaxis_inverted()  # image coordinates
    with pytest.raises(WeaklesionError, match="cluster labels"):
        ellipse_scatter(ellipses, clusters[:-1])


# --- segmentation results ---------------------------------------------------------------------


def test_dice_scores_by_hand():
    reference = np.zeros((3, 4, 4), bool)
    predicted = np.zeros((3, 4, 4), bool)
    reference[0, :2, :2] = True  # 4 px
    predicted[0, :2, 1:3] = True  # 4 px, 2 shared: Dice 2·2 / 8
    reference[1, 0, 0] = True  # predicted empty: Dice 0
    predicted[2, 1, 1] = True  # reference empty: nothing to score
    scores = dice_scores(reference, predicted)
    assert scores[:2].tolist() == [50.0, 0.0] and np.isnan(scores[2])
    with pytest.raises(WeaklesionError, match="differ in shape"):
        dice_scores(reference, predicted[:2])


def test_pick_lesions_evenly_spaced_best_first():
    scores = np.array([50.0, np.nan, 90.0, 10.0, 70.0])
    assert pick_lesions(scores, 3).tolist() == [2, 0, 3]  # ranks 0, 2, 3 of 90, 70, 50, 10
    assert pick_lesions(scores, 10).tolist() == [2, 4, 0, 3]
    assert pick_lesions(np.array([80.0, 80.0, 80.0]), 2).tolist() == [0, 2]  # ties: index
    assert pick_lesions(np.array([np.nan]), 3).tolist() == []


def test_selection_model_prefers_a1():
    assert selection_model(["A1+L", "ACoseg", "A1"]) == "A1"
    assert selection_model(["mine", "A1+L"]) == "A1+L"
    with pytest.raises(WeaklesionError, match="no model"):
        selection_model([])


def test_segmentation_rows_follow_the_paper_and_skip_missing_models(ham):
    run_a1, run_a1l = ham.runs[("A1", 0)], ham.runs[("A1+L", 0)]
    test_ids = [i.decode() for i in read_arrays(run_a1 / "test_predictions.h5",
                                                ["lesion_id"])["lesion_id"]]
    data = read_arrays(ham.data, ["image", "mask", "lesion_id"])
    rows = [[i.decode() for i in data["lesion_id"]].index(t) for t in test_ids][:3]
    targets = read_arrays(ham.targets, ["ellipse"])["ellipse"][rows]
    a1 = read_arrays(run_a1 / "test_predictions.h5", ["prediction"])["prediction"][:3]
    a1l = read_arrays(run_a1l / "test_predictions.h5", ["prediction"])["prediction"][:3]
    reference = data["mask"][rows]
    # A1+L given first, ACoseg not trained: rows still in the paper's order, without ACoseg.
    fig = segmentation_figure(data["image"][rows], reference, targets,
                              {"A1+L": a1l, "A1": a1}, lesion_ids=test_ids[:3],
                              ordered_by="A1", title="ham")
    grid = np.array(fig.axes).reshape(-1, 3)
    assert [row[0].get_ylabel() for row in grid] == [
        "image", "ground truth", "ellipse target", "A1", "A1+L"]
    assert [ax.get_title() for ax in grid[0]] == test_ids[:3]
    for row, masks in ((grid[2], targets), (grid[3], a1), (grid[4], a1l)):
        for ax, ref, predicted in zip(row, reference, masks, strict=True):
            dice = 200 * (ref & predicted).sum() / (ref.sum() + predicted.sum())
            assert [t.get_text() for t in ax.texts] == [f"Dice {dice:.1f}"]
    assert all(not ax.texts for ax in grid[:2].ravel())
    assert "by A1 Dice" in fig.get_suptitle()


def test_segmentation_reference_row_draws_the_grabcut_reference(deeplesion):
    data = read_arrays(deeplesion.data, ["image", "ellipse"])
    assert "mask" not in read_arrays(deeplesion.data, ["mask"])  # DeepLesion has no masks
    grabcut = read_arrays(deeplesion.reference, ["grabcut"])["grabcut"][:2]
    targets = read_arrays(deeplesion.targets, ["ellipse"])["ellipse"][:2]
    fig = segmentation_figure(data["image"][:2], grabcut, targets, {"A1": grabcut},
                              reference_label="GrabCut reference")
    reference_row = fig.axes[2:4]
    assert reference_row[0].get_ylabel() == "GrabCut reference"
    for ax, image, mask, ellipse in zip(reference_row, data["image"][:2], grabcut,
                                        data["ellipse"][:2], strict=True):
        shown = tile(ax)
        raw, scale = enlarged(image, shown.shape[0])
        rows, cols = np.nonzero(mask)
        top_edge = (rows.min() * scale + scale // 2, int(cols.mean()) * scale + scale // 2)
        assert (shown[top_edge] == REFERENCE_RGB).all()
        assert rows.max() - rows.min() == 2 * SQUARE_HALF
        # The ellipse outline, far from the small reference square, is not drawn here.
        outline = tile_pixels(ellipse_points(ellipse), scale)
        assert np.array_equal(shown[outline], raw[outline])


# --- training curves and metric distributions -------------------------------------------------


def test_training_curves_draw_one_line_per_run(ham):
    history = read_histories(ham.run_files("history.csv"))
    assert sorted(set(zip(history["model"], history["seed"], strict=True))) == [
        (m, s) for m in sorted(MODELS) for s in SEEDS]
    fig = training_curves(history, title="ham")
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "training loss", "validation loss", "validation Dice vs weak target (%)"]
    for ax, column in zip(fig.axes, ("train_loss", "val_loss", "val_dice"), strict=True):
        lines = ax.get_lines()
        assert len(lines) == len(MODELS) * len(SEEDS)
        drawn = {(line.get_color(), line.get_linestyle()): line.get_ydata() for line in lines}
        assert len({colour for colour, _ in drawn}) == len(MODELS)
        assert len({style for _, style in drawn}) == len(SEEDS)
        expected = sorted(tuple(history_table(m, s)[column]) for m in MODELS for s in SEEDS)
        assert sorted(tuple(y) for y in drawn.values()) == expected
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log", "linear"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["A1", "A1+L", "seed 0", "seed 1"]


def test_run_files_must_follow_the_workflow_layout(tmp_path):
    with pytest.raises(WeaklesionError, match=r"<model>/seed<N>"):
        read_histories([tmp_path / "ham" / "paper" / "A1" / "history.csv"])
    broken = tmp_path / "ham" / "paper" / "A1" / "seed0" / "history.csv"
    broken.parent.mkdir(parents=True)
    history_table("A1", 0).drop(columns="val_dice").to_csv(broken, index=False)
    with pytest.raises(WeaklesionError, match=r"seed0/history.csv.*\['val_dice'\]"):
        read_histories([broken])


def test_metric_distributions_show_every_scored_lesion(ham):
    files = ham.run_files("metrics.parquet", models=("A1+L", "A1"))
    metrics = read_metrics(files, ["dice", "hausdorff"])
    metrics.loc[0, "dice"] = np.nan  # a lesion without a reference is not a point
    fig = metric_distributions(metrics, ["dice", "hausdorff"], title="ham")
    dice_ax, hausdorff_ax = fig.axes
    assert dice_ax.get_ylabel() == "Dice (%)"
    assert hausdorff_ax.get_ylabel() == "Hausdorff distance (px)"
    labels = [t.get_text() for t in dice_ax.get_xticklabels()]
    assert labels == ["A1\nseed 0", "A1\nseed 1", "A1+L\nseed 0", "A1+L\nseed 1"]
    for ax, column in ((dice_ax, "dice"), (hausdorff_ax, "hausdorff")):
        clouds = [c.get_offsets() for c in ax.collections if len(c.get_offsets()) > 1]
        runs = [metrics[(metrics["model"] == m) & (metrics["seed"] == s)][column]
                for m in ("A1", "A1+L") for s in SEEDS]
        assert [len(c) for c in clouds] == [r.notna().sum() for r in runs]
        for cloud, run in zip(clouds, runs, strict=True):
            assert sorted(cloud[:, 1]) == sorted(run.dropna())
    with pytest.raises(WeaklesionError, match="vs_mean"):
        read_metrics(files, ["vs_mean"])


def test_read_rows_returns_the_rows_asked_for_across_chunks(tmp_path):
    path = tmp_path / "store.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("value", data=np.arange(700 * 2).reshape(700, 2), chunks=(256, 2))
    np.testing.assert_array_equal(read_rows(path, "value", [699, 3, 300, 3])[:, 0],
                                  [1398, 6, 600, 6])
    with pytest.raises(WeaklesionError, match="700 rows"):
        read_rows(path, "value", [700])
    with pytest.raises(WeaklesionError, match="'mask'"):
        read_rows(path, "mask", [0])


# --- rule scripts -----------------------------------------------------------------------------


def run_script(name: str, folder: Path, inputs: dict, params: dict | None = None,
               extra_outputs: tuple[str, ...] = (), dataset: str = "ham") -> SimpleNamespace:
    outputs = {"png": folder / f"{name}.png", "pdf": folder / f"{name}.pdf"}
    outputs.update({key: folder / f"{name}_{key}.{key.rsplit('_', 1)[1]}"
                    for key in extra_outputs})
    snakemake = SimpleNamespace(
        input=SimpleNamespace(**inputs), params=SimpleNamespace(**(params or {})),
        output=SimpleNamespace(**{k: str(v) for k, v in outputs.items()}),
        log=[str(folder / f"{name}.log")], wildcards=SimpleNamespace(dataset=dataset),
    )
    run_rule_script(name, snakemake)
    return SimpleNamespace(**outputs, log=Path(snakemake.log[0]))


def test_figure_clusters_script(deeplesion, tmp_path):
    out = run_script("figure_clusters", tmp_path,
                     {"data": str(deeplesion.data), "clusters": str(deeplesion.clusters)},
                     {"rows": 2, "per_row": 3, "selection": "largest"},
                     extra_outputs=("scatter_png", "scatter_pdf"), dataset="deeplesion")
    assert_figure_files(out.png, out.pdf)
    assert_figure_files(out.scatter_png, out.scatter_pdf)
    assert "cluster figures of 24 lesions" in out.log.read_text()


@pytest.mark.parametrize("kind", ["ham", "deeplesion"])
def test_figure_segmentations_script(kind, ham, deeplesion, tmp_path):
    inputs = ham if kind == "ham" else deeplesion
    # Only A1 (both seeds) given: the other models get no row, the first seed is drawn.
    out = run_script("figure_segmentations", tmp_path, {
        "data": str(inputs.data), "targets": str(inputs.targets),
        "reference": str(inputs.reference),
        "predictions": inputs.run_files("test_predictions.h5", models=("A1",))[::-1],
    }, {"reference_name": inputs.reference_name, "n_lesions": 3}, dataset=kind)
    assert_figure_files(out.png, out.pdf)
    log = out.log.read_text()
    label = "ground truth" if kind == "ham" else "GrabCut reference"
    assert f"segmentation figure of ['A1'] (seeds [0]) against the {label} of " \
           f"{inputs.reference}" in log
    # Columns run from A1's best test lesion to its worst, as metrics.parquet scores them.
    shown = ast.literal_eval(re.search(r"lesions (\[.*?\])", log).group(1))
    dice = pd.read_parquet(inputs.runs[("A1", 0)] / "metrics.parquet").set_index(
        "lesion_id")["dice"]
    assert len(shown) == 3
    assert [dice[i] for i in shown] == sorted((dice[i] for i in shown), reverse=True)
    assert (dice[shown[0]], dice[shown[-1]]) == (dice.max(), dice.min())


def test_figure_segmentations_script_names_a_missing_reference(deeplesion, tmp_path):
    with pytest.raises(WeaklesionError, match=r"data\.h5 holds no 'mask'"):
        run_script("figure_segmentations", tmp_path, {
            "data": str(deeplesion.data), "targets": str(deeplesion.targets),
            "reference": str(deeplesion.data),
            "predictions": deeplesion.run_files("test_predictions.h5"),
        }, {"reference_name": "mask"}, dataset="deeplesion")
    assert "holds no 'mask'" in (tmp_path / "figure_segmentations.log").read_text()


def test_figure_training_curves_script(ham, tmp_path):
    out = run_script("figure_training_curves", tmp_path,
                     {"histories": ham.run_files("history.csv")})
    assert_figure_files(out.png, out.pdf)
    assert "training curves of 4 runs" in out.log.read_text()


def test_figure_metric_distributions_script(ham, tmp_path):
    out = run_script("figure_metric_distributions", tmp_path,
                     {"metrics": ham.run_files("metrics.parquet")}, {"columns": ["dice"]})
    assert_figure_files(out.png, out.pdf)
    assert "['dice'] distributions of 4 runs" in out.log.read_text()


def test_figure_segmentations_script_draws_the_lesions_every_model_scored(ham, tmp_path):
    """Under protocol paper some runs are scored on fewer lesions (whole batches only) or on
    others (DeepLesion's A1+L, on the training split): the figure shows the lesions common
    to the drawn models and leaves out a model that shares none."""
    a1 = ham.runs[("A1", 0)] / "test_predictions.h5"
    stored = read_arrays(a1, ["prediction", "lesion_id"])
    ids = [i.decode() for i in stored["lesion_id"]]
    fewer = tmp_path / "runs" / "ACoseg" / "seed0" / "test_predictions.h5"
    fewer.parent.mkdir(parents=True)
    write_masks(fewer, "prediction", stored["prediction"][:-1], ids[:-1])
    other = tmp_path / "runs" / "A1+L" / "seed0" / "test_predictions.h5"
    other.parent.mkdir(parents=True)
    write_masks(other, "prediction", stored["prediction"], [f"train_{i}" for i in ids])
    out = run_script("figure_segmentations", tmp_path, {
        "data": str(ham.data), "targets": str(ham.targets), "reference": str(ham.reference),
        "predictions": [str(a1), str(fewer), str(other)],
    }, {"reference_name": ham.reference_name, "n_lesions": len(ids)})
    assert_figure_files(out.png, out.pdf)
    log = out.log.read_text()
    assert "['A1+L'] left out: scored on other lesions than A1" in log
    shown = ast.literal_eval(re.search(r"lesions (\[.*?\])", log).group(1))
    assert ids[-1] not in shown and len(shown) == len(ids) - 1
    assert "segmentation figure of ['A1', 'ACoseg']" in log


def test_figure_clusters_script_skips_lesions_without_an_ellipse(ham, tmp_path):
    data = tmp_path / "data.h5"
    shutil.copy(ham.data, data)
    with h5py.File(data, "r+") as h5:
        h5["ellipse"][3] = np.nan  # a LiTS lesion whose own released features did not fit
    out = run_script("figure_clusters", tmp_path,
                     {"data": str(data), "clusters": str(ham.clusters)},
                     {"rows": 2, "per_row": 3}, extra_outputs=("scatter_png", "scatter_pdf"))
    assert_figure_files(out.png, out.pdf)
    log = out.log.read_text()
    assert "1 lesions without an ellipse of their own are not drawn" in log
    assert f"cluster figures of {N_LESIONS - 1} lesions" in log


# --- forest plot and ablation figure ------------------------------------------------------------


def comparison_rows():
    rows = []
    for protocol in ("paper", "corrected"):
        for model, baseline, shift in (("ACoseg", "A1", -5.0), ("A1+L", "A1", 1.0),
                                       ("A1+L", "ACoseg", 6.0)):
            for metric in ("dice", "hausdorff"):
                rows.append({"dataset": "ham", "protocol": protocol, "variant": "default",
                             "model": model, "baseline": baseline, "metric": metric,
                             "n_lesions": 30, "mean_difference": shift,
                             "ci_low": shift - 1.5, "ci_high": shift + 1.5,
                             "ci_excludes_zero": abs(shift) > 1.5,
                             "favours": ("neither" if abs(shift) <= 1.5
                                         else model if shift > 0 else baseline)})
    return pd.DataFrame(rows)


def test_forest_plot_fills_only_the_verdicts_of_enough_runs():
    rows = comparison_rows()
    # Two runs of A1+L against ACoseg: the interval is drawn, no verdict is.
    too_few = (rows["model"] == "A1+L") & (rows["baseline"] == "ACoseg")
    rows.loc[too_few, "favours"] = NO_VERDICT
    # One run of ACoseg: no run-level interval at all; the point is still drawn.
    single = rows["model"] == "ACoseg"
    rows.loc[single, ["ci_low", "ci_high"]] = np.nan
    rows.loc[single, "favours"] = NO_VERDICT
    figure = forest_plot(rows, metrics=("dice",))
    points = {float(line.get_xdata()[0]): line.get_markerfacecolor()
              for line in figure.axes[0].get_lines()
              if line.get_marker() in ("o", "s") and len(line.get_xdata())}
    assert set(points) == {-5.0, 1.0, 6.0}
    hollow = {x for x, face in points.items() if face in ("white", "w", (1.0, 1.0, 1.0, 1.0))}
    assert hollow == {-5.0, 1.0, 6.0}  # 1.0: its CI holds 0; -5 and 6: no verdict
    rows.loc[too_few, "favours"] = "A1+L"
    figure = forest_plot(rows, metrics=("dice",))
    faces = {float(line.get_xdata()[0]): line.get_markerfacecolor()
             for line in figure.axes[0].get_lines()
             if line.get_marker() in ("o", "s") and len(line.get_xdata())}
    assert faces[6.0] not in ("white", "w", (1.0, 1.0, 1.0, 1.0))
    assert "from ≥ 3 runs per model" in figure.get_suptitle()


def test_forest_plot_draws_every_comparison_with_its_interval_and_the_zero_line():
    figure = forest_plot(comparison_rows(), metrics=("dice", "hausdorff"), title="ham")
    axes = figure.axes[:2]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels == ["ACoseg − A1", "A1+L − A1", "A1+L − ACoseg"]
    for ax in axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata())]
        assert any(np.allclose(line.get_xdata(), [0, 0]) for line in lines)
        # One point per comparison and protocol, at its mean difference.
        points = sorted(float(line.get_xdata()[0]) for line in lines
                        if line.get_marker() in ("o", "s"))
        assert points == sorted([-5.0, 1.0, 6.0] * 2)
    assert "← better" in axes[1].get_xlabel() and "better →" in axes[0].get_xlabel()


def test_forest_plot_leaves_out_comparisons_without_common_lesions():
    rows = comparison_rows()
    rows.loc[rows["model"] == "ACoseg", "n_lesions"] = 0
    figure = forest_plot(rows, metrics=("dice",))
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == [
        "A1+L − A1", "A1+L − ACoseg"]
    with pytest.raises(WeaklesionError, match="nothing to draw"):
        forest_plot(rows.assign(n_lesions=0))


def test_ablation_figure_puts_each_value_on_x_with_the_seeds_and_the_interval():
    means = pd.DataFrame({
        "value": ["6", "6", "3", "3", "12", "12"], "model": ["A1+L"] * 6,
        "seed": [0, 1] * 3, "dice": [80.0, 82.0, 75.0, 77.0, 81.0, 83.0],
    })
    paired = pd.DataFrame({"value": ["3", "12"], "trained": ["A1+L"] * 2,
                           "metric": ["dice"] * 2, "n_lesions": [20, 20],
                           "mean_difference": [-5.0, 1.0], "ci_low": [-6.0, -0.5],
                           "ci_high": [-4.0, 2.5]})
    figure = ablation_figure(means, paired, axis="k", default="6", metrics=("dice",))
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "6\n(default)", "12"]
    (line,) = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    np.testing.assert_allclose(line.get_ydata(), [76.0, 81.0, 82.0])
    assert ax.get_xlabel() == "k"
    # Interval bars drawn around the default's mean: 81 + (-5) at k = 3.
    segments = [seg for collection in ax.collections
                if hasattr(collection, "get_segments") for seg in collection.get_segments()]
    assert any(np.allclose([seg[0][1], seg[1][1]], [75.0, 77.0]) for seg in segments)
