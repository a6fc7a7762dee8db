"""Training one model on one dataset with one seed, resumable from a checkpoint every epoch.

Data comes from the stage outputs loaded once into memory (on the GPU when there is one):
patches from ``data.h5``, weak targets from ``targets.h5`` (or ``grabcut.h5``), cluster labels
from ``clusters.parquet`` and the split from ``split.csv``. Ground-truth masks are never used
for training or model selection: validation compares predictions with the weak targets.

The mask loss is averaged as if over the paper's 384×480 canvas (scaled by canvas area / paper
canvas area), so that loss magnitudes, the mask-vs-cluster balance of A1+L and ACoseg's
gradient clipping behave the same under the ``compact`` geometry as under ``paper``.

Targets are uint8 levels (target = level / 255): binary masks are 0/255, LiTS's released
targets are soft. Under ``protocol: paper`` two released training steps are kept, each a field
of :class:`TrainSettings`: ACoseg never zeroes its gradients (``accumulate_gradients``), and
HAM10000's A1+L is evaluated with its last epoch's model after an early stop (``selection``).

How the steps are taken — eagerly, replayed as CUDA graphs, with ACoseg's pairs fused, through
a compiled network — is :class:`BatchSteps`' business, switched by ``gpus:``
(weaklesion.fast_paths); the steps themselves are the same.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from weaklesion.atomic import atomic_path
from weaklesion.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from weaklesion.cuda_graphs import GraphedStep
from weaklesion.errors import ConfigError, WeaklesionError
from weaklesion.fast_paths import EAGER, FastPaths, compiled
from weaklesion.fused_passes import pair_outputs
from weaklesion.geometry import canvas_shape, from_canvas, normalise, to_canvas
from weaklesion.h5store import as_levels, read_arrays
from weaklesion.losses import COSEG_SUB_BATCH, compute_loss, coseg_pairs
from weaklesion.models import build_model
from weaklesion.schedules import Schedule, resolve_schedule

log = logging.getLogger(__name__)
PAPER_CANVAS_PIXELS = 384 * 480


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a training run (and so its checkpoint's validity)."""

    model: str
    encoder: str
    encoder_weights: str | None  # None or a local file: weights are fetched before training
    num_clusters: int
    geometry: str
    channel_order: str  # "rgb" | "bgr" (the paper's HAM10000 defect)
    pad_mode: str
    schedule: Schedule
    seed: int
    # "best" epoch on the monitor; "stop": the last epoch run; "last_after_early_stop": the
    # last epoch if training stopped early, else the best (the released HAM10000 A1+L).
    selection: str = "best"
    deterministic: bool = False
    # The released ACoseg never called zero_grad: every step adds to the gradient of all steps
    # before it (then clips the sum to the norm limit and steps Adam).
    accumulate_gradients: bool = False
    precision: str = "fp32"  # or "bf16": autocast on CUDA (CPU runs are fp32 either way)
    protocol: str = "corrected"  # recorded: the facts above follow from it

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LesionArrays:
    """One split of a dataset, in memory: patches, targets and cluster labels, aligned."""

    lesion_ids: np.ndarray
    images: np.ndarray  # (N, 120, 120, 3) uint8 RGB
    masks: np.ndarray  # (N, 120, 120) uint8 levels: target = level / 255 (binary: 0/255)
    clusters: np.ndarray  # (N,) int64
    order: np.ndarray | None = None  # (N,) where each comes in the released listing

    def __len__(self) -> int:
        return len(self.lesion_ids)

    def subset(self, rows: np.ndarray) -> LesionArrays:
        return LesionArrays(self.lesion_ids[rows], self.images[rows], self.masks[rows],
                            self.clusters[rows], None if self.order is None else self.order[rows])

    def listed(self) -> LesionArrays:
        """The lesions in the order the released code listed them (see splits.py)."""
        if self.order is None:
            return self
        return self.subset(np.argsort(self.order, kind="stable"))


