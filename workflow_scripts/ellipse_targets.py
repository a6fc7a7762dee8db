"""Rasterise the ellipse pseudo-masks and tabulate the ellipse parameters."""

from weaklesion.logs import rule_logging
from weaklesion.targets import write_ellipse_targets

with rule_logging(snakemake.log[0]) as log:
    table = write_ellipse_targets(snakemake.input.data, snakemake.output.ellipses,
                                  snakemake.output.targets)
    if "target_dice" in table:
        log.info("ellipse targets vs ground truth: mean Dice %.1f, mean IoU %.1f",
                 table["target_dice"].mean(), table["target_iou"].mean())
