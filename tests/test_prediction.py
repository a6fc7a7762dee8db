"""``predict_folder``: masks of new images of any size and format, and the errors users meet."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from training_helpers import disc, disc_image, train_tiny_model

from weaklesion.errors import BadImageError, MissingFilesError, WeaklesionError
from weaklesion.evaluation.folder_prediction import predict_folder
from weaklesion.evaluation.predictor import Predictor

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Training with deterministic=True switches a process-wide flag; put it back afterwards.
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor(train_tiny_model(tmp_path_factory.mktemp("model")), CPU)


def write_rgb(path: Path, image: np.ndarray, *params: int) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), list(params))
    return path


def lesion_image(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = disc((height * 0.5, width * 0.45), min(height, width) / 4, size=max(height, width))
    return disc_image(mask[:height, :width], rng)


def read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


@pytest.fixture(scope="module")
def predicted(predictor, tmp_path_factory):
    """A folder of a 120×120 PNG, the same image doubled (240×240), a 300×200 JPEG and a
    grey 90×160 PNG, segmented."""
    folder = tmp_path_factory.mktemp("images")
    patch = lesion_image(120, 120, seed=1)
    write_rgb(folder / "patch.png", patch)
    doubled = cv2.resize(patch, (240, 240), interpolation=cv2.INTER_NEAREST)
    write_rgb(folder / "doubled.PNG", doubled)
    write_rgb(folder / "photo.jpg", lesion_image(200, 300, seed=2), cv2.IMWRITE_JPEG_QUALITY, 95)
    grey = cv2.cvtColor(lesion_image(90, 160, seed=3), cv2.COLOR_RGB2GRAY)
    assert cv2.imwrite(str(folder / "grey.png"), grey)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path_factory.mktemp("masks") / "predicted"
    written = predict_folder(predictor, folder, out)
    return patch, folder, out, written


def test_writes_one_binary_mask_per_image_at_its_own_size(predicted):
    _, _, out, written = predicted
    assert [p.name for p in written] == ["doubled.png", "grey.png", "patch.png", "photo.png"]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in written]
    sizes = {"doubled": (240, 240), "grey": (90, 160), "patch": (120, 120), "photo": (200, 300)}
    for path in written:
        mask = read_mask(path)
        assert mask.dtype == np.uint8 and mask.shape == sizes[path.stem], path.name
        assert set(np.unique(mask)) <= {0, 255}


def test_patch_sized_image_gets_exactly_the_model_prediction(predicted, predictor):
    patch, _, out, _ = predicted
    expected = predictor.masks(patch[None])[0]
    assert 0 < expected.mean() < 1, "the model should predict a mixed mask for this test"
    np.testing.assert_array_equal(read_mask(out / "patch.png"), expected.astype(np.uint8) * 255)


def test_larger_image_gets_the_prediction_scaled_to_its_size(predicted, predictor):
    patch, _, out, _ = predicted
    expected = predictor.masks(patch[None])[0]
    doubled = read_mask(out / "doubled.png") == 255
    # Away from the mask's edges, every 2×2 block of the output is its patch pixel's value.
    uniform = np.zeros_like(expected)
    inner = expected[1:-1, 1:-1]
    neighbours = [expected[1 + dr:119 + dr, 1 + dc:119 + dc]
                  for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    uniform[1:-1, 1:-1] = np.all([n == inner for n in neighbours], axis=0)
    assert uniform.sum() > 1000
    for dr in (0, 1):
        for dc in (0, 1):
            block = doubled[dr::2, dc::2]
            np.testing.assert_array_equal(block[uniform], expected[uniform])


def test_batches_do_not_change_the_masks(predicted, predictor, tmp_path):
    _, folder, out, written = predicted
    predict_folder(predictor, folder, tmp_path, batch_size=1)
    for path in written:
        np.testing.assert_array_equal(read_mask(tmp_path / path.name), read_mask(path))


def test_unreadable_image_is_named_and_nothing_is_written(predictor, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    write_rgb(folder / "good.png", lesion_image(120, 120, seed=4))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    write_rgb(folder / "cut.jpg", lesion_image(100, 100, seed=5))
    data = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    out = tmp_path / "masks"
    with pytest.raises(BadImageError, match="2 unreadable image") as err:
        predict_folder(predictor, folder, out)
    assert str(folder / "broken.png") in str(err.value)
    assert str(folder / "cut.jpg") in str(err.value)
    assert "good.png" not in str(err.value)
    assert not out.exists()


def test_empty_folder_is_a_missing_files_error(predictor, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    with pytest.raises(MissingFilesError, match=f"no images .* in {folder}"):
        predict_folder(predictor, folder, tmp_path / "masks")
    # Hidden files (macOS "._" stubs) and other types are not images either.
    (folder / "._photo.jpg").write_bytes(b"\x00\x05\x16\x07")
    (folder / "readme.md").write_text("masks go elsewhere")
    with pytest.raises(MissingFilesError, match="no images"):
        predict_folder(predictor, folder, tmp_path / "masks")
    with pytest.raises(MissingFilesError, match="image folder not found"):
        predict_folder(predictor, tmp_path / "absent", tmp_path / "masks")
    assert not (tmp_path / "masks").exists()


def test_two_images_with_one_stem_are_refused(predictor, tmp_path):
    image = lesion_image(120, 120, seed=6)
    write_rgb(tmp_path / "ISIC_1.png", image)
    write_rgb(tmp_path / "ISIC_1.jpg", image)
    with pytest.raises(WeaklesionError, match="'ISIC_1'"):
        predict_folder(predictor, tmp_path, tmp_path / "masks")


def test_memory_does_not_grow_with_the_number_of_images(predictor, tmp_path):
    # 16 full-size photos (3 MB each decoded): only one at a time may be held in memory.
    folder = tmp_path / "images"
    folder.mkdir()
    side, count = 1000, 16
    for i in range(count):
        assert cv2.imwrite(str(folder / f"photo_{i:02d}.png"),
                           np.full((side, side, 3), 60 + 10 * i, np.uint8))
    predictor.probabilities(np.zeros((1, 120, 120, 3), np.uint8))  # warm up the network
    tracemalloc.start()
    try:
        predict_folder(predictor, folder, tmp_path / "masks")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "masks").iterdir())) == count
    all_images = count * side * side * 3
    assert peak < all_images / 3, f"peak {peak / 1e6:.1f} MB"
