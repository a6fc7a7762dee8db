"""Scoring folders of PNG masks: pairing by stem, the accepted encodings, and every error."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_metrics import reference_row, square

from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.evaluation.folder_scoring import read_mask, score_folders
from weaklesion.evaluation.metrics import METRIC_COLUMNS

SHAPE = (40, 36)


def write_png(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def grey(mask: np.ndarray, on: int = 255) -> np.ndarray:
    return mask.astype(np.uint8) * on


def colour(mask: np.ndarray, channels: int) -> np.ndarray:
    return np.repeat(grey(mask)[:, :, None], channels, axis=2)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """GT as 0/255 grey PNGs; predictions as 0/255 grey, 0/1 grey, RGB, two RGBA, one empty."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    pairs = {
        "ISIC_0000001": (square(SHAPE, 5, 5, 10), square(SHAPE, 6, 7, 10)),
        "ISIC_0000002": (square(SHAPE, 20, 10, 12), square(SHAPE, 18, 10, 16)),
        "ISIC_0000003": (square(SHAPE, 2, 20, 6), square(SHAPE, 10, 25, 8)),
        "ISIC_0000004": (square(SHAPE, 25, 25, 9), square(SHAPE, 25, 25, 9)),
        "ISIC_0000005": (square(SHAPE, 12, 12, 7), np.zeros(SHAPE, dtype=bool)),
    }
    encodings = [
        grey,
        lambda m: grey(m, on=1),
        lambda m: colour(m, 3),
        lambda m: colour(m, 4),  # alpha = the mask itself
        lambda m: np.dstack([colour(m, 3), np.full(m.shape, 255, np.uint8)]),  # opaque alpha
    ]
    for (name, (gt, pred)), encode in zip(pairs.items(), encodings, strict=True):
        write_png(gt_dir / f"{name}.png", grey(gt))
        write_png(pred_dir / f"{name}.png", encode(pred))
    return gt_dir, pred_dir, pairs


def test_scores_each_id_from_any_accepted_encoding(folders):
    gt_dir, pred_dir, pairs = folders
    table = score_folders(gt_dir, pred_dir)
    assert list(table.columns) == ["id", *METRIC_COLUMNS, "pred_empty", "gt_empty"]
    assert table["id"].tolist() == sorted(pairs)
    for k, (name, (gt, pred)) in enumerate(sorted(pairs.items())):
        if pred.any():
            assert table.loc[k, METRIC_COLUMNS].to_dict() == reference_row(gt, pred), name
    identical = table.set_index("id").loc["ISIC_0000004"]
    assert identical["dice"] == 100.0 and identical["hausdorff"] == 0.0


def test_an_empty_prediction_takes_the_worst_distance_of_the_folder(folders):
    gt_dir, pred_dir, pairs = folders
    table = score_folders(gt_dir, pred_dir).set_index("id")
    empty = table.loc["ISIC_0000005"]
    assert bool(empty["pred_empty"])
    scored = table[~table["pred_empty"]]
    for column in ("center_error", "hausdorff", "hd95"):
        assert empty[column] == scored[column].max()
    assert empty["dice"] == 0.0


