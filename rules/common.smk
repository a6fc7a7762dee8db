# Helpers shared by the rule files (dataset lookups, target lists).
import dataclasses
import re

from weaklesion import scheduling
from weaklesion.archives import manifest_path, read_manifest
from weaklesion.config import (
    PROTOCOLS,
    ablated_models,
    ablation_variants,
    expected_lesions,
    preprocess_settings,
    resolve_datasets,
    source_settings,
    variant_settings,
)
from weaklesion.demo import DEMO_FILES
from weaklesion.evaluated_set import evaluation_plan

DATASETS = resolve_datasets(config["datasets"], config["protocols"])
CONDA_ENV = "../envs/weaklesion.yaml"


def names_regex(names):
    """A wildcard constraint matching exactly these dataset names (or nothing)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


DEMO_DATASETS = names_regex([d for d, s in DATASETS.items() if s["source"] == "demo"])
DOWNLOAD_DATASETS = names_regex([d for d, s in DATASETS.items() if s["source"] == "archives"])


wildcard_constraints:
    dataset=names_regex(DATASETS),
    protocol=names_regex(PROTOCOLS),
    variant=r"k-\d+|target-(?:ellipse|grabcut)",


def protocols_of(dataset):
    return DATASETS[dataset]["protocols"]


def dataset_runs():
    """(dataset, protocol) of every configured dataset and protocol."""
    return [(dataset, protocol) for dataset in DATASETS for protocol in protocols_of(dataset)]


def manifest_entries(dataset):
    source = DATASETS[dataset]
    if source["source"] == "demo":
        return [{"name": name} for name in DEMO_FILES]
    return [vars(e) for e in read_manifest(manifest_path(source["manifest"]))]


def manifest_file(wildcards):
    if DATASETS[wildcards.dataset]["source"] == "demo":
        return f"resources/{wildcards.dataset}/archives/manifest.tsv"
    return str(manifest_path(DATASETS[wildcards.dataset]["manifest"]))


def archive_files(wildcards):
    return [
        f"resources/{wildcards.dataset}/archives/{entry['name']}"
        for entry in manifest_entries(wildcards.dataset)
    ]


def manifest_entry(wildcards):
    for entry in manifest_entries(wildcards.dataset):
        if entry["name"] == wildcards.archive:
            return entry
    raise ValueError(f"{wildcards.archive} is not in the manifest of {wildcards.dataset}")


def raw_root(wildcards):
    """What the dataset's adapter reads: the user's path, the verified archives themselves
    (read in place, weaklesion.sources), or, with `unpack: true`, their unpacked copy."""
    settings = DATASETS[wildcards.dataset]
    if settings["source"] == "path":
        return settings["path"]
    if settings.get("unpack"):
        return f"resources/{wildcards.dataset}/unpacked"
    return archive_files(wildcards)


def raw_inputs(wildcards):
    """The files the adapter reads, for the rules that read them: after verification."""
    settings = DATASETS[wildcards.dataset]
    if settings["source"] == "path":
        return {}
    if settings.get("unpack"):
        return {"tree": f"resources/{wildcards.dataset}/unpacked"}
    return {
        "verified": f"results/{wildcards.dataset}/archives.tsv",
        "archives": archive_files(wildcards),
    }


def adapter_format(wildcards):
    return DATASETS[wildcards.dataset]["format"]


def raw_file_settings(wildcards):
    return source_settings(DATASETS[wildcards.dataset])


def preprocessing(wildcards):
    return preprocess_settings(DATASETS[wildcards.dataset], wildcards.protocol)


def demo_options(wildcards):
    return DATASETS[wildcards.dataset].get("demo", {})


def cluster_count(wildcards):
    return DATASETS[wildcards.dataset]["k"]


def ablated_k(wildcards):
    return int(wildcards.k)


def cluster_seed(wildcards):
    return DATASETS[wildcards.dataset]["cluster_seed"]


def split_fractions(wildcards):
    return DATASETS[wildcards.dataset]["split"]


def needs_grabcut(dataset):
    """GrabCut masks are the training target under `target: grabcut`, and DeepLesion's
    evaluation target (it has no ground-truth masks)."""
    source = DATASETS[dataset]
    return source["target"] == "grabcut" or source["format"] == "deeplesion"


def data_half_targets(dataset, protocol):
    folder = f"results/{dataset}/{protocol}"
    targets = [f"{folder}/split.csv", f"{folder}/clusters.parquet", f"{folder}/ellipses.parquet"]
    if needs_grabcut(dataset):
        targets.append(f"{folder}/grabcut.h5")
    return targets


def all_runs(filename):
    """Input function: ``filename`` of every model x seed run of the wildcards' dataset and
    protocol."""

    def runs(wildcards):
        return expand(
            "results/{dataset}/{protocol}/{model}/seed{seed}/{filename}",
            dataset=wildcards.dataset,
            protocol=wildcards.protocol,
            model=MODELS,
            seed=SEEDS,
            filename=filename,
        )

    return runs


def first_seed_runs(filename):
    """Input function: ``filename`` of each model's first seed (the figures' examples)."""

    def runs(wildcards):
        return expand(
            "results/{dataset}/{protocol}/{model}/seed{seed}/{filename}",
            dataset=wildcards.dataset,
            protocol=wildcards.protocol,
            model=MODELS,
            seed=min(SEEDS),
            filename=filename,
        )

    return runs


FIGURES = (
    "clusters",
    "cluster_parameters",
    "segmentations",
    "training_curves",
    "metric_distributions",
)


def figure_targets(dataset, protocol):
    return [f"results/figures/{dataset}/{protocol}/{name}.png" for name in FIGURES]


def all_summaries():
    return [summary for run in dataset_runs() for summary in model_targets(*run)]


def all_run_metrics():
    """Per-lesion metrics of every run, the default ones and the ablations', for the paired
    comparisons."""
    return [
        summary.replace("summary.json", "metrics.parquet")
        for run in dataset_runs()
        for summary in model_targets(*run) + ablation_targets(*run)
    ]


def ablation_targets(dataset, protocol):
    """summary.json of every run an ablation of ``dataset`` adds."""
    return [
        f"results/{dataset}/{protocol}/ablations/{variant}/{model}/seed{seed}/summary.json"
        for setting, _, variant in ablation_variants(DATASETS[dataset])
        for model in ablated_models(setting, MODELS)
        for seed in SEEDS
    ]


def ablation_figures(dataset, protocol):
    settings = {setting for setting, _, _ in ablation_variants(DATASETS[dataset])}
    return [f"results/figures/{dataset}/{protocol}/ablation_{s}.png" for s in sorted(settings)]


def ablation_default(wildcards):
    return DATASETS[wildcards.dataset][wildcards.setting]


def ablation_defaults():
    """Dataset -> ablated setting -> the default run's value, for the ablation table."""
    return {
        dataset: {setting: settings[setting] for setting, _, _ in ablation_variants(settings)}
        for dataset, settings in DATASETS.items()
    }


