"""The reference code's training input path, as the baseline of bench_datapath.

The released code kept each patch and its pseudo-mask as image files and built every batch
one sample at a time, as a PyTorch Dataset under a DataLoader does: decode the files, resize
to 120×120, pad to the network's canvas by mirroring (albumentations' PadIfNeeded default,
OpenCV's BORDER_REFLECT_101), normalise with the ImageNet statistics, make tensors, collate.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

PATCH = 120
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def write_sample_files(images: np.ndarray, masks: np.ndarray, folder: Path) -> list[Path]:
    """One PNG per patch and per mask, as the reference preprocessing left them."""
    folder.mkdir(parents=True, exist_ok=True)
    stems = []
    for index, (image, mask) in enumerate(zip(images, masks, strict=True)):
        stem = folder / f"{index:06d}"
        cv2.imwrite(f"{stem}.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(f"{stem}_mask.png", mask.astype(np.uint8) * 255)
        stems.append(stem)
    return stems


def load_sample(stem: Path, canvas: tuple[int, int], top: int, left: int):
    """One sample as the reference Dataset's ``__getitem__`` made it: (3, H, W), (1, H, W)."""
    image = cv2.cvtColor(cv2.imread(f"{stem}.png"), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(f"{stem}_mask.png", cv2.IMREAD_GRAYSCALE)
    image = cv2.resize(image, (PATCH, PATCH))
    mask = cv2.resize(mask, (PATCH, PATCH), interpolation=cv2.INTER_NEAREST)
    height, width = canvas
    borders = (top, height - PATCH - top, left, width - PATCH - left)
    image = cv2.copyMakeBorder(image, *borders, cv2.BORDER_REFLECT_101)
    mask = cv2.copyMakeBorder(mask, *borders, cv2.BORDER_REFLECT_101)
    image = (image.astype(np.float32) / 255.0 - MEAN) / STD
    return (torch.from_numpy(image.transpose(2, 0, 1).copy()),
            torch.from_numpy((mask > 127).astype(np.float32))[None])


def load_batch(stems: list[Path], clusters: np.ndarray, canvas: tuple[int, int], top: int,
               left: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A batch the way DataLoader's default collate builds it from single samples."""
    samples = [load_sample(stem, canvas, top, left) for stem in stems]
    images = torch.stack([image for image, _ in samples])
    masks = torch.stack([mask for _, mask in samples])
    return images, {"mask": masks, "cluster": torch.as_tensor(clusters)}