def test_masks_of_different_sizes_are_scored_and_the_diagonal_is_the_largest(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for name, shape in [("a", (20, 30)), ("b", (50, 40))]:
        write_png(gt_dir / f"{name}.png", grey(square(shape, 3, 3, 5)))
        write_png(pred_dir / f"{name}.png", np.zeros(shape, np.uint8))
    table = score_folders(gt_dir, pred_dir)
    assert (table["hausdorff"] == math.hypot(49, 39)).all()


def test_other_files_hidden_files_and_subfolders_are_ignored(folders):
    gt_dir, pred_dir, pairs = folders
    (pred_dir / "notes.txt").write_text("not a mask")
    (pred_dir / "._ISIC_0000001.png").write_bytes(b"\x00\x05\x16\x07 macOS stub")
    (pred_dir / "extra.png").mkdir()
    upper = pred_dir / "ISIC_0000001.png"
    upper.rename(pred_dir / "ISIC_0000001.PNG")
    assert score_folders(gt_dir, pred_dir)["id"].tolist() == sorted(pairs)


def test_missing_predictions_are_listed_with_their_count(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    mask = grey(square(SHAPE, 5, 5, 5))
    for k in range(14):
        write_png(gt_dir / f"case_{k:02d}.png", mask)
    write_png(pred_dir / "case_00.png", mask)
    with pytest.raises(MissingFilesError) as caught:
        score_folders(gt_dir, pred_dir)
    message = str(caught.value)
    assert "13 ground-truth mask(s) have no prediction" in message
    assert str(pred_dir) in message
    assert "case_01.png" in message and "case_10.png" in message
    assert "case_11.png" not in message and "and 3 more" in message


def test_predictions_without_ground_truth_are_reported(folders):
    gt_dir, pred_dir, _ = folders
    write_png(pred_dir / "ISIC_9999999.png", grey(square(SHAPE, 1, 1, 3)))
    with pytest.raises(
        MissingFilesError,
        match=r"1 prediction\(s\) have no ground-truth .*"
        r"ISIC_9999999\.png",
    ):
        score_folders(gt_dir, pred_dir)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (
            np.array([[0, 128], [255, 0]], np.uint8),
            r"values must be 0/255 or 0/1, found 0, 128, 255",
        ),
        (np.array([[0, 1], [255, 0]], np.uint8), r"found 0, 1, 255"),
        (
            np.dstack(
                [
                    np.full((2, 2), 255, np.uint8),
                    np.zeros((2, 2), np.uint8),
                    np.zeros((2, 2), np.uint8),
                ]
            ),
            r"colours \(3 channels that differ\)",
        ),
        (
            np.dstack([np.zeros((2, 2), np.uint8)] * 3 + [np.full((2, 2), 7, np.uint8)]),
            r"transparent alpha",
        ),
    ],
    ids=["grey-level", "mixed-scales", "red", "alpha"],
)
def test_masks_that_are_not_binary_are_rejected_naming_the_file(tmp_path, image, message):
    path = write_png(tmp_path / "lesion.png", image)
    with pytest.raises(BadImageError, match=message) as caught:
        read_mask(path)
    assert caught.value.source == str(path)


def test_a_16_bit_mask_with_0_255_values_is_accepted(tmp_path):
    mask = square((10, 12), 2, 3, 4)
    path = write_png(tmp_path / "wide.png", grey(mask).astype(np.uint16))
    np.testing.assert_array_equal(read_mask(path), mask)


def test_a_prediction_of_another_size_is_an_error_naming_both_files(folders):
    gt_dir, pred_dir, _ = folders
    write_png(pred_dir / "ISIC_0000002.png", np.zeros((SHAPE[0], SHAPE[1] + 1), np.uint8))
    with pytest.raises(BadImageError) as caught:
        score_folders(gt_dir, pred_dir)
    message = str(caught.value)
    assert str(pred_dir / "ISIC_0000002.png") in message
    assert str(gt_dir / "ISIC_0000002.png") in message
    assert "37×40" in message and "36×40" in message and "not resized" in message


@pytest.mark.parametrize(
    "content", [b"", b"\x89PNG\r\n\x1a\n truncated", "half"], ids=["empty", "garbage", "cut"]
)
def test_an_unreadable_prediction_is_an_error_naming_it(folders, content):
    gt_dir, pred_dir, _ = folders
    path = pred_dir / "ISIC_0000003.png"
    if content == "half":
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(BadImageError) as caught:
        score_folders(gt_dir, pred_dir)
    assert caught.value.source == str(path)


def test_every_unreadable_mask_is_reported_at_once(folders):
    gt_dir, pred_dir, _ = folders
    for name in ("ISIC_0000001", "ISIC_0000004"):
        (pred_dir / f"{name}.png").write_bytes(b"")
    with pytest.raises(WeaklesionError, match=r"2 masks cannot be scored") as caught:
        score_folders(gt_dir, pred_dir)
    assert "ISIC_0000001.png" in str(caught.value) and "ISIC_0000004.png" in str(caught.value)


def test_missing_or_empty_folders_are_errors(tmp_path, folders):
    gt_dir, _, _ = folders
    with pytest.raises(MissingFilesError, match=r"prediction folder .*nowhere does not exist"):
        score_folders(gt_dir, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFilesError, match=r"prediction folder .*empty holds no \.png"):
        score_folders(gt_dir, tmp_path / "empty")


def test_two_files_with_one_stem_are_an_error(folders):
    gt_dir, pred_dir, _ = folders
    write_png(gt_dir / "ISIC_0000001.PNG", grey(square(SHAPE, 1, 1, 3)))
    if len(list(gt_dir.glob("ISIC_0000001.*"))) < 2:
        pytest.skip("case-insensitive file system")
    with pytest.raises(WeaklesionError, match=r"same id 'ISIC_0000001'"):
        score_folders(gt_dir, pred_dir)


def test_result_is_a_plain_table(folders):
    gt_dir, pred_dir, _ = folders
    table = score_folders(gt_dir, pred_dir)
    assert isinstance(table, pd.DataFrame)
    assert table.index.tolist() == list(range(len(table)))
