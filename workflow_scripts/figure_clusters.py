"""Figures of one dataset's ellipse clusters: the paper's gallery, and a parameter scatter.

Rule wiring:

- input: ``data`` = ``results/{dataset}/data.h5``, ``clusters`` =
  ``results/{dataset}/clusters.parquet``
- output: ``png``, ``pdf`` (the gallery), ``scatter_png``, ``scatter_pdf`` (the scatter)
- log: one file
- params (all optional): ``rows`` (clusters shown, 6), ``per_row`` (lesions per cluster, 4),
  ``selection`` (``"spread"``: clusters from the smallest to the largest lesions, or
  ``"largest"``: the most populated ones), ``title`` (default: the ``dataset`` wildcard)
"""

import h5py

from weaklesion.figures import cluster_gallery, ellipse_scatter, write_figure
from weaklesion.figures.clusters import GALLERY_COLUMNS, GALLERY_ROWS
from weaklesion.figures.inputs import read_array, read_cluster_labels, read_lesion_ids
from weaklesion.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    params = snakemake.params
    title = getattr(params, "title", None) or getattr(snakemake.wildcards, "dataset", None)
    data = snakemake.input.data
    lesion_ids = read_lesion_ids(data)
    ellipses = read_array(data, "ellipse")
    clusters = read_cluster_labels(snakemake.input.clusters, lesion_ids)
    with h5py.File(data, "r") as h5:  # the gallery reads only the patches it shows
        gallery = cluster_gallery(
            h5["image"], ellipses, clusters, lesion_ids=lesion_ids,
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
