"""Make the ellipse training targets (as data.h5's target recipe says) and tabulate them."""

from weaklesion.utilities.logs import rule_logging
from weaklesion.weak_labels.targets import target_recipe, write_ellipse_targets

with rule_logging(snakemake.log[0]) as log:
    log.info("target recipe: %s", target_recipe(snakemake.input.data))
    table = write_ellipse_targets(snakemake.input.data, snakemake.output.ellipses,
                                  snakemake.output.targets, workers=snakemake.threads)
    if "target_dice" in table:
        log.info("ellipse targets vs ground truth: mean Dice %.1f, mean IoU %.1f",
                 table["target_dice"].mean(), table["target_iou"].mean())
