"""The three networks: construction, output contract, trainability, attention, weights."""

import json

import pytest
import segmentation_models_pytorch as smp
import segmentation_models_pytorch.encoders as smp_encoders
import torch
import torchvision
from safetensors.torch import save_file

from weaklesion.errors import ConfigError, MissingFilesError, WeaklesionError
from weaklesion.models import MODEL_NAMES
from weaklesion.models.acoseg import ACoseg
from weaklesion.models.canvas import canvas_shape
from weaklesion.models.registry import MODEL_CLASSES, build_model
from weaklesion.models.weights import fetch_encoder_weights
from weaklesion.training.losses import compute_loss, coseg_pairs

K = 3
SMALL = {"encoder": "resnet18", "encoder_weights": None}


def small_model(name, seed=0):
    torch.manual_seed(seed)
    options = {"attention_hidden": 16} if name == "ACoseg" else {}
    return build_model(name, num_clusters=K, **SMALL, **options)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models():
    return {name: small_model(name) for name in MODEL_NAMES}


def fixed_batch(n, size=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, size, size, generator=generator)
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):  # a differently placed square lesion per image
        masks[i, :, 10 + 4 * i : 40 + 4 * i, 20 : 44 + 2 * i] = 1.0
    clusters = torch.arange(n) % K
    return images, {"mask": masks, "cluster": clusters}


def test_registry_names_in_the_papers_order():
    assert MODEL_NAMES == ("A1", "ACoseg", "A1+L")
    assert tuple(MODEL_CLASSES) == MODEL_NAMES


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("geometry", ["compact", "paper"])
def test_output_contract_at_both_geometries(models, name, geometry):
    model = models[name].eval()
    n = 2 if geometry == "compact" else 1
    height, width = canvas_shape(geometry)
    with torch.no_grad():
        out = model(torch.randn(n, 3, height, width))
    expected = {"mask": (n, 1, height, width)}
    if name == "A1+L":
        expected["cluster"] = (n, K)
    assert {key: tuple(value.shape) for key, value in out.items()} == expected


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_records_the_construction_arguments(models, name):
    config = models[name].config
    assert config["name"] == name
    assert config["encoder"] == "resnet18"
    assert config["encoder_weights"] is None
    assert config["num_clusters"] == (K if name == "A1+L" else None)
    if name == "ACoseg":
        assert config["attention_hidden"] == 16
    json.dumps(config)  # plain values only


def test_cluster_head_reads_the_deepest_encoder_features(models):
    model = models["A1+L"]
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 1
    assert (linear[0].in_features, linear[0].out_features) == (512, K)  # resnet18 layer4


def test_acoseg_attention_has_the_papers_sizes_for_resnet101():
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        model = build_model("ACoseg", encoder="resnet101", encoder_weights=None)
    shapes = [
        tuple(m.weight.shape)
        for attention in (model.deep_attention, model.highres_attention)
        for m in attention.mlp
        if isinstance(m, torch.nn.Linear)
    ]
    assert shapes == [(4096, 2048), (2048, 4096), (4096, 256), (256, 4096)]
    assert [type(m) for m in model.deep_attention.mlp][1::2] == [torch.nn.Tanh, torch.nn.Sigmoid]


def set_constant_attention(model: ACoseg, bias: float):
    """Make both attention vectors the constant sigmoid(bias)."""
    for attention in (model.deep_attention, model.highres_attention):
        last = attention.mlp[2]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.constant_(last.bias, bias)


def decode_with_scaled_features(model: ACoseg, x, scale):
    features = list(model.deeplab.encoder(x))
    features[-1] = features[-1] * scale
    features[2] = features[2] * scale
    return model.deeplab.segmentation_head(model.deeplab.decoder(features))


def test_acoseg_attention_multiplies_the_decoder_inputs():
    model = small_model("ACoseg").eval()
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        set_constant_attention(model, 0.0)  # sigmoid(0): every channel halved
        halved = model(x)["mask"]
        assert torch.allclose(halved, decode_with_scaled_features(model, x, 0.5), atol=1e-5)
        set_constant_attention(model, 40.0)  # sigmoid(40) == 1 in float32: no attention
        unscaled = model(x)["mask"]
        assert torch.allclose(unscaled, decode_with_scaled_features(model, x, 1.0), atol=1e-5)
    assert not torch.allclose(halved, unscaled, atol=1e-3)


def test_acoseg_attention_is_each_images_own():
    model = small_model("ACoseg").eval()
    seen = {}
    model.deeplab.decoder.register_forward_pre_hook(
        lambda module, args: seen.update(deep=args[0][-1], highres=args[0][2])
    )
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        model(x)
        features = model.deeplab.encoder(x)
        for key, index, attention in [
            ("deep", -1, model.deep_attention),
            ("highres", 2, model.highres_attention),
        ]:
            vector = attention.mlp(features[index].mean(dim=(2, 3)))  # (N, C), per image
            expected = features[index] * vector[:, :, None, None]
            assert torch.allclose(seen[key], expected, atol=1e-6)
        assert not torch.allclose(
            model.deep_attention.weights(features[-1][:1]),
            model.deep_attention.weights(features[-1][1:]),
        )


