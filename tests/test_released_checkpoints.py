"""Importing the paper's released models (``weaklesion import-checkpoint``): files in the
release's layout, made from random-weight project models, come back as the same networks."""

import hashlib

import cv2
import numpy as np
import pytest
import torch
from released_helpers import random_model, released_state, write_released

from weaklesion.cli import main
from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.evaluation.folder_prediction import predict_folder
from weaklesion.evaluation.predictor import Predictor
from weaklesion.models import MODEL_NAMES
from weaklesion.models.canvas import from_canvas, normalise, to_canvas
from weaklesion.training.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from weaklesion.training.released_checkpoints import import_released

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def patches(count=2, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 120, 120, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_imported_model_computes_what_the_released_one_did(name, tmp_path):
    original = random_model(name)
    released = write_released(original, tmp_path / "released.pt")
    out = tmp_path / "model.pt"
    assert main(["import-checkpoint", "--model", name, str(released), "--out", str(out)]) == 0

    imported, state = load_checkpoint(out)
    imported.eval()
    assert state["epoch"] is None
    assert state["extra"]["released"] == {
        "file": "released.pt", "md5": hashlib.md5(released.read_bytes()).hexdigest(),
        "dataset_format": "ham10000"}
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        mine, theirs = imported(x), original(x)
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key

    # Fed as the released evaluation fed it: BGR, reflect-101 onto the 384×480 canvas, fp32.
    predictor = Predictor(out, torch.device("cpu"))
    assert (predictor.geometry, predictor.channel_order, predictor.pad_mode,
            predictor.precision) == ("paper", "bgr", "reflect", "fp32")
    images = patches()
    canvas = to_canvas(normalise(torch.from_numpy(images), "resnet18", "bgr",
                                 channels_last=True), "paper", pad_mode="reflect")
    assert canvas.shape[-2:] == (384, 480)
    with torch.no_grad():
        expected = torch.sigmoid(from_canvas(original(canvas)["mask"], "paper")[:, 0])
    assert np.array_equal(predictor.probabilities(images), expected.numpy())


def test_the_release_s_coseg_aliases_are_checked_before_they_are_dropped(tmp_path):
    model = random_model("ACoseg")
    state = released_state(model)
    assert sum(k.startswith("deeplab_model.") for k in state) == sum(
        k.startswith(("deeplab_encoder.", "deeplab_decoder.", "deeplab_seghead."))
        for k in state)
    alias = "deeplab_decoder.aspp.0.convs.0.1.bias"
    changed = {**state, alias: state[alias] + 1}
    bad = write_released(model, tmp_path / "ham_coseg.pt", changed)
    out = tmp_path / "model.pt"
    with pytest.raises(WeaklesionError, match=r"ham_coseg\.pt: deeplab_decoder\.aspp\.0\.convs"
                                              r"\.0\.1\.bias should be a second name of "
                                              r"deeplab_model\.decoder\.aspp"):
        import_released(bad, "ACoseg", out)
    assert not out.exists()


def test_an_a1l_file_brings_its_own_k(tmp_path):
    original = random_model("A1+L", k=40)
    out = import_released(write_released(original, tmp_path / "lits_a1class.pt"), "A1+L",
                          tmp_path / "model.pt", dataset_format="lits")
    imported, state = load_checkpoint(out)
    assert imported.config["num_clusters"] == 40 == state["extra"]["settings"]["num_clusters"]
    assert state["extra"]["settings"]["channel_order"] == "rgb"  # LiTS was read as RGB


@pytest.mark.parametrize(("name", "keys"), [("A1", 685), ("A1+L", 687), ("ACoseg", 1378)])
def test_the_release_s_resnet101_layout_is_recognised(name, keys, tmp_path):
    """The key counts the release's files have (resnet101, ACoseg's MLPs 4096 wide)."""
    original = random_model(name, encoder="resnet101", k=45, hidden=4096)
    released = write_released(original, tmp_path / "released.pt")
    assert len(torch.load(released, weights_only=True)["model_dict"]) == keys
    imported, _ = load_checkpoint(import_released(released, name, tmp_path / "model.pt"))
    assert imported.config["encoder"] == "resnet101"
    assert all(torch.equal(a, b) for a, b in zip(imported.state_dict().values(),
                                                 original.state_dict().values(), strict=True))


@pytest.mark.parametrize(("holds", "claimed", "message"), [
    ("A1", "ACoseg", "--model ACoseg, but the file holds a released A1"),
    ("ACoseg", "A1", "--model A1, but the file holds a released ACoseg"),
    ("A1+L", "A1", "--model A1, but the file holds a released A1\\+L"),
    ("A1", "A1+L", "--model A1\\+L, but the file holds a released A1 "),
])
def test_a_wrong_model_is_named(holds, claimed, message, tmp_path):
    released = write_released(random_model(holds), tmp_path / "ham.pt")
    with pytest.raises(WeaklesionError, match=r"ham\.pt: " + message):
        import_released(released, claimed, tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def _without_first_decoder_weight(state):
    key = next(k for k in state if k.startswith("decoder.") and k.endswith("weight"))
    return {k: v for k, v in state.items() if k != key}, f"missing keys: deeplab.{key}"


def _with_an_extra_key(state):
    return {**state, "decoder.extra.weight": torch.zeros(1)}, (
        "unexpected keys: deeplab.decoder.extra.weight")


def _with_a_wrong_shape(state):
    return {**state, "segmentation_head.0.weight": torch.zeros(2, 256, 1, 1)}, (
        r"wrong shapes: deeplab.segmentation_head.0.weight \(2, 256, 1, 1\)")


@pytest.mark.parametrize("damage", [_without_first_decoder_weight, _with_an_extra_key,
                                    _with_a_wrong_shape])
def test_weights_that_do_not_fit_are_named_and_nothing_is_written(damage, tmp_path):
    model = random_model("A1")
    state, message = damage(released_state(model))
    bad = write_released(model, tmp_path / "ham_a1.pt", state)
    out = tmp_path / "model.pt"
    with pytest.raises(WeaklesionError, match=r"ham_a1\.pt: does not fit the released A1 "
                                              r"\(resnet18\): .*" + message):
        import_released(bad, "A1", out)
    assert not out.exists()


def test_files_of_other_layouts_are_refused_by_name(tmp_path, capsys):
    with pytest.raises(MissingFilesError, match="absent.pt"):
        import_released(tmp_path / "absent.pt", "A1", tmp_path / "model.pt")
    mine = tmp_path / "project.pt"
    torch.save({"state_dict": random_model("A1").state_dict()}, mine)
    with pytest.raises(WeaklesionError, match=r"project\.pt: not a released checkpoint .*"
                                              r"found \['state_dict'\]"):
        import_released(mine, "A1", tmp_path / "model.pt")
    text = tmp_path / "notes.pt"
    text.write_text("not a torch file\n")
    with pytest.raises(WeaklesionError, match=r"notes\.pt: torch\.load cannot read it safely"):
        import_released(text, "A1", tmp_path / "model.pt")
    # Code in a pickle is never run: weights_only refuses it.
    hostile = tmp_path / "hostile.pt"
    torch.save({"model_dict": released_state(random_model("A1")), "run": print}, hostile)
    with pytest.raises(WeaklesionError, match=r"hostile\.pt: torch\.load cannot read it"):
        import_released(hostile, "A1", tmp_path / "model.pt")
    # The command line names the problem and returns 2.
    assert main(["import-checkpoint", "--model", "A1", str(mine), "--out",
                 str(tmp_path / "model.pt")]) == 2
    assert "project.pt: not a released checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()


def test_a_released_file_given_as_a_checkpoint_says_how_to_import_it(tmp_path):
    released = write_released(random_model("A1"), tmp_path / "ham_a1.pt")
    with pytest.raises(WeaklesionError, match=r"ham_a1\.pt: .*released models; import it "
                                              r"first: python -m weaklesion import-checkpoint"):
        read_checkpoint(released)


def _photographs(folder, sizes=((450, 600), (300, 400))):
    """Textured RGB photographs of a dark lesion, written as HAM10000's JPEGs."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index, (height, width) in enumerate(sizes):
        image = rng.integers(120, 230, (height, width, 3), dtype=np.uint8)
        cv2.ellipse(image, (width // 2, height // 2), (width // 4, height // 5), 20, 0, 360,
                    (60, 40, 30), -1)
        assert cv2.imwrite(str(folder / f"ISIC_{index:07d}.jpg"), image)
    return sorted(folder.iterdir())


def _expected_masks(predictor, files, interpolation):
    """Each photograph resized to 120×120 with ``interpolation``, segmented, and the
    probabilities resized back, as ``predict`` promises."""
    masks = []
    for path in files:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        patch = cv2.resize(image, (120, 120), interpolation=interpolation)
        probability = predictor.probabilities(patch[None])[0]
        full = cv2.resize(probability, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        masks.append(full >= 0.5)
    return masks


def test_predict_feeds_a_paper_model_the_released_resize_and_a_corrected_one_its_own(tmp_path):
    files = _photographs(tmp_path / "images")
    original = random_model("A1", seed=3)
    paper = import_released(write_released(original, tmp_path / "ham_a1.pt"), "A1",
                            tmp_path / "paper.pt")
    # The same weights as a corrected-protocol model: RGB, zero padding, area resize.
    _, state = load_checkpoint(paper)
    corrected_settings = {**state["extra"]["settings"], "protocol": "corrected",
                          "channel_order": "rgb", "pad_mode": "zero"}
    corrected = save_checkpoint(tmp_path / "corrected.pt", original, epoch=3,
                                extra={"settings": corrected_settings})
    for model_file, interpolation, other in ((paper, cv2.INTER_LINEAR, cv2.INTER_AREA),
                                             (corrected, cv2.INTER_AREA, cv2.INTER_LINEAR)):
        predictor = Predictor(model_file, torch.device("cpu"))
        out = tmp_path / model_file.stem
        written = predict_folder(predictor, tmp_path / "images", out, batch_size=1)
        assert [p.name for p in written] == [f"{f.stem}.png" for f in files]
        masks = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) == 255 for p in written]
        expected = _expected_masks(predictor, files, interpolation)
        assert all(np.array_equal(a, b) for a, b in zip(masks, expected, strict=True))
        # The resize decides pixels: the other pipeline's masks are not these.
        unexpected = _expected_masks(predictor, files, other)
        assert sum(int((a != b).sum()) for a, b in zip(masks, unexpected, strict=True)) > 0
