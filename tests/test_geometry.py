"""Input geometry: where the 120×120 patch sits in the canvas, and ImageNet normalisation."""

import cv2
import numpy as np
import pytest
import torch

from weaklesion.errors import ConfigError
from weaklesion.models.canvas import canvas_shape, from_canvas, get_geometry, normalise, to_canvas

# The torchvision ImageNet statistics, as published (not read from the code under test).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


def patch_batch(n=2, channels=3, dtype=torch.float32, device="cpu"):
    """Patches whose every pixel has a distinct non-zero value."""
    values = torch.arange(1, n * channels * 120 * 120 + 1, dtype=torch.float64)
    return values.reshape(n, channels, 120, 120).to(dtype=dtype, device=device)


def test_canvas_shapes():
    assert canvas_shape("paper") == (384, 480)
    assert canvas_shape("compact") == (128, 128)


def test_unknown_geometry_names_the_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"geometry.*'huge'.*compact.*paper"):
        canvas_shape("huge")


@pytest.mark.parametrize("device", DEVICES)
def test_paper_canvas_puts_patch_at_rows_132_251_cols_180_299(device):
    patch = patch_batch(device=device)
    canvas = to_canvas(patch, "paper")
    assert canvas.shape == (2, 3, 384, 480)
    assert canvas.device == patch.device
    assert torch.equal(canvas[:, :, 132:252, 180:300], patch)
    # The window's corners, and the pixels just outside it.
    assert canvas[0, 0, 132, 180] == patch[0, 0, 0, 0]
    assert canvas[1, 2, 251, 299] == patch[1, 2, 119, 119]
    for row, col in [(131, 180), (132, 179), (252, 299), (251, 300)]:
        assert canvas[0, 0, row, col] == 0
    outside = canvas.clone()
    outside[:, :, 132:252, 180:300] = 0
    assert not outside.any()


def test_compact_canvas_puts_patch_at_4_4():
    patch = patch_batch()
    canvas = to_canvas(patch, "compact")
    assert canvas.shape == (2, 3, 128, 128)
    assert torch.equal(canvas[:, :, 4:124, 4:124], patch)
    assert canvas[:, :, :4].eq(0).all() and canvas[:, :, 124:].eq(0).all()
    assert canvas[:, :, :, :4].eq(0).all() and canvas[:, :, :, 124:].eq(0).all()


@pytest.mark.parametrize("geometry", ["paper", "compact"])
@pytest.mark.parametrize("pad_mode", ["zero", "reflect"])
def test_round_trip_returns_the_patch(geometry, pad_mode):
    patch = patch_batch(n=3, channels=1)
    assert torch.equal(from_canvas(to_canvas(patch, geometry, pad_mode=pad_mode), geometry), patch)


def test_masks_keep_their_dtype():
    mask = torch.zeros(2, 1, 120, 120, dtype=torch.bool)
    mask[:, :, 50:70, 40:60] = True
    canvas = to_canvas(mask, "paper")
    assert canvas.dtype == torch.bool
    assert int(canvas.sum()) == int(mask.sum())


@pytest.mark.parametrize("geometry", ["paper", "compact"])
def test_reflect_mode_matches_opencv_border_reflect_101(geometry):
    # The reference padded with albumentations' PadIfNeeded, i.e. cv2.BORDER_REFLECT_101.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(120, 120, 3), dtype=np.uint8)
    geo = get_geometry(geometry)
    expected = cv2.copyMakeBorder(
        image,
        geo.top,
        geo.height - geo.top - 120,
        geo.left,
        geo.width - geo.left - 120,
        cv2.BORDER_REFLECT_101,
    )
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    canvas = to_canvas(batch, geometry, pad_mode="reflect")
    assert np.array_equal(canvas[0].permute(1, 2, 0).numpy(), expected)


def test_reflect_padding_commutes_with_normalisation():
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.integers(0, 256, size=(2, 3, 120, 120), dtype=np.uint8))
    pad_then_normalise = normalise(to_canvas(images, "paper", pad_mode="reflect"), "resnet18")
    normalise_then_pad = to_canvas(normalise(images, "resnet18"), "paper", pad_mode="reflect")
    assert torch.allclose(pad_then_normalise, normalise_then_pad)


