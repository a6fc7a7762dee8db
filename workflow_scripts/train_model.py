"""Train one model on one dataset with one seed (resumes from its last checkpoint)."""

from pathlib import Path

import torch

from weaklesion.splits.arrays import load_splits
from weaklesion.training.devices import claim_device
from weaklesion.training.fast_paths import split_gpu_config
from weaklesion.training.loop import run_fingerprint, train
from weaklesion.training.precision import pick_device
from weaklesion.training.settings import settings_from_config
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    # Before anything starts CUDA: this job's own GPU, the only one it sees. From the config,
    # not params: which GPU a job ran on must not make Snakemake rerun it.
    fast, claim = split_gpu_config(snakemake.config["gpus"])
    log.info("GPU slot: %s", claim_device(**claim).description)
    torch.set_num_threads(snakemake.threads)
    settings = settings_from_config(
        model=snakemake.wildcards.model,
        seed=int(snakemake.wildcards.seed),
        dataset=snakemake.params.dataset,
        train_config=snakemake.params.train,
        weights_file=snakemake.input.get("weights"),
    )
    device = pick_device(snakemake.params.train["device"])
    log.info("training %s on %s (seed %d) on %s: %s", settings.model,
             snakemake.wildcards.dataset, settings.seed, device, settings)
    splits = load_splits(snakemake.input.data, snakemake.input.targets,
                         snakemake.params.target_name, snakemake.input.clusters,
                         snakemake.input.split)
    train(
        settings, splits,
        out_model=Path(snakemake.output.model),
        out_history=Path(snakemake.output.history),
        checkpoint_dir=Path(snakemake.params.checkpoint_dir),
        fingerprint=run_fingerprint(settings, list(snakemake.input)),
        device=device,
        extra={"dataset": snakemake.wildcards.dataset},
        fast=fast,
    )