def load_splits(data_h5: Path, mask_h5: Path, mask_name: str, clusters: Path,
                split_csv: Path) -> dict[str, LesionArrays]:
    """Read the stage outputs once and cut them into train / val / test arrays.

    Every stage writes lesions in ``data.h5``'s order; a mismatch means the files come from
    different runs, which is reported rather than silently realigned.
    """
    images = read_arrays(data_h5, ["image", "lesion_id"])
    masks = read_arrays(mask_h5, [mask_name, "lesion_id"])
    if mask_name not in masks:
        raise WeaklesionError(f"{mask_h5} holds no {mask_name!r} masks; rerun the workflow")
    labels = pd.read_parquet(clusters)
    split = pd.read_csv(split_csv, dtype={"lesion_id": str})
    ids = np.array([i.decode() if isinstance(i, bytes) else i for i in images["lesion_id"]])
    for name, other in (
        (mask_h5, masks["lesion_id"]), (clusters, labels["lesion_id"]),
        (split_csv, split["lesion_id"]),
    ):
        other = np.array([i.decode() if isinstance(i, bytes) else i for i in other])
        if len(other) != len(ids) or (other != ids).any():
            raise WeaklesionError(f"{name} lists other lesions than {data_h5}; rerun the "
                                  "workflow so that both come from the same preprocessing")
    result = {}
    for name in ("train", "val", "test"):
        rows = np.flatnonzero(split["split"].to_numpy() == name)
        order = split["order"].to_numpy(np.int64)[rows] if "order" in split else None
        result[name] = LesionArrays(ids[rows], images["image"][rows],
                                    as_levels(masks[mask_name][rows]),
                                    labels["cluster"].to_numpy(np.int64)[rows], order)
    return result


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device = {preference!r} but no CUDA device is available")
    return torch.device(preference)