def train_steps(name, model, images, targets, steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(steps):
        if name == "ACoseg":
            for first, second in coseg_pairs(len(images), sub_batch=2):
                optimizer.zero_grad()
                outputs = (model(images[first]), model(images[second]))
                pair = ({"mask": targets["mask"][first]}, {"mask": targets["mask"][second]})
                loss = compute_loss(name, outputs, pair)["loss"]
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        else:
            optimizer.zero_grad()
            loss = compute_loss(name, model(images), targets)["loss"]
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(name):
    torch.manual_seed(0)
    model = small_model(name)
    if name == "ACoseg":  # two batches of four, each two pairs of two: four updates
        images, targets = fixed_batch(4)
        losses = train_steps(name, model, images, targets, steps=2)
    else:
        images, targets = fixed_batch(2)
        losses = train_steps(name, model, images, targets, steps=4)
    assert len(losses) == 4
    assert losses[-1] < 0.8 * losses[0], losses


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(ConfigError, match=r"'A3'.*'A1', 'ACoseg', 'A1\+L'"):
        build_model("A3", **SMALL)


@pytest.mark.parametrize("k", [None, 1, 2.5, "45", True])
def test_a1l_needs_a_valid_number_of_clusters(k):
    with pytest.raises(ConfigError, match="num_clusters"):
        build_model("A1+L", num_clusters=k, **SMALL)


def test_k_is_ignored_by_models_without_a_cluster_head():
    model = build_model("A1", num_clusters=45, **SMALL)
    assert model.config["num_clusters"] is None
    assert set(model(torch.randn(2, 3, 64, 64))) == {"mask"}


def test_options_of_other_models_are_refused():
    with pytest.raises(ConfigError, match=r"attention_hidden.*A1\b"):
        build_model("A1", attention_hidden=8, **SMALL)
    with pytest.raises(ConfigError, match="attention_hidden"):
        build_model("ACoseg", attention_hidden=0, **SMALL)


def test_unknown_encoder_and_weight_preset_fail_before_any_download():
    with pytest.raises(ConfigError, match=r"encoder.*'resnet19'.*resnet18"):
        build_model("A1", encoder="resnet19", encoder_weights=None)
    with pytest.raises(ConfigError, match=r"encoder_weights.*'imagenet22k'.*imagenet"):
        build_model("A1", encoder="resnet18", encoder_weights="imagenet22k")


def encoder_file(tmp_path, encoder="resnet18", seed=1, name="encoder.pt"):
    torch.manual_seed(seed)
    state = smp_encoders.get_encoder(encoder, weights=None).state_dict()
    path = tmp_path / name
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("name", ["A1+L", "ACoseg"])
def test_encoder_weights_from_a_local_file(tmp_path, name):
    path, state = encoder_file(tmp_path)
    model = build_model(name, encoder="resnet18", encoder_weights=path, num_clusters=K)
    loaded = model.deeplab.encoder.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[key], state[key]) for key in state)
    assert model.config["encoder_weights"] == str(path)


def test_a_torchvision_resnet_state_dict_is_accepted(tmp_path):
    resnet = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-torchvision.pth"
    torch.save(resnet.state_dict(), path)
    model = build_model("A1", encoder="resnet18", encoder_weights=str(path))
    assert torch.equal(model.deeplab.encoder.conv1.weight, resnet.conv1.weight)


def test_weights_of_another_encoder_are_refused_naming_the_file(tmp_path):
    path, _ = encoder_file(tmp_path, encoder="resnet34", name="resnet34.pt")
    with pytest.raises(WeaklesionError, match=r"resnet34\.pt.*do not fit.*96 unexpected"):
        build_model("A1", encoder="resnet18", encoder_weights=path)


def test_unusable_weight_files_are_named(tmp_path):
    with pytest.raises(MissingFilesError, match="absent.pt"):
        build_model("A1", encoder="resnet18", encoder_weights=tmp_path / "absent.pt")
    text = tmp_path / "notes.pt"
    text.write_text("not tensors")
    with pytest.raises(WeaklesionError, match="notes.pt"):
        build_model("A1", encoder="resnet18", encoder_weights=text)
    nested = tmp_path / "nested.pt"
    torch.save({"model_dict": {"conv1.weight": torch.zeros(1)}}, nested)
    with pytest.raises(WeaklesionError, match="nested.pt.*state dict"):
        build_model("A1", encoder="resnet18", encoder_weights=nested)


def test_fetch_saves_what_smp_loads_and_models_build_from_it(tmp_path, monkeypatch):
    # Stand in for the Hugging Face hub with local files in its format (safetensors +
    # config.json), so smp's real loading path runs without any network access.
    torch.manual_seed(7)
    published = {
        key: value.contiguous()
        for key, value in smp_encoders.get_encoder("resnet18", weights=None).state_dict().items()
    }
    hub = tmp_path / "hub"
    hub.mkdir()
    save_file(published, hub / "model.safetensors")
    (hub / "config.json").write_text(json.dumps({"mean": [0.485, 0.456, 0.406]}))
    requested = []

    def fake_download(repo_id, filename, revision=None, **kwargs):
        requested.append((repo_id, filename))
        return str(hub / filename)

    monkeypatch.setattr(smp_encoders, "hf_hub_download", fake_download)
    dest = fetch_encoder_weights("resnet18", "imagenet", tmp_path / "weights" / "resnet18.pt")
    assert ("smp-hub/resnet18.imagenet", "model.safetensors") in requested
    assert sorted(p.name for p in dest.parent.iterdir()) == ["resnet18.pt"]  # no temp left
    saved = torch.load(dest, weights_only=True)
    assert all(torch.equal(saved[key], published[key]) for key in published)
    model = build_model("A1", encoder="resnet18", encoder_weights=dest)
    assert torch.equal(
        model.deeplab.encoder.layer4[1].conv2.weight, published["layer4.1.conv2.weight"]
    )


def test_models_are_smp_deeplabv3plus(models):
    for model in models.values():
        assert isinstance(model.deeplab, smp.DeepLabV3Plus)
