"""Where the 120×120 patch sits in the network's input canvas, and how it is normalised.

The paper feeds each 120×120 patch padded to a 384×480 canvas (geometry ``paper``); the
patch occupies rows 132..251 and columns 180..299, and predictions are read back from that
window. ``compact`` pads to 128×128 instead (patch at 4, 4): the smallest canvas divisible by
DeepLabV3+'s output stride of 16, about 11× cheaper.

Order of operations: :func:`normalise` first, then :func:`to_canvas`. With ``pad_mode="zero"``
the padding is therefore 0 *in normalised space* (the ImageNet mean colour), which is what a
network trained on normalised inputs sees as "nothing". The released reference code pads with
albumentations 0.5.2 ``PadIfNeeded`` defaults, i.e. ``cv2.BORDER_REFLECT_101`` on both image
and mask; ``pad_mode="reflect"`` reproduces that, and for it the order does not matter because
normalisation is per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weaklesion import PATCH_SIZE
from weaklesion.errors import ConfigError


@dataclass(frozen=True)
class Geometry:
    """A canvas of ``height``×``width`` with the patch's top-left corner at (``top``, ``left``)."""

    name: str
    height: int
    width: int
    top: int
    left: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + PATCH_SIZE)

    @property
    def cols(self) -> slice:
        return slice(self.left, self.left + PATCH_SIZE)


GEOMETRIES: dict[str, Geometry] = {
    "paper": Geometry("paper", height=384, width=480, top=132, left=180),
    "compact": Geometry("compact", height=128, width=128, top=4, left=4),
}

PAD_MODES = ("zero", "reflect")
CHANNEL_ORDERS = ("rgb", "bgr")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# smp's own encoders whose ImageNet weights were trained with the torchvision statistics.
# smp.encoders.get_preprocessing_params() would tell us too, but it downloads a config file
# from the Hugging Face hub on every call, which must not happen at training or test time.
_TORCHVISION_STATS_PREFIXES = ("resnet", "resnext")


def get_geometry(geometry: str | Geometry) -> Geometry:
    """The :class:`Geometry` called ``geometry`` (config key ``geometry``)."""
    if isinstance(geometry, Geometry):
        return geometry
    try:
        return GEOMETRIES[geometry]
    except (KeyError, TypeError):
        raise ConfigError(
            f"geometry: unknown value {geometry!r}; valid values are {sorted(GEOMETRIES)}"
        ) from None


def canvas_shape(geometry: str | Geometry) -> tuple[int, int]:
    """(height, width) of the network input for ``geometry``."""
    return get_geometry(geometry).shape


def to_canvas(
    batch: torch.Tensor, geometry: str | Geometry, *, pad_mode: str = "zero"
) -> torch.Tensor:
    """Pad an (N, C, 120, 120) batch of images or masks to the (N, C, H, W) canvas.

    ``pad_mode="zero"`` fills with zeros; ``"reflect"`` mirrors the patch without repeating
    the edge pixel (OpenCV's BORDER_REFLECT_101), as the reference code did. Any dtype and
    device; differentiable.
    """
    geo = get_geometry(geometry)
    _check_patch_batch(batch)
    if pad_mode == "zero":
        canvas = batch.new_zeros((*batch.shape[:2], geo.height, geo.width))
        canvas[:, :, geo.rows, geo.cols] = batch
        return canvas
    if pad_mode == "reflect":
        rows = _reflect101_index(geo.height, geo.top, PATCH_SIZE, batch.device)
        cols = _reflect101_index(geo.width, geo.left, PATCH_SIZE, batch.device)
        return batch[:, :, rows[:, None], cols[None, :]]
    raise ConfigError(f"pad_mode: unknown value {pad_mode!r}; valid values are {PAD_MODES}")


def from_canvas(canvas: torch.Tensor, geometry: str | Geometry) -> torch.Tensor:
    """The (N, C, 120, 120) patch window of an (N, C, H, W) canvas (a view, not a copy)."""
    geo = get_geometry(geometry)
    if canvas.ndim != 4 or tuple(canvas.shape[-2:]) != geo.shape:
        raise ValueError(
            f"expected an (N, C, {geo.height}, {geo.width}) canvas for geometry "
            f"{geo.name!r}, got shape {tuple(canvas.shape)}"
        )
    return canvas[:, :, geo.rows, geo.cols]


def imagenet_stats(encoder: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per RGB channel, on the 0..1 scale, that ``encoder``'s weights expect."""
    if encoder.startswith(_TORCHVISION_STATS_PREFIXES):
        return IMAGENET_MEAN, IMAGENET_STD
    if encoder.startswith("tu-"):
        import timm  # a dependency of segmentation_models_pytorch; its configs are offline

        cfg = timm.models.get_pretrained_cfg(encoder[3:])
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std)
    raise ConfigError(
        f"encoder: normalisation statistics of {encoder!r} are not known offline; "
        f"use a ResNet/ResNeXt encoder (e.g. 'resnet101', the paper's) or a timm 'tu-' encoder"
    )


def normalise(
    batch: torch.Tensor | np.ndarray,
    encoder: str,
    channel_order: str = "rgb",
    *,
    channels_last: bool | None = None,
) -> torch.Tensor:
    """ImageNet-normalise a uint8 RGB batch into a float32 (N, 3, H, W) tensor.

    ``batch`` is (N, H, W, 3) or (N, 3, H, W); the layout is inferred unless both readings
    are possible, in which case pass ``channels_last``. ``channel_order`` is the order the
    encoder is *fed*: ``"bgr"`` reverses the stored RGB channels before normalising with the
    RGB statistics, reproducing the paper's HAM10000 defect (OpenCV-read images given to an
    RGB encoder). The result lives on the input's device.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ConfigError(
            f"channel_order: unknown value {channel_order!r}; valid values are {CHANNEL_ORDERS}"
        )
    images = torch.as_tensor(batch)
    if images.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 image batch (0..255), got dtype {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"expected a 4-d image batch, got shape {tuple(images.shape)}")
    if channels_last is None:
        channels_last = _infer_channels_last(images.shape)
    if channels_last:
        images = images.permute(0, 3, 1, 2)
    if images.shape[1] != 3:
        raise ValueError(f"expected 3 channels, got shape {tuple(images.shape)}")
    if channel_order == "bgr":
        images = images.flip(1)
    mean, std = imagenet_stats(encoder)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return ((images.float() / 255.0 - mean_t) / std_t).contiguous()


def _infer_channels_last(shape: torch.Size) -> bool:
    first, last = shape[1] == 3, shape[-1] == 3
    if first == last:
        raise ValueError(
            f"cannot tell channels-first from channels-last for shape {tuple(shape)}; "
            f"pass channels_last=True or False"
        )
    return last


def _check_patch_batch(batch: torch.Tensor) -> None:
    if batch.ndim != 4 or tuple(batch.shape[-2:]) != (PATCH_SIZE, PATCH_SIZE):
        raise ValueError(
            f"expected an (N, C, {PATCH_SIZE}, {PATCH_SIZE}) patch batch, "
            f"got shape {tuple(batch.shape)}"
        )


def _reflect101_index(length: int, offset: int, size: int, device: torch.device) -> torch.Tensor:
    """Source index of each canvas position when a ``size`` run starting at ``offset`` is
    mirrored outwards without repeating its edge; periodic with period 2·(size − 1), so pads
    wider than the patch keep bouncing as OpenCV's do."""
    period = 2 * (size - 1)
    pos = torch.remainder(torch.arange(length, device=device) - offset, period)
    return torch.where(pos < size, pos, period - pos)