class Batches:
    """A split held on the device; builds normalised canvases and targets for index batches."""

    def __init__(self, arrays: LesionArrays, settings: TrainSettings, device: torch.device):
        self.settings = settings
        self.device = device
        self.images = torch.from_numpy(arrays.images).to(device)
        self.masks = torch.from_numpy(as_levels(arrays.masks)).to(device)
        self.clusters = torch.from_numpy(arrays.clusters).to(device)

    def __len__(self) -> int:
        return len(self.images)

    def inputs(self, index: torch.Tensor) -> torch.Tensor:
        s = self.settings
        x = normalise(self.images[index], s.encoder, s.channel_order, channels_last=True)
        x = to_canvas(x, s.geometry, pad_mode=s.pad_mode)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def targets(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = self.masks[index][:, None].float() / 255
        return {"mask": to_canvas(mask, self.settings.geometry, pad_mode=self.settings.pad_mode),
                "cluster": self.clusters[index]}

    def binary_masks(self, index: torch.Tensor) -> torch.Tensor:
        """The targets binarised at one half, (N, 120, 120) bool."""
        return self.masks[index] >= 128


def mask_loss_scale(geometry: str) -> float:
    height, width = canvas_shape(geometry)
    return height * width / PAPER_CANVAS_PIXELS


def _scaled(terms: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
    mask = terms["mask_loss"] * scale
    total = mask + terms["cluster_loss"] if "cluster_loss" in terms else mask
    return {**terms, "mask_loss": mask, "loss": total}


def _select(targets: dict[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    return {k: v[rows] for k, v in targets.items()}


def step_terms(model, name: str, x, targets, rows: tuple[slice, slice | None], scale: float,
               fused_pair: bool = False):
    """Loss terms of one optimiser step: the whole batch, or one ACoseg pair (a, b), whose two
    forward passes ``fused_pair`` runs as one (weaklesion.fused_passes)."""
    first, second = rows
    if second is None:
        return _scaled(compute_loss(name, model(x[first]), _select(targets, first)), scale)
    outputs = (pair_outputs(model, x, rows) if fused_pair
               else (model(x[first]), model(x[second])))
    return _scaled(compute_loss(name, outputs, (_select(targets, first),
                                                 _select(targets, second))), scale)


def _autocast_terms(precision: str, model, name: str, x, targets, rows, scale: float, *,
                    cache_enabled: bool = True, fused_pair: bool = False):
    with autocast(x.device, precision, cache_enabled=cache_enabled):
        return step_terms(model, name, x, targets, rows, scale, fused_pair)


def _step_rows(name: str, n: int) -> list[tuple[slice, slice | None]]:
    return list(coseg_pairs(n)) if name == "ACoseg" else [(slice(0, n), None)]


class BatchSteps:
    """The optimiser steps of one training batch (one, or one per ACoseg pair), taken the way
    ``fast`` says: eagerly or replayed from captured graphs (CUDA only), with or without
    fused ACoseg pairs, through ``network`` (the model, or the model compiled)."""

    def __init__(self, model, network, optimizer, settings: TrainSettings, fast: FastPaths,
                 device: torch.device):
        self.model, self.network, self.optimizer, self.settings = (model, network, optimizer,
                                                                    settings)
        self.graphs = fast.graphs_on(device)
        self.fused_pairs = fast.fused_pairs and settings.model == "ACoseg"
        self.scale = mask_loss_scale(settings.geometry)
        self.graphed: dict[tuple[int, int], GraphedStep] = {}  # (batch size, pair) → graph

    def __call__(self, x: torch.Tensor, targets: dict[str, torch.Tensor]
                 ) -> Iterator[dict[str, torch.Tensor]]:
        """Take the steps, yielding each one's loss terms (read them before the next: a
        replayed graph overwrites them)."""
        s = self.settings
        for pair, rows in enumerate(_step_rows(s.model, len(x))):
            if self.graphs:
                yield self._graphed((len(x), pair), rows)(x, targets)
                continue
            loss_terms = functools.partial(_autocast_terms, s.precision, self.network, s.model,
                                           x, targets, rows, self.scale,
                                           fused_pair=self.fused_pairs)
            yield optimiser_step(self.model, self.optimizer, loss_terms,
                                 grad_clip=s.schedule.grad_clip,
                                 accumulate_gradients=s.accumulate_gradients)

    def _graphed(self, key: tuple[int, int], rows) -> GraphedStep:
        """The captured step of one batch size and ACoseg pair, made on first use."""
        if key not in self.graphed:
            s = self.settings

            def loss_terms(x, targets):
                # Autocast's cast cache must be off in a captured graph.
                return _autocast_terms(s.precision, self.network, s.model, x, targets, rows,
                                       self.scale, cache_enabled=False,
                                       fused_pair=self.fused_pairs)
            self.graphed[key] = GraphedStep(self.network, self.optimizer, loss_terms,
                                            grad_clip=s.schedule.grad_clip,
                                            accumulate_gradients=s.accumulate_gradients)
        return self.graphed[key]


PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str, cache_enabled: bool = True):
    """bf16 autocast on CUDA where ``precision`` is ``bf16``; fp32 otherwise."""
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision = {precision!r}; valid: {', '.join(PRECISIONS)}")
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=device.type == "cuda" and precision == "bf16",
                          cache_enabled=cache_enabled)


def dice_per_lesion(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice ×100 per lesion of (N, H, W) bool tensors; 100 when both are empty."""
    inter = (predicted & target).sum(dim=(1, 2)).float()
    total = (predicted.sum(dim=(1, 2)) + target.sum(dim=(1, 2))).float()
    return torch.where(total > 0, 200 * inter / total.clamp(min=1), torch.full_like(total, 100))


@torch.no_grad()
def validate(model, settings: TrainSettings, batches: Batches, scale: float,
             batch_size: int) -> dict[str, float]:
    """Mean loss terms and Dice against the weak targets over a split."""
    model.eval()
    # Sums stay on the device (float64, the arithmetic of Python floats): no wait for the
    # GPU after every batch.
    totals: dict[str, torch.Tensor] = {}
    dice = []
    for start in range(0, len(batches), batch_size):
        index = torch.arange(start, min(start + batch_size, len(batches)),
                             device=batches.device)
        x, targets = batches.inputs(index), batches.targets(index)
        with autocast(batches.device, settings.precision):
            outputs = model(x)
            if settings.model == "ACoseg":  # the pair loss of the batch paired with itself
                terms = compute_loss("ACoseg", (outputs, outputs), (targets, targets))
            else:
                terms = compute_loss(settings.model, outputs, targets)
        terms = _scaled(terms, scale)
        for key, value in terms.items():
            totals[key] = totals.get(key, 0.0) + value.detach().double() * len(index)
        logits = from_canvas(outputs["mask"].float(), settings.geometry)[:, 0]
        dice.append(dice_per_lesion(logits >= 0, batches.binary_masks(index)))
    metrics = {f"val_{k}": float(v) / len(batches) for k, v in totals.items()}
    metrics["val_dice"] = float(torch.cat(dice).mean())
    return metrics


def optimiser_step(model, optimizer, loss_terms, *, grad_clip: float | None = None,
                   accumulate_gradients: bool = False) -> dict[str, torch.Tensor]:
    """One optimiser step on the loss terms ``loss_terms()`` computes: clear the gradients
    (unless ``accumulate_gradients``), backward, clip the gradient norm to ``grad_clip``,
    step.

    ``accumulate_gradients`` is the released ACoseg (PROTOCOL item 11, a defect kept under
    ``protocol: paper``): it never called ``zero_grad``, so each step's gradient is added to
    the clipped sum of all before it, and the clip then bounds that running sum.
    """
    if not accumulate_gradients:
        optimizer.zero_grad(set_to_none=True)
    terms = loss_terms()
    terms["loss"].backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return terms


def run_fingerprint(settings: TrainSettings, inputs: list[Path]) -> str:
    """Identifies a run: its settings and its input files' contents (split, clusters) or
    sizes (the large HDF5 stores). A checkpoint is resumed only under the same fingerprint."""
    digest = hashlib.sha256(json.dumps(settings.as_dict(), sort_keys=True).encode())
    for path in inputs:
        path = Path(path)
        digest.update(path.name.encode())
        if path.suffix in {".h5", ".pt"}:
            digest.update(str(path.stat().st_size).encode())
        else:
            digest.update(hashlib.md5(path.read_bytes()).digest())
    return digest.hexdigest()


# cuBLAS needs a fixed workspace to be deterministic (CUDA >= 10.2); it reads this variable
# when its first handle is created, so it is set before the model reaches the GPU.
CUBLAS_WORKSPACE = ("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def seed_everything(seed: int, deterministic: bool) -> torch.Generator:
    """Seed torch; with ``deterministic``, make CUDA pick deterministic kernels (see
    docs/determinism.md), else let cuDNN autotune. Every flag is set both ways, so that a
    deterministic run does not leave a later run in the same process deterministic."""
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault(*CUBLAS_WORKSPACE)
    # warn_only: the decoder's bilinear upsampling and the pooling layers have no deterministic
    # CUDA backward; they warn (in the log) instead of stopping training.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _restore_rng(state: Mapping[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


PROGRESS_EVERY = 50  # training steps between updates of the progress bar's loss


def train(settings: TrainSettings, splits: Mapping[str, LesionArrays], *, out_model: Path,
          out_history: Path, checkpoint_dir: Path, fingerprint: str,
          device: torch.device, extra: Mapping[str, Any] | None = None,
          fast: FastPaths = EAGER) -> pd.DataFrame:
    """Train, checkpointing every epoch; resume from ``checkpoint_dir`` when it holds a
    checkpoint of the same run. Writes the selected model and the history; returns it.

    ``fast``: faster ways to take the same steps (weaklesion.fast_paths); CUDA graphs only on
    CUDA, elsewhere the eager step, unchanged."""
    schedule = settings.schedule
    graphs = fast.graphs_on(device)
    if fast.cuda_graphs and not graphs:
        log.info("gpus.cuda_graphs needs a CUDA device; training eagerly on %s", device)
    log.info("fast paths: %s", fast.described())
    train_set, val_set = splits["train"], splits["val"]
    # ACoseg steps on sub-batches of 4, the others on whole batches (BatchNorm needs ≥ 2).
    minimum = COSEG_SUB_BATCH if settings.model == "ACoseg" else max(schedule.batch_size, 2)
    if len(train_set) < minimum:
        raise ConfigError(
            f"only {len(train_set)} training lesions, fewer than the {minimum} one "
            f"{settings.model} step needs (train.batch_size = {schedule.batch_size}); use a "
            "larger dataset or a smaller batch"
        )
    if len(val_set) == 0:
        raise ConfigError("the validation split is empty; change the dataset's split fractions")
    generator = seed_everything(settings.seed, settings.deterministic)
    model = build_model(settings.model, encoder=settings.encoder,
                        encoder_weights=settings.encoder_weights,
                        num_clusters=settings.num_clusters).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.lr, capturable=graphs)
    # Steps and validation run ``network``; checkpoints hold ``model`` (the same parameters).
    network = compiled(model) if fast.compile else model
    run_extra = {"settings": settings.as_dict(), "fingerprint": fingerprint, **(extra or {})}

    last_path, best_path = checkpoint_dir / "last.pt", checkpoint_dir / "best.pt"
    history: list[dict[str, float]] = []
    best_value, best_epoch, stale, start_epoch, finished = None, -1, 0, 0, False
    if last_path.exists():
        resumed = _resume(last_path, fingerprint, model, optimizer, generator, device)
        if resumed is not None:
            history, best_value, best_epoch, stale, finished = resumed
            start_epoch = len(history)
            log.info("resumed from %s after epoch %d", last_path, start_epoch)

    train_batches = Batches(train_set, settings, device)
    val_batches = Batches(val_set, settings, device)
    n_steps = len(train_batches) // schedule.batch_size
    if n_steps == 0:  # ACoseg with fewer than a batch: one smaller batch per epoch
        n_steps = 1
    batch_steps = BatchSteps(model, network, optimizer, settings, fast, device)
    validation_batch = fast.validation_batch(schedule.batch_size)
    for epoch in range(start_epoch, 0 if finished else schedule.epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_batches), generator=generator).to(device)
        # Loss sums stay on the device: reading a value each step would make the CPU wait for
        # the GPU after every batch. The bar shows the running mean every PROGRESS_EVERY steps.
        sums: dict[str, torch.Tensor] = {}
        steps = 0
        bar = tqdm(range(n_steps), desc=f"epoch {epoch + 1}/{schedule.epochs}", unit="batch",
                   file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        for step in bar:
            index = order[step * schedule.batch_size:(step + 1) * schedule.batch_size]
            x, targets = train_batches.inputs(index), train_batches.targets(index)
            for terms in batch_steps(x, targets):
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().double()
                steps += 1
            if (step + 1) % PROGRESS_EVERY == 0:
                bar.set_postfix(loss=f"{float(sums['loss']) / steps:.4f}", refresh=False)
        bar.close()
        row = {"epoch": epoch + 1, **{f"train_{k}": float(v) / steps for k, v in sums.items()},
               **validate(network, settings, val_batches, batch_steps.scale,
                           validation_batch)}
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        monitored = row[schedule.monitor]
        if not math.isfinite(row["train_loss"]):
            raise WeaklesionError(f"training diverged at epoch {epoch + 1} (training loss "
                                  f"{row['train_loss']}); lower the learning rate (train.lr)")
        if schedule.improved(monitored, best_value):
            best_value, best_epoch, stale = monitored, epoch + 1, 0
            save_checkpoint(best_path, model, epoch=epoch + 1, extra=run_extra)
        else:
            stale += 1
        finished = stale >= schedule.patience or epoch + 1 == schedule.epochs
        log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4f}" for k, v in row.items()
                                                      if k != "epoch"))
        save_checkpoint(last_path, model, optimizer=optimizer, epoch=epoch + 1, extra={
            **run_extra, "history": history, "best_value": best_value,
            "best_epoch": best_epoch, "stale": stale, "finished": finished,
            "rng": _rng_state(generator)})
        if stale >= schedule.patience:
            log.info("early stop: %s did not improve for %d epochs", schedule.monitor, stale)
            break

    stopped_early = stale >= schedule.patience
    selected = best_path if keeps_best(settings.selection, stopped_early) else last_path
    final, state = load_checkpoint(selected)
    final_extra = {**run_extra, "selected_epoch": state["epoch"], "best_epoch": best_epoch,
                   "epochs_run": len(history)}
    table = pd.DataFrame(history)
    with atomic_path(out_history, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    save_checkpoint(out_model, final, epoch=state["epoch"], extra=final_extra)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log.info("selected epoch %d of %d (%s)", state["epoch"], len(history), settings.selection)
    return table


SELECTIONS = ("best", "stop", "last_after_early_stop")


def keeps_best(selection: str, stopped_early: bool) -> bool:
    """Whether the model kept is the best epoch's (else the last epoch's).

    ``last_after_early_stop`` is the released HAM10000 A1+L (PROTOCOL item 13): on an early
    stop it overwrote its best checkpoint with the last epoch's model, which is the one it
    evaluated; a run that used all its epochs kept its best.
    """
    if selection not in SELECTIONS:
        raise ConfigError(f"train.selection = {selection!r}; valid: {', '.join(SELECTIONS)}")
    if selection == "last_after_early_stop":
        return not stopped_early
    return selection == "best"


def _resume(path: Path, fingerprint: str, model, optimizer, generator, device):
    payload = read_checkpoint(path, map_location="cpu")
    extra = payload["extra"]
    if extra.get("fingerprint") != fingerprint:
        log.warning("ignoring %s: it belongs to a run with other settings or inputs", path)
        return None
    model.load_state_dict(payload["state_dict"])
    optimizer.load_state_dict(payload["optimizer"])
    _move_optimizer_state(optimizer, device)
    _restore_rng(extra["rng"], generator)
    return (list(extra["history"]), extra["best_value"], extra["best_epoch"], extra["stale"],
            extra["finished"])


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    # A capturable Adam (CUDA graphs) keeps its step count on the device too.
    capturable = optimizer.defaults.get("capturable", False)
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and (key != "step" or capturable):
                state[key] = value.to(device)


# Formats whose images the reference code read with OpenCV and fed in BGR order.
BGR_IN_PAPER = {"ham10000", "demo"}
# Formats trained as the released HAM10000 code trained (the demo is HAM10000-shaped).
HAM_SHAPED = {"ham10000", "demo", "folder"}
# The released padding, albumentations' PadIfNeeded default (reflect-101), and ours.
PAD_MODE = {"paper": "reflect", "corrected": "zero"}


def settings_from_config(*, model: str, seed: int, dataset: Mapping[str, Any],
                         train_config: Mapping[str, Any], weights_file: str | None
                         ) -> TrainSettings:
    """TrainSettings from the workflow config (``train:``) and one protocol's dataset entry.

    ``channel_order``, ``pad_mode`` and ``selection`` set to ``protocol`` follow the run's
    protocol; any other value applies to both protocols."""
    fmt, protocol = dataset["format"], dataset.get("protocol", "paper")
    channel_order = _per_protocol(train_config.get("channel_order", "protocol"), protocol)
    pad_mode = _per_protocol(train_config.get("pad_mode", "protocol"),
                             PAD_MODE[protocol])
    selection = _per_protocol(train_config.get("selection", "protocol"),
                              released_selection(model, fmt) if protocol == "paper" else "best")
    return TrainSettings(
        model=model,
        encoder=train_config["encoder"],
        encoder_weights=weights_file,
        num_clusters=int(dataset["k"]),
        geometry=train_config["geometry"],
        channel_order="bgr" if channel_order == "paper" and fmt in BGR_IN_PAPER else "rgb",
        pad_mode=pad_mode,
        schedule=resolve_schedule(model, fmt, train_config),
        seed=int(seed),
        selection=selection,
        deterministic=bool(train_config["deterministic"]),
        accumulate_gradients=protocol == "paper" and model == "ACoseg",
        precision=train_config.get("precision", "fp32"),
        protocol=protocol,
    )


def released_selection(model: str, fmt: str) -> str:
    """The released code's model selection for ``model`` on ``fmt`` (see :func:`keeps_best`)."""
    return "last_after_early_stop" if model == "A1+L" and fmt in HAM_SHAPED else "best"


def _per_protocol(value: str, protocol_value: str) -> str:
    return protocol_value if value == "protocol" else value
