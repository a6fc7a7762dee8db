"""Checkpoint files: round trip, self-description, and the errors users will meet."""

import datetime

import numpy as np
import pytest
import torch

from weaklesion.errors import MissingFilesError, WeaklesionError
from weaklesion.models import MODEL_NAMES
from weaklesion.models.registry import build_model
from weaklesion.training.checkpoints import (
    FORMAT,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from weaklesion.training.losses import compute_loss

K = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_model(name, encoder="resnet18", k=K, seed=0):
    torch.manual_seed(seed)
    options = {"attention_hidden": 16} if name == "ACoseg" else {}
    return build_model(name, encoder=encoder, encoder_weights=None, num_clusters=k, **options)


def trained_once(name):
    """A model and Adam after one step, so weights, BN statistics and optimiser state are
    all different from a fresh build."""
    model = small_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(4, 3, 64, 64)
    targets = {"mask": (images[:, :1] > 0).float(), "cluster": torch.tensor([0, 2, 1, 0])}
    if name == "ACoseg":
        outputs = (model(images[:2]), model(images[2:]))
        pair = ({"mask": targets["mask"][:2]}, {"mask": targets["mask"][2:]})
        loss = compute_loss(name, outputs, pair)["loss"]
    else:
        loss = compute_loss(name, model(images), targets)["loss"]
    loss.backward()
    optimizer.step()
    return model, optimizer


@pytest.fixture(scope="module")
def a1_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "a1.pt"
    save_checkpoint(path, small_model("A1"), epoch=0, extra={})
    return path


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_gives_the_same_outputs(tmp_path, name):
    model, optimizer = trained_once(name)
    path = tmp_path / "run" / "best.pt"
    extra = {"val_mask_loss": np.float64(0.25), "seed": 1, "history": [1.5, 0.75]}
    save_checkpoint(path, model, optimizer=optimizer, epoch=7, extra=extra)

    loaded, state = load_checkpoint(path)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        before, after = model(x), loaded(x)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)

    assert type(loaded) is type(model)
    assert loaded.config == model.config
    assert state["epoch"] == 7
    assert state["extra"] == {"val_mask_loss": 0.25, "seed": 1, "history": [1.5, 0.75]}
    assert type(state["extra"]["val_mask_loss"]) is float
    resumed = torch.optim.Adam(loaded.parameters(), lr=1e-3)
    resumed.load_state_dict(state["optimizer"])
    assert resumed.state_dict()["state"][0]["step"] == 1


def test_file_is_plain_and_self_describing(a1_file):
    payload = torch.load(a1_file, weights_only=True)
    assert payload["format"] == FORMAT
    assert payload["model"] == {
        "name": "A1",
        "encoder": "resnet18",
        "encoder_weights": None,
        "num_clusters": None,
    }
    assert payload["optimizer"] is None
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())


def test_save_leaves_no_temporary_file(tmp_path):
    save_checkpoint(tmp_path / "a.pt", small_model("A1"), epoch=1, extra={"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_unstorable_extra_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"extra\['when'\].*datetime"):
        save_checkpoint(
            tmp_path / "a.pt",
            small_model("A1"),
            epoch=1,
            extra={"when": datetime.datetime(2021, 7, 7)},
        )
    assert list(tmp_path.iterdir()) == []


def test_reading_does_not_need_internet_even_for_imagenet_models(tmp_path, a1_file):
    # A model trained from ImageNet weights records them, but reloading must not fetch them.
    payload = torch.load(a1_file, weights_only=True)
    payload["model"]["encoder_weights"] = "imagenet"
    path = tmp_path / "imagenet.pt"
    torch.save(payload, path)
    model, state = load_checkpoint(path)
    assert model.config["encoder_weights"] == "imagenet"
    assert state["config"]["encoder_weights"] == "imagenet"


@pytest.mark.parametrize(
    ("name", "expect", "field", "stored", "wanted"),
    [
        ("A1", {"name": "A1+L"}, "name", "'A1'", "'A1\\+L'"),
        ("A1", {"name": "A1", "encoder": "resnet101"}, "encoder", "'resnet18'", "'resnet101'"),
        ("A1+L", {"name": "A1+L", "num_clusters": 45}, "num_clusters", "3", "45"),
    ],
)
def test_mismatch_names_file_field_and_both_values(tmp_path, name, expect, field, stored, wanted):
    path = tmp_path / "model.pt"
    save_checkpoint(path, small_model(name), epoch=0, extra={})
    pattern = rf"model\.pt.*'{field}'.*{stored}.*{wanted}"
    with pytest.raises(WeaklesionError, match=pattern):
        load_checkpoint(path, expect=expect)


def test_matching_expectations_load(tmp_path):
    path = tmp_path / "a1l.pt"
    save_checkpoint(path, small_model("A1+L"), epoch=0, extra={})
    model, _ = load_checkpoint(
        path, expect={"name": "A1+L", "encoder": "resnet18", "num_clusters": np.int64(K)}
    )
    assert model.config["num_clusters"] == K


def test_k_is_not_checked_for_models_without_a_cluster_head(a1_file):
    model, _ = load_checkpoint(a1_file, expect={"name": "A1", "num_clusters": 45})
    assert model.config["name"] == "A1"


def test_files_that_are_not_checkpoints_are_named(tmp_path):
    with pytest.raises(MissingFilesError, match="absent.pt"):
        load_checkpoint(tmp_path / "absent.pt")

    text = tmp_path / "notes.pt"
    text.write_text("epoch 3, loss 0.1\n")
    with pytest.raises(WeaklesionError, match=r"notes\.pt: not a weaklesion checkpoint"):
        load_checkpoint(text)

    # The reference code's format: {'model_dict': state_dict}.
    reference = tmp_path / "ham_a1.pt"
    torch.save({"model_dict": small_model("A1").state_dict()}, reference)
    with pytest.raises(WeaklesionError, match=r"ham_a1\.pt: not a weaklesion checkpoint"):
        load_checkpoint(reference)


def test_truncated_file_is_named(tmp_path, a1_file):
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(a1_file.read_bytes()[:5000])
    with pytest.raises(WeaklesionError, match=r"cut\.pt: not a weaklesion checkpoint"):
        read_checkpoint(truncated)


def test_weights_that_contradict_the_description_are_refused(tmp_path, a1_file):
    payload = torch.load(a1_file, weights_only=True)
    payload["model"]["encoder"] = "resnet34"
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    with pytest.raises(WeaklesionError, match=r"edited\.pt: weights do not fit the A1 model"):
        load_checkpoint(path)


def test_newer_format_versions_are_refused(tmp_path, a1_file):
    payload = torch.load(a1_file, weights_only=True)
    payload["format_version"] = 99
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(WeaklesionError, match=r"future\.pt.*version 99"):
        load_checkpoint(path)
