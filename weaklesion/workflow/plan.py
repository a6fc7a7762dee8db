"""What the workflow makes from a config: every target, and what each job reads and is told.

``rules/common.smk`` builds one :class:`Plan` from the validated config; the rule files call
its methods by name as input functions and params (Snakemake passes the job's wildcards, an
object with ``dataset``, ``protocol`` and so on as attributes). Paths come from
:mod:`weaklesion.layout`, which the tables and figures use to read them back.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from weaklesion import layout
from weaklesion.datasets import adapter_class
from weaklesion.errors import ConfigError
from weaklesion.evaluation.evaluated_set import evaluation_plan, test_reference
from weaklesion.layout import DEFAULT_VARIANT, protocol_folder, released_folder, run_folder
from weaklesion.models import is_weight_file
from weaklesion.protocols import PAPER
from weaklesion.raw.manifest import manifest_path, read_manifest
from weaklesion.training.schedules import MAX_EPOCHS
from weaklesion.workflow import resources
from weaklesion.workflow.config import (
    ablated_models,
    ablation_variants,
    expected_lesions,
    preprocess_settings,
    resolve_datasets,
    source_settings,
    variant_settings,
)

DATA_FIGURES = ("clusters", "cluster_parameters")
RUN_FIGURES = ("segmentations", "training_curves", "metric_distributions")
FIGURES = DATA_FIGURES + RUN_FIGURES
"""The figures of every dataset and protocol (``results/figures/<dataset>/<protocol>/``); the
runs' only where models are trained."""


def is_released(wildcards) -> bool:
    """Whether a job is a released model's (its path has no seed)."""
    return getattr(wildcards, "seed", None) is None


def variant_of(wildcards) -> str:
    """The ablation a job belongs to, or the default run."""
    return getattr(wildcards, "variant", None) or DEFAULT_VARIANT


