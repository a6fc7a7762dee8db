"""Shared look of the figures: model order, model colours, seed line styles, output format."""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure

from weaklesion.models import MODEL_NAMES

# Fixed per model, so one model has one colour in every figure of every dataset.
_MODEL_COLOURS = {"A1": "#1f77b4", "ACoseg": "#ff7f0e", "A1+L": "#2ca02c"}
_SPARE_COLOURS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_SEED_STYLES = ("-", "--", ":", "-.")

# Contour colours on the patches (RGB 0..255): bright, and distinct on skin and on grey CT.
REFERENCE_RGB = (0, 255, 0)
ELLIPSE_RGB = (255, 230, 0)
_MODEL_RGB = {"A1": (255, 40, 40), "ACoseg": (0, 200, 255), "A1+L": (255, 0, 255)}
_SPARE_RGB = ((255, 140, 0), (120, 120, 255), (255, 255, 255))

PNG_DPI = 150


def order_models(models: Iterable[str]) -> list[str]:
    """Distinct model names, the paper's models first in the paper's order, then the rest."""
    unique = list(dict.fromkeys(models))
    known = [m for m in MODEL_NAMES if m in unique]
    return known + [m for m in unique if m not in MODEL_NAMES]


def model_colours(models: Iterable[str]) -> dict[str, str]:
    """Matplotlib colour per model: fixed for the paper's models, spare colours for others."""
    others = [m for m in order_models(models) if m not in _MODEL_COLOURS]
    colours = {m: _MODEL_COLOURS[m] for m in order_models(models) if m in _MODEL_COLOURS}
    colours.update({m: _SPARE_COLOURS[i % len(_SPARE_COLOURS)] for i, m in enumerate(others)})
    return colours


def model_contour_rgb(models: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """RGB contour colour per model, for drawing on patches."""
    others = [m for m in order_models(models) if m not in _MODEL_RGB]
    colours = {m: _MODEL_RGB[m] for m in order_models(models) if m in _MODEL_RGB}
    colours.update({m: _SPARE_RGB[i % len(_SPARE_RGB)] for i, m in enumerate(others)})
    return colours


def seed_styles(seeds: Iterable[int]) -> dict[int, str]:
    """Line style per seed, in ascending seed order (styles repeat after four seeds)."""
    return {seed: _SEED_STYLES[i % len(_SEED_STYLES)]
            for i, seed in enumerate(sorted(set(seeds)))}


def new_figure(width: float, height: float) -> Figure:
    """A figure detached from pyplot (no global state), laid out by matplotlib's constrained
    layout so labels never overlap."""
    return Figure(figsize=(width, height), layout="constrained")
