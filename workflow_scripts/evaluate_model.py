"""Predict a run's evaluated set and score it with the paper's metrics."""

import numpy as np
import torch

from weaklesion.evaluation.evaluated_set import EvaluationPlan
from weaklesion.evaluation.predictor import Predictor
from weaklesion.evaluation.run_scoring import score_test_split, summarise, write_evaluation
from weaklesion.splits.arrays import load_splits
from weaklesion.training.devices import claim_device
from weaklesion.training.fast_paths import split_gpu_config
from weaklesion.training.precision import pick_device
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    # Before anything starts CUDA: this job's own GPU, the only one it sees. From the config,
    # not params: which GPU a job ran on must not make Snakemake rerun it.
    _, claim = split_gpu_config(snakemake.config["gpus"])
    log.info("GPU slot: %s", claim_device(**claim).description)
    torch.set_num_threads(snakemake.threads)
    plan = EvaluationPlan(**snakemake.params.evaluated)
    split = load_splits(snakemake.input.data, snakemake.input.reference,
                        plan.reference, snakemake.input.clusters,
                        snakemake.input.split)[plan.split].listed()
    scored = split.subset(np.arange(len(split))[plan.scored(len(split))])
    log.info("scoring %d of the %d %s lesions against the %r masks of %s", len(scored),
             len(split), plan.split, plan.reference, snakemake.input.reference)
    predictor = Predictor(snakemake.input.model, pick_device(snakemake.params.device),
                          expect=snakemake.params.expect)
    predicted = predictor.masks(scored.images, snakemake.params.batch_size)
    table = score_test_split(predicted, scored.masks >= 128, scored.lesion_ids)
    released = predictor.state["extra"].get("released")  # the paper's own checkpoint
    seed = getattr(snakemake.wildcards, "seed", None)
    summary = summarise(table, {
        "dataset": snakemake.wildcards.dataset, "protocol": snakemake.wildcards.protocol,
        "model": snakemake.wildcards.model, "seed": None if seed is None else int(seed),
        "reference": plan.reference, "split": plan.split,
        "selected_epoch": predictor.state["epoch"],
    })
    if released:
        summary["released"] = released
    write_evaluation(table, summary, snakemake.output.metrics, snakemake.output.summary,
                     snakemake.output.predictions, predicted)
    log.info("metrics (%d lesions): %s", len(table),
             {k: round(v, 2) for k, v in summary.items() if isinstance(v, float)})