class Plan:
    """The configured datasets (completed with their formats' defaults), models and seeds."""

    def __init__(self, config: Mapping[str, Any]):
        self.datasets = resolve_datasets(config["datasets"], config["protocols"])
        self.models = list(config["models"])
        self.seeds = list(config["seeds"])
        self.train = dict(config["train"])

    # --- what the workflow makes ------------------------------------------------------------

    def dataset_runs(self) -> list[tuple[str, str]]:
        """(dataset, protocol) of every configured dataset and protocol."""
        return [(dataset, protocol) for dataset, settings in self.datasets.items()
                for protocol in settings["protocols"]]

    def needs_grabcut(self, dataset: str) -> bool:
        """GrabCut masks are the training target under ``target: grabcut``, and the test
        reference of a format without masks."""
        settings = self.datasets[dataset]
        return settings["target"] == "grabcut" or test_reference(settings["format"]) == "grabcut"

    def data_files(self, dataset: str, protocol: str) -> list[str]:
        folder = protocol_folder(dataset, protocol)
        files = [f"{folder}/split.csv", f"{folder}/clusters.parquet",
                 f"{folder}/ellipses.parquet"]
        if self.needs_grabcut(dataset):
            files.append(f"{folder}/grabcut.h5")
        return files

    def model_runs(self, dataset: str, protocol: str) -> list[layout.Run]:
        """The default runs: every model with every seed."""
        return [layout.Run(dataset, protocol, model, seed)
                for model in self.models for seed in self.seeds]

    def ablation_runs(self, dataset: str, protocol: str,
                      setting: str | None = None) -> list[layout.Run]:
        """The runs the dataset's ablations add (of one ``setting``, or all)."""
        return [layout.Run(dataset, protocol, model, seed, variant)
                for ablated, _, variant in ablation_variants(self.datasets[dataset])
                if setting in (None, ablated)
                for model in ablated_models(ablated, self.models)
                for seed in self.seeds]

    def released_models(self, dataset: str, protocol: str) -> dict[str, str]:
        """Model → the paper's released checkpoint to evaluate (the dataset's ``released``
        entry), under protocol paper only: the release's input pipeline."""
        if protocol != PAPER:
            return {}
        return dict(self.datasets[dataset].get("released") or {})

    def released_summaries(self) -> list[str]:
        return [f"{released_folder(dataset, protocol, model)}/summary.json"
                for dataset, protocol in self.dataset_runs()
                for model in self.released_models(dataset, protocol)]

    def summaries(self) -> list[str]:
        """summary.json of every default run and released model: the paper's table."""
        return [str(run.path("summary.json")) for dataset, protocol in self.dataset_runs()
                for run in self.model_runs(dataset, protocol)] + self.released_summaries()

    def run_metrics(self) -> list[str]:
        """metrics.parquet of every run, the default ones and the ablations', for the paired
        comparisons."""
        return [str(run.path("metrics.parquet")) for dataset, protocol in self.dataset_runs()
                for run in self.model_runs(dataset, protocol)
                + self.ablation_runs(dataset, protocol)]

    def figures(self, dataset: str, protocol: str) -> list[str]:
        """The figures of one dataset and protocol, its ablations' included (only those of
        the data where no model is trained)."""
        folder = layout.FIGURES.format(dataset=dataset, protocol=protocol)
        if not self.models:
            return [f"{folder}/{name}.png" for name in DATA_FIGURES]
        ablated = sorted({s for s, _, _ in ablation_variants(self.datasets[dataset])})
        return ([f"{folder}/{name}.png" for name in FIGURES]
                + [f"{folder}/ablation_{setting}.png" for setting in ablated])

    def all_targets(self) -> list[str]:
        """What ``rule all`` asks for."""
        targets = []
        for dataset, protocol in self.dataset_runs():
            runs = self.model_runs(dataset, protocol) + self.ablation_runs(dataset, protocol)
            targets += self.data_files(dataset, protocol)
            targets += [str(run.path("summary.json")) for run in runs]
            targets += self.figures(dataset, protocol)
        tables, provenance = layout.TABLES, layout.PROVENANCE
        compared = self.datasets if self.models else []
        return (targets + self.released_summaries()
                + [f"{layout.DATASET_FIGURES.format(dataset=d)}/comparisons.png"
                   for d in compared]
                + [f"{tables}/paper_table.md", f"{tables}/comparisons.md",
                   f"{provenance}/config.yaml", f"{provenance}/software_versions.csv"])

    def formats(self) -> dict[str, str]:
        """Dataset → format, for the tables."""
        return {dataset: settings["format"] for dataset, settings in self.datasets.items()}

    def ablation_defaults(self) -> dict[str, dict[str, Any]]:
        """Dataset → ablated setting → the default run's value, for the ablation table."""
        return {dataset: {setting: settings[setting]
                          for setting, _, _ in ablation_variants(settings)}
                for dataset, settings in self.datasets.items()}

    # --- the raw data -----------------------------------------------------------------------

    def archive_names(self, dataset: str) -> list[str]:
        """The files of the dataset's manifest (the demo's: those it generates)."""
        settings = self.datasets[dataset]
        if settings["source"] == "generated":
            return list(adapter_class(settings["format"]).files)
        return [entry.name for entry in read_manifest(manifest_path(settings["manifest"]))]

    def manifest_file(self, wildcards) -> str:
        settings = self.datasets[wildcards.dataset]
        if settings["source"] == "generated":
            return f"{layout.ARCHIVES.format(dataset=wildcards.dataset)}/manifest.tsv"
        return str(manifest_path(settings["manifest"]))

    def manifest_entry(self, wildcards) -> dict[str, Any]:
        """The manifest row of the job's archive, for its download."""
        settings = self.datasets[wildcards.dataset]
        for entry in read_manifest(manifest_path(settings["manifest"])):
            if entry.name == wildcards.archive:
                return dataclasses.asdict(entry)
        raise ValueError(f"{wildcards.archive} is not in the manifest of {wildcards.dataset}")

    def archives(self, wildcards) -> list[str]:
        folder = layout.ARCHIVES.format(dataset=wildcards.dataset)
        return [f"{folder}/{name}" for name in self.archive_names(wildcards.dataset)]

    def raw_root(self, wildcards) -> str | list[str]:
        """What the dataset's adapter reads: the user's path, the verified archives
        themselves (read in place, :mod:`weaklesion.raw.sources`), or, with ``unpack:
        true``, their unpacked copy."""
        settings = self.datasets[wildcards.dataset]
        if settings["source"] == "path":
            return settings["path"]
        if settings["unpack"]:
            return layout.UNPACKED.format(dataset=wildcards.dataset)
        return self.archives(wildcards)

    def raw_inputs(self, wildcards) -> dict[str, Any]:
        """The files the adapter reads, for the jobs that read them: after verification."""
        settings = self.datasets[wildcards.dataset]
        if settings["source"] == "path":
            return {}
        if settings["unpack"]:
            return {"tree": layout.UNPACKED.format(dataset=wildcards.dataset)}
        return {"verified": f"{layout.DATASET.format(dataset=wildcards.dataset)}/archives.tsv",
                "archives": self.archives(wildcards)}

    def source_settings(self, wildcards) -> dict[str, Any]:
        return source_settings(self.datasets[wildcards.dataset])

    def preprocess_settings(self, wildcards) -> dict[str, Any]:
        return preprocess_settings(self.datasets[wildcards.dataset], wildcards.protocol)

    # --- one run's jobs ---------------------------------------------------------------------

    def run_settings(self, wildcards) -> dict[str, Any]:
        """The dataset's settings as the job's run sees them (k and target of its
        ablation)."""
        variant = variant_of(wildcards)
        return variant_settings(self.datasets[wildcards.dataset],
                                None if variant == DEFAULT_VARIANT else variant)

    def setting(self, name: str):
        """Input function: the job's dataset setting ``name``, as its run sees it (an
        ablation's own value); None where the entry has no such setting."""

        def value(wildcards) -> Any:
            return self.run_settings(wildcards).get(name)

        return value

    def training_settings(self, wildcards) -> dict[str, Any]:
        """The dataset's settings as one protocol's run sees them: not the list of protocols
        (adding a protocol leaves the others' jobs as they are), nor the ablations or the
        released models (adding them leaves the default runs as they are)."""
        settings = {key: value for key, value in self.run_settings(wildcards).items()
                    if key not in {"protocols", "ablations", "released"}}
        return {**settings, "protocol": wildcards.protocol}

    def cluster_file(self, wildcards) -> str:
        """The run's cluster labels: its k ablation's own, or the protocol's."""
        variant = variant_of(wildcards)
        own = variant.startswith("k-")
        folder = protocol_folder(wildcards.dataset, wildcards.protocol,
                                 variant if own else DEFAULT_VARIANT)
        return f"{folder}/clusters.parquet"

    def target_name(self, wildcards) -> str:
        """The run's training target: ``ellipse`` or ``grabcut``."""
        return self.run_settings(wildcards)["target"]

    def encoder_weights_file(self) -> str | None:
        """Pretrained weights as a local file: fetched by a local rule, or the user's own."""
        weights = self.train["encoder_weights"]
        if weights is None or is_weight_file(weights):
            return weights
        return layout.WEIGHTS.format(encoder=self.train["encoder"], weights=weights)

    def training_inputs(self, wildcards) -> dict[str, str]:
        folder = protocol_folder(wildcards.dataset, wildcards.protocol)
        store = "grabcut.h5" if self.target_name(wildcards) == "grabcut" else "targets.h5"
        inputs = {"data": f"{folder}/data.h5", "targets": f"{folder}/{store}",
                  "clusters": self.cluster_file(wildcards), "split": f"{folder}/split.csv"}
        weights = self.encoder_weights_file()
        if weights:
            inputs["weights"] = weights
        return inputs

    def checkpoint_folder(self, wildcards) -> str:
        folder = run_folder(wildcards.dataset, wildcards.protocol, wildcards.model,
                            wildcards.seed, variant_of(wildcards))
        return f"{folder}/checkpoints"

    def evaluated_set(self, wildcards) -> dict[str, Any]:
        """Which lesions a run is scored on, against which masks
        (:mod:`weaklesion.evaluation.evaluated_set`)."""
        plan = evaluation_plan(self.datasets[wildcards.dataset]["format"], wildcards.protocol,
                               wildcards.model)
        return dataclasses.asdict(plan)

    def evaluation_inputs(self, wildcards) -> dict[str, str]:
        folder = protocol_folder(wildcards.dataset, wildcards.protocol)
        plan = evaluation_plan(self.datasets[wildcards.dataset]["format"], wildcards.protocol,
                               wildcards.model)
        if is_released(wildcards):
            run = released_folder(wildcards.dataset, wildcards.protocol, wildcards.model)
        else:
            run = run_folder(wildcards.dataset, wildcards.protocol, wildcards.model,
                             wildcards.seed, variant_of(wildcards))
        return {"model": f"{run}/model.pt", "data": f"{folder}/data.h5",
                "reference": f"{folder}/{plan.reference_store}",
                "clusters": self.cluster_file(wildcards), "split": f"{folder}/split.csv"}

    def expected_checkpoint(self, wildcards) -> dict[str, Any]:
        """What the evaluated model.pt must be: the job's model, encoder and k (a released
        model: its own encoder and k, as imported)."""
        if is_released(wildcards):
            return {"name": wildcards.model}
        return {"name": wildcards.model, "encoder": self.train["encoder"],
                "num_clusters": self.run_settings(wildcards)["k"]}

    # --- the paper's released models -------------------------------------------------------

    def check_released_files(self) -> None:
        """Stop before any job where a configured released checkpoint is not a file (relative
        paths: to the working directory), naming its key and path. Not left to the import
        job's input: Snakemake skips that job, error and all, once its output exists."""
        for dataset, settings in self.datasets.items():
            for model, path in (settings.get("released") or {}).items():
                if not os.path.isfile(path):
                    raise ConfigError(
                        f"datasets.{dataset}.released.{model}: {path} is not a file (working "
                        f"directory {os.getcwd()}); the paper's released checkpoints are "
                        "downloaded by hand, see the README's 'Evaluate the released models'")

    def released_file(self, wildcards) -> str:
        """The released checkpoint a job imports."""
        return self.released_models(wildcards.dataset, wildcards.protocol)[wildcards.model]

    def dataset_format(self, wildcards) -> str:
        return self.datasets[wildcards.dataset]["format"]

    # --- the figures ------------------------------------------------------------------------

    def run_files(self, filename: str, *, first_seed: bool = False):
        """Input function: ``filename`` of every run (or each model's first seed, the
        figures' examples) of the job's dataset and protocol."""

        def files(wildcards) -> list[str]:
            seeds = [min(self.seeds)] if first_seed else self.seeds
            return [f"{run_folder(wildcards.dataset, wildcards.protocol, model, seed)}/"
                    f"{filename}" for model in self.models for seed in seeds]

        return files

    def figure_reference(self, wildcards) -> str:
        """The masks the segmentation figure contours as the reference: the test split's."""
        store = "grabcut.h5" if self.figure_reference_name(wildcards) == "grabcut" else "data.h5"
        return f"{protocol_folder(wildcards.dataset, wildcards.protocol)}/{store}"

    def figure_reference_name(self, wildcards) -> str:
        return test_reference(self.datasets[wildcards.dataset]["format"])

    def ablation_metrics(self, wildcards) -> list[str]:
        """metrics.parquet of the runs one setting's ablation compares: the ablated runs and
        the default runs of the same models."""
        models = ablated_models(wildcards.setting, self.models)
        default = [layout.Run(wildcards.dataset, wildcards.protocol, model, seed)
                   for model in models for seed in self.seeds]
        ablated = self.ablation_runs(wildcards.dataset, wildcards.protocol, wildcards.setting)
        return [str(run.path("metrics.parquet")) for run in default + ablated]

    def ablation_default(self, wildcards) -> Any:
        return self.datasets[wildcards.dataset][wildcards.setting]

    # --- sizing jobs (weaklesion.workflow.resources) ---------------------------------------

    def lesions(self, wildcards) -> int:
        return expected_lesions(self.datasets[wildcards.dataset])

    def in_memory_mb(self, wildcards) -> int:
        return resources.in_memory_mb(self.lesions(wildcards))

    def preprocess_mem_mb(self, wildcards) -> int:
        fmt = self.datasets[wildcards.dataset]["format"]
        return resources.preprocess_mem_mb(adapter_class(fmt).worker_memory_mb)

    def preprocess_runtime(self, wildcards) -> int:
        return resources.preprocess_runtime_minutes(self.lesions(wildcards))

    def grabcut_runtime(self, wildcards) -> int:
        return resources.grabcut_runtime_minutes(self.lesions(wildcards))

    def training_priority(self, wildcards) -> int:
        """Longest training first."""
        return resources.training_priority(self.lesions(wildcards), wildcards.model)

    def training_runtime(self, wildcards) -> int:
        """Minutes for the maximum number of epochs, training and validation, with margin."""
        epochs = self.train.get("epochs") or MAX_EPOCHS
        return resources.training_runtime_minutes(self.lesions(wildcards), wildcards.model,
                                                  epochs)