def ablation_runs(wildcards):
    """metrics.parquet of the runs that one setting's ablation compares: the ablated runs and
    the default runs of the same models."""
    variants = [
        (setting, variant)
        for setting, _, variant in ablation_variants(DATASETS[wildcards.dataset])
        if setting == wildcards.setting
    ]
    folder = f"results/{wildcards.dataset}/{wildcards.protocol}"
    models = ablated_models(wildcards.setting, MODELS)
    paths = [f"{folder}/{m}/seed{s}/metrics.parquet" for m in models for s in SEEDS]
    for _, variant in variants:
        paths += [
            f"{folder}/ablations/{variant}/{m}/seed{s}/metrics.parquet"
            for m in models
            for s in SEEDS
        ]
    return paths


def dataset_formats():
    return {dataset: settings["format"] for dataset, settings in DATASETS.items()}


def all_targets():
    return (
        [
            target
            for run in dataset_runs()
            for target in data_half_targets(*run)
            + model_targets(*run)
            + figure_targets(*run)
            + ablation_targets(*run)
            + ablation_figures(*run)
        ]
        + [f"results/figures/{dataset}/comparisons.png" for dataset in DATASETS]
        + [
            "results/tables/paper_table.md",
            "results/tables/comparisons.md",
            "results/provenance/config.yaml",
            "results/provenance/software_versions.csv",
        ]
    )


# --- models --------------------------------------------------------------------------

MODELS = config["models"]
SEEDS = config["seeds"]
TRAIN = config["train"]
MODEL_REGEX = "|".join(re.escape(m) for m in MODELS)
WEIGHT_PRESETS = {"imagenet", "ssl", "swsl", "instagram"}


def encoder_weights_file(wildcards):
    """Pretrained weights as a local file: fetched by a local rule, or the user's own file."""
    weights = TRAIN["encoder_weights"]
    if weights is None:
        return []
    if weights in WEIGHT_PRESETS:
        return f"resources/weights/{TRAIN['encoder']}.{weights}.pt"
    return weights


def protocol_folder(wildcards):
    return f"results/{wildcards.dataset}/{wildcards.protocol}"


def variant_of(wildcards):
    """The ablation a job belongs to, or None for the default runs' jobs."""
    return getattr(wildcards, "variant", None)


def run_folder(wildcards):
    """Where a model's runs live: the protocol's folder, or its ablation's."""
    variant = variant_of(wildcards)
    folder = protocol_folder(wildcards)
    return f"{folder}/ablations/{variant}" if variant else folder


def run_settings(wildcards):
    """The dataset's settings as the wildcards' run sees them (k and target of its ablation)."""
    return variant_settings(DATASETS[wildcards.dataset], variant_of(wildcards))


