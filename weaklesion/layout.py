"""Where the workflow puts every file: the one module that builds a path and reads a run back.

The rules take their output patterns from here (Snakemake fills the ``{wildcards}``), and the
tables, comparisons and figures parse the files they are given with :func:`parse_run`::

    results/<dataset>/archives.tsv, source_files.tsv            the raw data, every protocol
    results/<dataset>/<protocol>/data.h5, targets.h5, …          one protocol's data stages
    results/<dataset>/<protocol>/<model>/seed<N>/                one trained run
    results/<dataset>/paper/<model>/released/                    the paper's own model, imported
    results/<dataset>/<protocol>/ablations/<variant>/…           an ablation's own stages and runs
    results/tables/, results/figures/, results/provenance/       what people read
    resources/<dataset>/archives/, resources/weights/            downloads

A *variant* names an ablation's value, ``<setting>-<value>`` (``k-12``, ``target-grabcut``);
the runs of the configured settings are the ``default`` variant.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from weaklesion.errors import WeaklesionError

RESULTS = "results"

DATASET = "results/{dataset}"
PROTOCOL = "results/{dataset}/{protocol}"
ABLATION = "results/{dataset}/{protocol}/ablations/{variant}"
RUN = "results/{dataset}/{protocol}/{model}/seed{seed}"
ABLATION_RUN = "results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}"
RELEASED_RUN = "results/{dataset}/{protocol}/{model}/released"
"""A released checkpoint of the paper, imported and evaluated like a run (protocol paper)."""

TABLES = "results/tables"
DATASET_FIGURES = "results/figures/{dataset}"
FIGURES = "results/figures/{dataset}/{protocol}"
PROVENANCE = "results/provenance"

ARCHIVES = "resources/{dataset}/archives"
UNPACKED = "resources/{dataset}/unpacked"
WEIGHTS = "resources/weights/{encoder}.{weights}.pt"

DEFAULT_VARIANT = "default"
"""The variant of the runs made with the configured settings (no ablation)."""

VARIANT_PATTERN = r"k-\d+|target-(?:ellipse|grabcut)"
"""The ablation variants a path can name (the ablatable settings: k and target)."""

_SEED = re.compile(r"seed(\d+)")


@dataclass(frozen=True, order=True)
class Run:
    """One trained model: ``model`` with ``seed`` on one dataset under one protocol, in the
    default run or an ablation's ``variant``."""

    dataset: str
    protocol: str
    model: str
    seed: int
    variant: str = DEFAULT_VARIANT

    def folder(self, results: str | os.PathLike = RESULTS) -> Path:
        parts = [self.dataset, self.protocol]
        if self.variant != DEFAULT_VARIANT:
            parts += ["ablations", self.variant]
        return Path(results).joinpath(*parts, self.model, f"seed{self.seed}")

    def path(self, filename: str, results: str | os.PathLike = RESULTS) -> Path:
        return self.folder(results) / filename


def protocol_folder(dataset: str, protocol: str, variant: str = DEFAULT_VARIANT) -> str:
    """The folder of one dataset's stages under ``protocol`` (an ablation's own for a
    variant other than the default)."""
    folder = PROTOCOL.format(dataset=dataset, protocol=protocol)
    return folder if variant == DEFAULT_VARIANT else f"{folder}/ablations/{variant}"


def run_folder(dataset: str, protocol: str, model: str, seed: int,
               variant: str = DEFAULT_VARIANT) -> str:
    return f"{protocol_folder(dataset, protocol, variant)}/{model}/seed{seed}"


def released_folder(dataset: str, protocol: str, model: str) -> str:
    return RELEASED_RUN.format(dataset=dataset, protocol=protocol, model=model)


def variant_name(setting: str, value: object) -> str:
    """``k``, 12 → ``k-12``."""
    return f"{setting}-{value}"


def split_variant(variant: str) -> tuple[str, str]:
    """``k-12`` → (``k``, ``12``)."""
    setting, _, value = variant.partition("-")
    return setting, value


def parse_run(path: str | os.PathLike) -> Run:
    """The run a file belongs to, from where it lies:
    ``…/<dataset>/<protocol>[/ablations/<variant>]/<model>/seed<N>/<file>``."""
    parts = Path(path).parts
    match = _SEED.fullmatch(parts[-2]) if len(parts) >= 5 else None
    if match is None:
        raise WeaklesionError(
            f"{path}: expected a run's file, laid out as results/<dataset>/<protocol>"
            "[/ablations/<variant>]/<model>/seed<N>/<file>")
    if len(parts) >= 7 and parts[-5] == "ablations":
        dataset, protocol, variant = parts[-7], parts[-6], parts[-4]
    else:
        dataset, protocol, variant = parts[-5], parts[-4], DEFAULT_VARIANT
    return Run(dataset, protocol, parts[-3], int(match.group(1)), variant)


def find_run_files(results: str | os.PathLike, filename: str, *,
                   ablations: bool = True) -> list[Path]:
    """Every run's ``filename`` under a results folder, sorted (the ablations' too unless
    ``ablations`` is False)."""
    results = Path(results)
    found = set(results.glob(f"*/*/*/seed*/{filename}"))
    if ablations:
        found |= set(results.glob(f"*/*/ablations/*/*/seed*/{filename}"))
    return sorted(p for p in found if _SEED.fullmatch(p.parent.name))


def find_released_files(results: str | os.PathLike, filename: str) -> list[Path]:
    """Every released model's ``filename`` under a results folder, sorted."""
    return sorted(Path(results).glob(f"*/*/*/released/{filename}"))
