"""Stage 2: raw dataset → ``data.h5`` (patches, masks, weak-label ellipses) + ``excluded.csv``.

Items (images, volumes, DL_info rows) are read in parallel worker processes; each lesion's
ellipse is fitted right there, from its mask or its RECIST diameters, because a failed fit —
like an unreadable file or a too-small lesion — decides whether the lesion is kept at all.
Under ``protocol: paper`` the adapters fit it the released way (they have the full-size
images that procedure needs); otherwise :func:`weak_label` fits it on the patch.
Results come back in item order, so the lesion order in ``data.h5`` is deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from weaklesion import PATCH_SIZE
from weaklesion.datasets import get_adapter
from weaklesion.datasets.base import Exclusion, Lesion, WeakLabel
from weaklesion.datasets.patch_store import PatchWriter, new_store, write_attrs
from weaklesion.ellipses.drawing import EXACT_RECIPE
from weaklesion.ellipses.fitting import (
    FitError,
    ellipse_from_recist,
    fit_ellipse_to_mask,
    mask_iou,
    rasterise_ellipse,
)
from weaklesion.errors import BadImageError, WeaklesionError
from weaklesion.protocols import PAPER
from weaklesion.raw.sources import SourceSpec, SourceTree
from weaklesion.utilities.atomic import atomic_path
from weaklesion.utilities.worker_pool import WorkerPool

log = logging.getLogger(__name__)
EXCLUDED_COLUMNS = ["lesion_id", "source", "reason"]


@dataclass
class WorkerResult:
    kept: list[Lesion]  # each with its weak label
    exclusions: list[Exclusion]
    bad_item: BadImageError | None = None
    item_id: str = ""  # the lesion or file the bad item concerns
    cluster_rows: list[tuple[str, np.ndarray]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def weak_label(lesion: Lesion, min_ellipse_iou: float | None) -> WeakLabel:
    """Fit the lesion's ellipse on its patch; raise FitError when it cannot serve as a weak
    label (``protocol: corrected``)."""
    if lesion.recist is not None:
        ellipse = ellipse_from_recist(lesion.recist)
    elif lesion.mask is not None:
        ellipse = fit_ellipse_to_mask(lesion.mask)
    else:
        raise FitError("lesion has neither a mask nor RECIST diameters")
    iou = math.nan
    if lesion.mask is not None:
        iou = mask_iou(rasterise_ellipse(ellipse, lesion.mask.shape), lesion.mask)
        if min_ellipse_iou is not None and iou < min_ellipse_iou:
            raise FitError(f"ellipse IoU with the mask {iou:.2f} < {min_ellipse_iou}")
    array = ellipse.as_array()
    return WeakLabel(array, array, (PATCH_SIZE, PATCH_SIZE), iou)


_worker_state: dict[str, Any] = {}


def _init_worker(fmt: str, settings: Mapping[str, Any]) -> None:
    cv2.setNumThreads(1)  # one process per core already
    _worker_state.update(adapter=get_adapter(fmt), settings=settings)


def _process_item(item: Any) -> WorkerResult:
    adapter, settings = _worker_state["adapter"], _worker_state["settings"]
    try:
        loaded = adapter.load(item, settings)
    except BadImageError as error:
        return WorkerResult([], [], error, item_id=adapter.item_id(item))
    kept, exclusions = [], list(loaded.exclusions)
    for lesion in loaded.lesions:
        if lesion.weak_label is None:
            try:
                lesion.weak_label = weak_label(lesion, adapter.min_ellipse_iou)
            except FitError as error:
                exclusions.append(Exclusion(lesion.origin or lesion.source,
                                            f"ellipse fit failed: {error}", lesion.lesion_id))
                continue
        kept.append(lesion)
    return WorkerResult(kept, exclusions, cluster_rows=loaded.cluster_rows,
                        warnings=loaded.warnings)


def preprocess(*, fmt: str, root: SourceSpec, settings: Mapping[str, Any], dataset: str,
               data_h5: Path, excluded_csv: Path, workers: int = 1) -> dict[str, int]:
    """Run stage 2 for one dataset; returns counts of kept and excluded lesions.

    ``root``: the dataset's folder, or the list of its (verified) archives, read in place
    (:mod:`weaklesion.raw.sources`)."""
    adapter = get_adapter(fmt)
    with contextlib.ExitStack() as stack:
        # Workers fork before the item list exists: a forked child maps its parent's heap, so
        # every item listed first would be resident once more in each worker.
        pool = None
        if workers > 1:
            pool = stack.enter_context(
                WorkerPool(workers, _init_worker, (fmt, dict(settings))))
        tree = SourceTree.open(root)
        items = adapter.list_items(tree, settings)
        log.info("%s: %d %s items in %s, %d worker(s)", dataset, len(items), fmt, tree,
                 workers)
        return _write_dataset(adapter, _results(fmt, settings, items, pool, workers),
                              settings=settings,
                              fmt=fmt, dataset=dataset, data_h5=data_h5,
                              excluded_csv=excluded_csv, total=len(items))


def _write_dataset(adapter, results, *, settings, fmt, dataset, data_h5, excluded_csv,
                   total: int) -> dict[str, int]:
    on_bad_image = settings["on_bad_image"]
    exclusions: list[Exclusion] = []
    progress = tqdm(total=total, desc="preprocess", unit="item", file=sys.stderr,
                    mininterval=1.0 if sys.stderr.isatty() else 10.0)
    paper = settings["protocol"] == PAPER
    warned = 0
    bad: list[tuple[str, BadImageError]] = []
    with progress, new_store(data_h5) as h5:
        write_attrs(h5, fmt=fmt, dataset=dataset, settings=content_settings(settings),
                    target_recipe=adapter.released_code if paper else EXACT_RECIPE)
        writer = PatchWriter(h5, has_masks=adapter.has_masks, has_recist=not adapter.has_masks)
        for result in results:
            progress.update()
            for warning in result.warnings:
                log.warning(warning)
            warned += len(result.warnings)
            if result.bad_item is not None:
                bad.append((result.item_id, result.bad_item))
                exclusions.append(Exclusion(result.bad_item.source, result.bad_item.reason,
                                            result.item_id))
            exclusions.extend(result.exclusions)
            for lesion in result.kept:
                writer.append(lesion, lesion.weak_label)
            writer.append_cluster_rows(result.cluster_rows)
        writer.close()
        if bad and on_bad_image != "skip":
            raise_bad_items(bad, dataset)
        if writer.count == 0:
            raise WeaklesionError(
                f"{dataset}: no lesion is left after exclusions ({len(exclusions)} excluded, "
                f"first reason: {exclusions[0].reason if exclusions else 'none'})"
            )
    table = pd.DataFrame([(e.lesion_id, e.source, e.reason) for e in exclusions],
                         columns=EXCLUDED_COLUMNS)
    with atomic_path(excluded_csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    log.info("%s: kept %d lesions, excluded %d%s", dataset, writer.count, len(exclusions),
             f", {warned} warning(s) above" if warned else "")
    return {"kept": writer.count, "excluded": len(exclusions)}


SHOWN_BAD_ITEMS = 30


def raise_bad_items(bad: list[tuple[str, BadImageError]], dataset: str) -> None:
    """Stop on unusable items, naming every one (the first SHOWN_BAD_ITEMS, then a count)
    after all were checked, so that one run finds them all."""
    def hint(them: str) -> str:
        return (f"set on_bad_image: skip for dataset {dataset!r} to list {them} in "
                "excluded.csv and go on")

    if len(bad) == 1:
        _, error = bad[0]
        raise BadImageError(error.source, f"{error.reason} ({hint('it')})")
    lines = [f"  {error}" for _, error in bad[:SHOWN_BAD_ITEMS]]
    if len(bad) > SHOWN_BAD_ITEMS:
        lines.append(f"  … and {len(bad) - SHOWN_BAD_ITEMS} more")
    raise WeaklesionError(f"{dataset}: {len(bad)} items cannot be used ({hint('them')}):\n"
                          + "\n".join(lines))


# Settings that say where the raw files are, not what is in them: left out of data.h5, so
# that a dataset read from its archives and from an unpacked copy gives the same bytes.
LOCATION_KEYS = {"source", "path", "manifest", "unpack"}


def content_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in LOCATION_KEYS}


def _results(fmt, settings, items, pool, workers: int):
    """Each item's WorkerResult, in item order: in ``pool`` if given, else in this process."""
    if pool is None:
        _init_worker(fmt, settings)
        for item in items:
            yield _process_item(item)
        return
    chunksize = max(1, min(32, len(items) // (workers * 8)))
    # Results wait in memory until the HDF5 writer takes them: bound how far workers run ahead.
    lookahead = max(256, 4 * workers * chunksize)
    yield from pool.imap(_process_item, items, chunksize, lookahead)


def source_listing(fmt: str, root: SourceSpec, settings: Mapping[str, Any]) -> pd.DataFrame:
    """What the adapter finds in ``root`` (a folder or archives), one row per item: an
    inventory of the raw data, each file as ``archive:member`` or its path, so that an
    excluded or bad item can be found.

    Fails early, before any heavy work, with the adapter's message naming missing files.
    """
    adapter = get_adapter(fmt)
    rows = []
    for item in adapter.list_items(SourceTree.open(root), settings):
        row = {"item_id": adapter.item_id(item)}
        for field in dataclasses.fields(item):
            value = getattr(item, field.name)
            if field.name != "record":  # DeepLesion's raw CSV fields: in DL_info.csv itself
                row[field.name] = "" if value is None else str(value)
        rows.append(row)
    return pd.DataFrame(rows)