def test_zero_padding_after_normalisation_is_zero_in_normalised_space():
    images = torch.full((1, 3, 120, 120), 200, dtype=torch.uint8)
    canvas = to_canvas(normalise(images, "resnet101"), "compact")
    assert canvas[0, :, 0, 0].eq(0).all()
    assert canvas[0, :, 4, 4].ne(0).all()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: to_canvas(torch.zeros(1, 3, 128, 128), "paper"), ValueError),
        (lambda: to_canvas(torch.zeros(3, 120, 120), "paper"), ValueError),
        (lambda: to_canvas(torch.zeros(1, 3, 120, 120), "paper", pad_mode="edge"), ConfigError),
        (lambda: from_canvas(torch.zeros(1, 1, 128, 128), "paper"), ValueError),
    ],
)
def test_wrong_shapes_and_modes_are_refused(call, error):
    with pytest.raises(error):
        call()


def one_pixel_image(rgb):
    image = np.zeros((1, 120, 120, 3), dtype=np.uint8)
    image[0, 7, 9] = rgb
    return image


def test_normalise_applies_imagenet_mean_and_std():
    out = normalise(one_pixel_image((255, 0, 128)), "resnet101", "rgb")
    assert out.dtype == torch.float32 and out.shape == (1, 3, 120, 120)
    expected = [(1.0 - MEAN[0]) / STD[0], (0.0 - MEAN[1]) / STD[1], (128 / 255 - MEAN[2]) / STD[2]]
    assert out[0, :, 7, 9].tolist() == pytest.approx(expected, abs=1e-6)
    black = [-m / s for m, s in zip(MEAN, STD, strict=True)]
    assert out[0, :, 0, 0].tolist() == pytest.approx(black, abs=1e-6)


def test_normalise_bgr_feeds_blue_where_the_encoder_expects_red():
    out = normalise(one_pixel_image((255, 0, 128)), "resnet101", "bgr")
    # The paper's HAM10000 defect: B, G, R values normalised with the R, G, B statistics.
    expected = [(128 / 255 - MEAN[0]) / STD[0], (0.0 - MEAN[1]) / STD[1], (1.0 - MEAN[2]) / STD[2]]
    assert out[0, :, 7, 9].tolist() == pytest.approx(expected, abs=1e-6)


def test_rgb_and_bgr_differ_only_where_red_and_blue_differ():
    image = np.zeros((1, 120, 120, 3), dtype=np.uint8)
    image[0, :60] = (10, 20, 30)
    image[0, 60:] = (90, 20, 90)
    rgb = normalise(image, "resnet18", "rgb")
    bgr = normalise(image, "resnet18", "bgr")
    assert not torch.allclose(rgb[:, :, :60], bgr[:, :, :60])
    # Green sits in the middle either way, and swapping equal R and B changes nothing.
    assert torch.equal(rgb[:, 1], bgr[:, 1])
    assert torch.allclose(bgr[0, 0, 60:], rgb[0, 0, 60:])


def test_normalise_accepts_channels_first_and_last_alike():
    rng = np.random.default_rng(2)
    nhwc = rng.integers(0, 256, size=(2, 120, 120, 3), dtype=np.uint8)
    nchw = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    assert torch.equal(normalise(nhwc, "resnet18"), normalise(nchw, "resnet18"))


@pytest.mark.parametrize("device", DEVICES)
def test_normalise_stays_on_the_input_device(device):
    images = torch.zeros(1, 3, 120, 120, dtype=torch.uint8, device=device)
    assert normalise(images, "resnet18").device == images.device


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((np.zeros((1, 120, 120, 3), np.float32), "resnet18"), {}, TypeError),
        ((np.zeros((1, 3, 3, 3), np.uint8), "resnet18"), {}, ValueError),
        ((np.zeros((1, 120, 120, 3), np.uint8), "resnet18", "hsv"), {}, ConfigError),
        ((np.zeros((1, 120, 120, 3), np.uint8), "vgg16"), {}, ConfigError),
    ],
)
def test_normalise_refuses_what_it_cannot_interpret(args, kwargs, error):
    with pytest.raises(error):
        normalise(*args, **kwargs)


def test_ambiguous_layout_is_resolved_by_the_caller():
    image = np.zeros((1, 3, 3, 3), np.uint8)
    image[0, 0, 0, 2] = 255  # channels-last: blue of pixel (0, 0); channels-first: R at (0, 2)
    last = normalise(image, "resnet18", channels_last=True)
    first = normalise(image, "resnet18", channels_last=False)
    assert last[0, 2, 0, 0] == pytest.approx((1 - MEAN[2]) / STD[2])
    assert first[0, 0, 0, 2] == pytest.approx((1 - MEAN[0]) / STD[0])
