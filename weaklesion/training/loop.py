"""Training one model on one dataset with one seed, resumable from a checkpoint every epoch.

Data comes from the stage outputs loaded once into memory (on the GPU when there is one,
:mod:`weaklesion.splits.arrays`): patches from ``data.h5``, weak targets from ``targets.h5``
(or ``grabcut.h5``), cluster labels from ``clusters.parquet`` and the split from
``split.csv``. Ground-truth masks are never used for training or model selection.

Targets are uint8 levels (target = level / 255): binary masks are 0/255, LiTS's released
targets are soft. Under ``protocol: paper`` two released training steps are kept, each a field
of :class:`~weaklesion.training.settings.TrainSettings`: ACoseg never zeroes its gradients
(``accumulate_gradients``), and HAM10000's A1+L is evaluated with its last epoch's model after
an early stop (``selection``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from weaklesion.errors import ConfigError, WeaklesionError
from weaklesion.models.registry import build_model
from weaklesion.splits.arrays import LesionArrays
from weaklesion.training.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from weaklesion.training.fast_paths import EAGER, FastPaths, compiled
from weaklesion.training.losses import COSEG_SUB_BATCH
from weaklesion.training.settings import TrainSettings, keeps_best
from weaklesion.training.steps import Batches, BatchSteps, validate
from weaklesion.utilities.atomic import atomic_path

log = logging.getLogger(__name__)


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

    ``fast``: faster ways to take the same steps (weaklesion.training.fast_paths); CUDA graphs
    only on CUDA, elsewhere the eager step, unchanged."""
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