def cluster_file(wildcards):
    """The run's cluster labels: its k ablation's own, or the protocol's."""
    variant = variant_of(wildcards)
    if variant and variant.startswith("k-"):
        return f"{run_folder(wildcards)}/clusters.parquet"
    return f"{protocol_folder(wildcards)}/clusters.parquet"


def training_inputs(wildcards):
    folder = protocol_folder(wildcards)
    inputs = {
        "data": f"{folder}/data.h5",
        "targets": training_target_file(wildcards),
        "clusters": cluster_file(wildcards),
        "split": f"{folder}/split.csv",
    }
    weights = encoder_weights_file(wildcards)
    if weights:
        inputs["weights"] = weights
    return inputs


def training_target_file(wildcards):
    if run_settings(wildcards)["target"] == "grabcut":
        return f"{protocol_folder(wildcards)}/grabcut.h5"
    return f"{protocol_folder(wildcards)}/targets.h5"


def training_target_name(wildcards):
    return run_settings(wildcards)["target"]


def checkpoint_folder(wildcards):
    return f"{run_folder(wildcards)}/{wildcards.model}/seed{wildcards.seed}/checkpoints"


def dataset_settings(wildcards):
    """The dataset's settings as one protocol's run sees them (not the list of protocols, so
    adding a protocol leaves the others' jobs as they are; nor the ablations, so adding one
    leaves the default runs as they are)."""
    settings = {
        k: v for k, v in run_settings(wildcards).items() if k not in {"protocols", "ablations"}
    }
    return {**settings, "protocol": wildcards.protocol}


def train_config(wildcards):
    return TRAIN


def evaluated_set(wildcards):
    """Which lesions a run is scored on, against which masks (weaklesion.evaluated_set)."""
    plan = evaluation_plan(
        DATASETS[wildcards.dataset]["format"], wildcards.protocol, wildcards.model
    )
    return dataclasses.asdict(plan)


def evaluation_reference(wildcards):
    """Ground-truth masks where they exist; DeepLesion is scored against GrabCut targets
    (and, under protocol paper, its A1+L against its training targets)."""
    reference = evaluated_set(wildcards)["reference"]
    store = {"mask": "data.h5", "grabcut": "grabcut.h5", "ellipse": "targets.h5"}[reference]
    return f"{protocol_folder(wildcards)}/{store}"


def evaluation_inputs(wildcards):
    folder = protocol_folder(wildcards)
    return {
        "model": f"{run_folder(wildcards)}/{wildcards.model}/seed{wildcards.seed}/model.pt",
        "data": f"{folder}/data.h5",
        "reference": evaluation_reference(wildcards),
        "clusters": cluster_file(wildcards),
        "split": f"{folder}/split.csv",
    }


def figure_reference(wildcards):
    """The masks the segmentation figure contours as the reference: the test split's."""
    if DATASETS[wildcards.dataset]["format"] == "deeplesion":
        return f"{protocol_folder(wildcards)}/grabcut.h5"
    return f"{protocol_folder(wildcards)}/data.h5"


def figure_reference_name(wildcards):
    return "grabcut" if DATASETS[wildcards.dataset]["format"] == "deeplesion" else "mask"


def expected_checkpoint(wildcards):
    return {
        "name": wildcards.model,
        "encoder": TRAIN["encoder"],
        "num_clusters": run_settings(wildcards)["k"],
    }


def model_targets(dataset, protocol):
    return expand(
        "results/{dataset}/{protocol}/{model}/seed{seed}/summary.json",
        dataset=dataset,
        protocol=protocol,
        model=MODELS,
        seed=SEEDS,
    )


# --- resources, sized from the dataset so that a scheduler can pack jobs ------------------

MB_PER_LESION = 0.06  # a 120x120 RGB patch and its masks, held in memory


def lesions(wildcards):
    return expected_lesions(DATASETS[wildcards.dataset])


def preprocess_mem_mb(wildcards):
    # LiTS workers each hold a CT volume (up to ~0.5 GB) in memory.
    per_worker = 1000 if DATASETS[wildcards.dataset]["format"] == "lits" else 250
    return 2000 + 8 * per_worker


def preprocess_runtime(wildcards):
    return 15 + lesions(wildcards) // 1000


def in_memory_mb(wildcards):
    return 4000 + int(lesions(wildcards) * MB_PER_LESION)


def grabcut_runtime(wildcards):
    return 10 + lesions(wildcards) // 2000


def training_priority(wildcards):
    """Longest training first (weaklesion.scheduling)."""
    return scheduling.training_priority(lesions(wildcards), wildcards.model)


def training_runtime(wildcards):
    """Minutes for the maximum number of epochs, training and validation, with margin."""
    epochs = TRAIN.get("epochs") or 50
    return scheduling.training_runtime_minutes(lesions(wildcards), wildcards.model, epochs)
