"""The paper's segmentation figure for one dataset: test lesions as columns; rows show the
image, the reference contour, the ellipse target contour and each model's prediction.

Rule wiring:

- input: ``data`` = ``results/{dataset}/{protocol}/data.h5``; ``targets`` =
  ``results/{dataset}/{protocol}/targets.h5``; ``reference`` = the test split's reference
  (``data.h5`` for datasets with masks, ``grabcut.h5`` for DeepLesion);
  ``predictions`` = the runs'
  ``results/{dataset}/{protocol}/{model}/seed{seed}/test_predictions.h5`` (any models and
  seeds; each model's smallest seed is drawn, models not given get no row)
- output: ``png``, ``pdf``
- log: one file
- params: ``reference_name`` (``"mask"`` or ``"grabcut"``: the masks in ``reference``);
  optional ``n_lesions`` (columns, 5) and ``title`` (default: "<dataset> (<protocol>)")

Columns are test lesions evenly spaced in the ranking by A1's Dice (the first model drawn
where A1 is not), best first, so good and poor results both show.
"""

import numpy as np

from weaklesion.datasets.patch_store import as_levels
from weaklesion.errors import WeaklesionError
from weaklesion.figures import (
    dice_scores,
    pick_lesions,
    segmentation_figure,
    selection_model,
    write_figure,
)
from weaklesion.figures.inputs import (
    figure_title,
    file_list,
    first_seed_runs,
    positions,
    read_array,
    read_lesion_ids,
    read_rows,
)
from weaklesion.figures.segmentations import SEGMENTATION_COLUMNS
from weaklesion.utilities.logs import rule_logging

REFERENCE_LABELS = {"mask": "ground truth", "grabcut": "GrabCut reference"}

with rule_logging(snakemake.log[0]) as log:
    params = snakemake.params
    title = figure_title(params, snakemake.wildcards)
    runs = first_seed_runs(file_list(snakemake.input.predictions))
    chooser = selection_model(runs)
    predicted_ids = {model: read_lesion_ids(run.path) for model, run in runs.items()}
    # Under protocol paper some runs were scored on other lesions
    # (weaklesion.evaluation.evaluated_set): draw the lesions every drawn model predicted, and
    # leave out models with none of them.
    test_ids = predicted_ids[chooser]
    left_out = [m for m, ids in predicted_ids.items() if not np.isin(test_ids, ids).any()]
    if left_out:
        log.info("%s left out: scored on other lesions than %s", left_out, chooser)
        runs = {m: run for m, run in runs.items() if m not in left_out}
    test_ids = test_ids[np.all([np.isin(test_ids, predicted_ids[m]) for m in runs], axis=0)]
    predictions = {}
    for model, run in runs.items():
        rows = positions(predicted_ids[model], test_ids, run.path)
        predictions[model] = read_array(run.path, "prediction")[rows].astype(bool)

    reference_path, reference_name = snakemake.input.reference, params.reference_name
    reference = read_rows(reference_path, reference_name,
                          positions(read_lesion_ids(reference_path), test_ids, reference_path))
    columns = pick_lesions(dice_scores(reference, predictions[chooser]),
                           int(getattr(params, "n_lesions", SEGMENTATION_COLUMNS)))
    if not len(columns):
        raise WeaklesionError(f"{reference_path}: every test lesion's {reference_name!r} mask is "
                         "empty, so no lesion can be shown with a Dice")
    shown = test_ids[columns]
    data, targets = snakemake.input.data, snakemake.input.targets
    figure = segmentation_figure(
        read_rows(data, "image", positions(read_lesion_ids(data), shown, data)),
        reference[columns],
        as_levels(read_rows(targets, "ellipse",
                            positions(read_lesion_ids(targets), shown, targets))) >= 128,
        {model: predicted[columns] for model, predicted in predictions.items()},
        lesion_ids=shown,
        reference_label=REFERENCE_LABELS.get(reference_name, reference_name),
        ordered_by=chooser, title=title,
    )
    write_figure(figure, snakemake.output.png)
    write_figure(figure, snakemake.output.pdf)
    log.info("segmentation figure of %s (seeds %s) against the %s of %s, lesions %s, "
             "written to %s", list(runs), [run.seed for run in runs.values()],
             REFERENCE_LABELS.get(reference_name, reference_name), reference_path,
             [str(i) for i in shown], snakemake.output.png)
