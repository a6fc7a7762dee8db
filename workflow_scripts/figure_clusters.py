"""Figures of one dataset's ellipse clusters: the paper's gallery, and a parameter scatter.

Rule wiring:

- input: ``data`` = ``results/{dataset}/{protocol}/data.h5``, ``clusters`` =
  ``results/{dataset}/{protocol}/clusters.parquet``
- output: ``png``, ``pdf`` (the gallery), ``scatter_png``, ``scatter_pdf`` (the scatter)
- log: one file
- params (all optional): ``rows`` (clusters shown, 6), ``per_row`` (lesions per cluster, 4),
  ``selection`` (``"spread"``: clusters from the smallest to the largest lesions, or
  ``"largest"``: the most populated ones), ``title`` (default: "<dataset> (<protocol>)")
"""

import h5py
import numpy as np

from weaklesion.figures import cluster_gallery, ellipse_scatter, write_figure
from weaklesion.figures.clusters import GALLERY_COLUMNS, GALLERY_ROWS
from weaklesion.figures.inputs import (
    RowsOf,
    figure_title,
    read_array,
    read_cluster_labels,
    read_lesion_ids,
)
from weaklesion.utilities.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    params = snakemake.params
    title = figure_title(params, snakemake.wildcards)
    data = snakemake.input.data
    lesion_ids = read_lesion_ids(data)
    ellipses = read_array(data, "ellipse")
    clusters = read_cluster_labels(snakemake.input.clusters, lesion_ids)
    # Under protocol paper a LiTS lesion's own features can fail to fit (its label comes from
    # the released table anyway): such lesions have no ellipse to draw.
    drawn = np.flatnonzero(np.isfinite(ellipses).all(axis=1))
    if len(drawn) < len(ellipses):
        log.info("%d lesions without an ellipse of their own are not drawn",
                 len(ellipses) - len(drawn))
    ellipses, clusters, lesion_ids = ellipses[drawn], clusters[drawn], lesion_ids[drawn]
    with h5py.File(data, "r") as h5:  # the gallery reads only the patches it shows
        gallery = cluster_gallery(
            RowsOf(h5["image"], drawn), ellipses, clusters, lesion_ids=lesion_ids,
            rows=int(getattr(params, "rows", GALLERY_ROWS)),
            per_row=int(getattr(params, "per_row", GALLERY_COLUMNS)),
            how=getattr(params, "selection", "spread"), title=title,
        )
    write_figure(gallery, snakemake.output.png)
    write_figure(gallery, snakemake.output.pdf)
    scatter = ellipse_scatter(ellipses, clusters, title=title)
    write_figure(scatter, snakemake.output.scatter_png)
    write_figure(scatter, snakemake.output.scatter_pdf)
    log.info("cluster figures of %d lesions written to %s and %s", len(lesion_ids),
             snakemake.output.png, snakemake.output.scatter_png)
