"""What a run was made with: software versions and the hardware, for the report."""

from __future__ import annotations

import importlib.metadata
import platform

import pandas as pd

PACKAGES = (
    "weaklesion", "snakemake", "torch", "torchvision", "segmentation-models-pytorch",
    "numpy", "pandas", "scikit-learn", "scikit-image", "opencv-python-headless", "h5py",
    "nibabel", "pyarrow", "matplotlib", "numba",
)


def software_versions() -> pd.DataFrame:
    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    for package in PACKAGES:
        try:
            rows.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    import torch

    cuda = torch.cuda.is_available()
    rows.append(("cuda", torch.version.cuda or "none"))
    rows.append(("gpu", torch.cuda.get_device_name() if cuda else "none (CPU)"))
    return pd.DataFrame(rows, columns=["component", "version"])
