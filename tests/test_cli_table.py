"""``python -m weaklesion table``, run as users run it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from cli_helpers import weaklesion

from weaklesion.cli import main
from weaklesion.datasets.patch_store import write_attrs

TABLE_FILES = sorted([
    "paper_table.csv", "paper_table.html", "paper_table.md", "paper_table.tex",
    "vs_paper.csv", "vs_paper.html", "vs_paper.md", "comparisons.csv", "comparisons.html",
    "comparisons.md", "ablations.csv", "ablations.html", "ablations.md",
])



def write_run(results: Path, dataset: str, model: str, seed: int, iou: float) -> None:
    """A summary.json as the evaluate step writes it."""
    path = results / dataset / "paper" / model / f"seed{seed}" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"iou": iou, "dice": 85.0, "vs": 90.0, "center_error": 2.5,
               "perimeter_error": 9.0, "hausdorff": 10.0, "hd95": 7.0, "dataset": dataset,
               "protocol": "paper", "model": model, "seed": seed, "n_lesions": 20,
               "reference": "mask"}
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    # Its per-lesion scores, which average to the summary's IoU.
    lesions = pd.DataFrame({"lesion_id": [f"ISIC_{i:07d}" for i in range(20)],
                            **{k: summary[k] for k in ("dice", "vs", "center_error",
                                                       "perimeter_error", "hausdorff")}})
    lesions["iou"] = iou + np.linspace(-1, 1, 20) * (seed + 1)
    lesions.to_parquet(path.parent / "metrics.parquet", index=False)


def results_folder(root: Path) -> Path:
    results = root / "results"
    (results / "ham" / "paper").mkdir(parents=True)
    with h5py.File(results / "ham" / "paper" / "data.h5", "w") as h5:
        write_attrs(h5, fmt="ham10000", dataset="ham",
                    settings={"format": "ham10000", "protocol": "paper"})
    for seed, iou in enumerate([80.0, 82.0, 84.0]):
        write_run(results, "ham", "A1", seed, iou)
        write_run(results, "ham", "A1+L", seed, iou + 1)
    return results


def in_process(argv: list[str]) -> int:
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        return main(argv)
    finally:  # main() configures logging for a process of its own; leave pytest's alone
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)


def test_table_writes_all_five_files_next_to_the_results(tmp_path):
    results = results_folder(tmp_path)
    result = weaklesion("table", results)
    assert result.returncode == 0, result.stderr
    out = results / "tables"
    assert sorted(p.name for p in out.iterdir()) == TABLE_FILES
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(TABLE_FILES)} tables written to {out}:"
    assert sorted(Path(line.strip()) for line in lines[1:]) == [out / n for n in TABLE_FILES]
    table = pd.read_csv(out / "paper_table.csv")
    assert table["model"].tolist() == ["A1", "A1+L"]
    assert table["iou_mean"].tolist() == [82.0, 83.0]  # (80 + 82 + 84) / 3, plus 1
    assert (out / "vs_paper.csv").read_text().count("ham10k") == 12  # 2 models × 6 metrics
    comparisons = pd.read_csv(out / "comparisons.csv")
    iou = comparisons[comparisons["metric"] == "iou"].iloc[0]
    assert (iou["model"], iou["baseline"], iou["n_lesions"]) == ("A1+L", "A1", 20)
    assert iou["mean_difference"] == pytest.approx(1.0)
    assert "ham (paper): A1+L − A1 has the paper's sign" in (out / "vs_paper.md").read_text()


def test_table_out_option_and_rerun_over_existing_tables(tmp_path, capsys):
    results = results_folder(tmp_path)
    out = tmp_path / "paper" / "tables"
    assert in_process(["table", str(results), "--out", str(out)]) == 0
    write_run(results, "ham", "ACoseg", 0, 81.0)
    assert in_process(["table", str(results), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == TABLE_FILES
    assert "ACoseg" in (out / "paper_table.md").read_text()
    assert f"{len(TABLE_FILES)} tables written to {out}:" in capsys.readouterr().out
    assert not (results / "tables").exists()


def test_table_without_runs_is_one_line_naming_the_folder(tmp_path, capsys):
    empty = tmp_path / "results"
    empty.mkdir()
    assert in_process(["table", str(empty)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weaklesion table: error:")
    assert str(empty) in lines[0] and "summary.json" in lines[0]
    assert not (empty / "tables").exists()


def test_table_help():
    result = weaklesion("table", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: weaklesion table")
    assert "RESULTS_DIR" in result.stdout and "--out" in result.stdout
