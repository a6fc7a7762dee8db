"""The command line, run as users run it: ``python -m weaklesion evaluate|predict``."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import weaklesion
from training_helpers import disc, disc_image, train_tiny_model

from weaklesion.cli import main
from weaklesion.evaluation.metrics import METRIC_COLUMNS


def write_mask(path: Path, mask: np.ndarray) -> None:
    assert cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def square(top: int, left: int, side: int, shape=(60, 80)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + side, left:left + side] = True
    return mask


@pytest.fixture
def mask_folders(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    pairs = {
        "case_b": (square(10, 10, 10), square(10, 12, 10)),  # shifted 2 px right
        "case_a": (square(20, 30, 12), square(20, 30, 12)),  # exact
        "case_c": (square(5, 50, 8), np.zeros((60, 80), bool)),  # nothing found
    }
    for name, (truth, guess) in pairs.items():
        write_mask(gt / f"{name}.png", truth)
        write_mask(pred / f"{name}.png", guess)
    return gt, pred


def test_evaluate_writes_one_row_per_id(mask_folders, tmp_path):
    gt, pred = mask_folders
    out = tmp_path / "scores" / "metrics.csv"
    result = weaklesion("evaluate", "--gt", gt, "--pred", pred, "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"3 masks scored -> {out}" in result.stdout
    table = pd.read_csv(out)
    assert list(table.columns) == ["id", *METRIC_COLUMNS, "pred_empty", "gt_empty"]
    rows = table.set_index("id")
    assert list(rows.index) == ["case_a", "case_b", "case_c"]
    exact, shifted, empty = rows.loc["case_a"], rows.loc["case_b"], rows.loc["case_c"]
    assert (exact["dice"], exact["iou"], exact["vs"]) == (100, 100, 100)
    assert (exact["hausdorff"], exact["center_error"], exact["perimeter_error"]) == (0, 0, 0)
    # Two 10×10 squares 2 px apart: 80 pixels shared of 120 covered.
    assert shifted["iou"] == pytest.approx(100 * 80 / 120)
    assert shifted["dice"] == pytest.approx(100 * 160 / 200)
    assert (shifted["center_error"], shifted["hausdorff"]) == (2, 2)
    assert (empty["dice"], empty["center_error"], empty["hausdorff"]) == (0, 2, 2)
    assert list(table["pred_empty"]) == [False, False, True]
    dice_mean = (100 + 80 + 0) / 3
    assert f"dice {dice_mean:.2f}" in result.stdout


def test_evaluate_missing_prediction_is_one_line_naming_the_file(mask_folders, tmp_path):
    gt, pred = mask_folders
    (pred / "case_b.png").unlink()
    out = tmp_path / "metrics.csv"
    result = weaklesion("evaluate", "--gt", gt, "--pred", pred, "--out", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("weaklesion evaluate: error:")
    assert "case_b.png" in lines[0] and str(pred) in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    try:
        return train_tiny_model(tmp_path_factory.mktemp("model"))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def test_predict_writes_masks_of_each_image_size(model_file, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"ISIC_0000001.jpg": (450, 600), "ISIC_0000002.png": (120, 120)}
    for name, (height, width) in sizes.items():
        mask = disc((height / 2, width / 2), min(height, width) / 3, size=max(height, width))
        image = disc_image(mask[:height, :width], rng)
        assert cv2.imwrite(str(images / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    out = tmp_path / "masks"
    result = weaklesion("predict", "--model", model_file, "--images", images, "--out", out,
                        "--device", "cpu", "--batch-size", "1")
    assert result.returncode == 0, result.stderr
    assert f"2 masks written to {out}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["ISIC_0000001.png", "ISIC_0000002.png"]
    for name, size in sizes.items():
        mask = cv2.imread(str(out / (Path(name).stem + ".png")), cv2.IMREAD_UNCHANGED)
        assert mask.shape == size and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}


def test_predict_missing_model_is_one_line_naming_the_file(tmp_path, capsys):
    # In-process: the same main() as above, without paying torch's import in a subprocess.
    images = tmp_path / "images"
    images.mkdir()
    missing = tmp_path / "results" / "model.pt"
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        code = main(["predict", "--model", str(missing), "--images", str(images),
                     "--out", str(tmp_path / "masks"), "--device", "cpu"])
    finally:  # main() configures logging for a process of its own; leave pytest's alone
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weaklesion predict: error:")
    assert str(missing) in lines[0]
    assert not (tmp_path / "masks").exists()


@pytest.mark.parametrize(("command", "options"), [
    ("evaluate", ["--gt", "--pred", "--out"]),
    ("predict", ["--model", "--images", "--out", "--device", "--batch-size"]),
    ("import-checkpoint", ["RELEASED.pt", "--model", "--out", "--dataset"]),
    ("recist-from-masks", ["MASKS_DIR", "--out", "--images"]),
])
def test_help(command, options):
    result = weaklesion(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: weaklesion {command}")
    for option in options:
        assert option in result.stdout


def test_top_level_help_lists_the_commands_and_no_command_is_a_usage_error():
    result = weaklesion("--help")
    assert result.returncode == 0, result.stderr
    for command in ("evaluate", "predict", "import-checkpoint", "recist-from-masks", "table"):
        assert command in result.stdout
    result = weaklesion()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: weaklesion")
