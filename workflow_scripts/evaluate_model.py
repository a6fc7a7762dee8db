"""Predict the test split with a trained model and score it with the paper's metrics."""

import torch

from weaklesion.evaluation import Predictor, score_test_split, summarise, write_evaluation
from weaklesion.logs import rule_logging
from weaklesion.training import load_splits, pick_device

with rule_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    test = load_splits(snakemake.input.data, snakemake.input.reference,
                       snakemake.params.reference_name, snakemake.input.clusters,
                       snakemake.input.split)["test"]
    predictor = Predictor(snakemake.input.model, pick_device(snakemake.params.device),
                          expect=snakemake.params.expect)
    predicted = predictor.masks(test.images, snakemake.params.batch_size)
    table = score_test_split(predicted, test.masks, test.lesion_ids)
    summary = summarise(table, {
        "dataset": snakemake.wildcards.dataset, "model": snakemake.wildcards.model,
        "seed": int(snakemake.wildcards.seed), "reference": snakemake.params.reference_name,
        "selected_epoch": predictor.state["epoch"],
    })
    write_evaluation(table, summary, snakemake.output.metrics, snakemake.output.summary,
                     snakemake.output.predictions, predicted)
    log.info("test metrics (%d lesions): %s", len(table),
             {k: round(v, 2) for k, v in summary.items() if isinstance(v, float)})
