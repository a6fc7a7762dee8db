"""A1+L − A1 on two halves of six seeds: the comparisons' main interval (runs and lesions) and
the lesion-only one, for seeds {0, 1, 2} and for {3, 4, 5}, and whether each kind's two
intervals overlap. Run by ``benchmarks/seed_halves.sh``, which trains the runs:

    python benchmarks/seed_halves.py RESULTS_DIR [--out JSON] [--revision COMMIT]

Every number comes from :func:`weaklesion.analysis.comparisons.compare` on the runs'
``metrics.parquet``, as ``results/tables/comparisons.csv`` computes them.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from weaklesion.analysis.comparisons import compare
from weaklesion.analysis.runs import read_run_metrics
from weaklesion.layout import DEFAULT_VARIANT

HALVES = {"0-2": [0, 1, 2], "3-5": [3, 4, 5]}
METRICS = ("dice", "iou")


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return max(a[0], b[0]) <= min(a[1], b[1])


def halves(results_dir: Path) -> list[dict]:
    metrics = read_run_metrics(sorted(results_dir.glob("*/*/*/seed*/metrics.parquet")))
    metrics = metrics[metrics["variant"] == DEFAULT_VARIANT]
    rows = []
    for (dataset, protocol), group in metrics.groupby(["dataset", "protocol"], sort=True):
        for metric in METRICS:
            found = {name: compare(group[group["seed"].isin(seeds)], "A1+L", "A1", metric)
                     for name, seeds in HALVES.items()}
            main = {name: (r["ci_low"], r["ci_high"]) for name, r in found.items()}
            lesion = {name: (r["lesion_ci_low"], r["lesion_ci_high"])
                      for name, r in found.items()}
            rows.append({
                "dataset": dataset, "protocol": protocol, "metric": metric,
                **{f"seeds {name}": {"mean": r["mean_difference"], "main": main[name],
                                     "lesions_only": lesion[name], "p": r["wilcoxon_p"],
                                     "runs": [r["n_model_runs"], r["n_baseline_runs"]],
                                     "lesions": r["n_lesions"]}
                   for name, r in found.items()},
                "main_overlap": overlap(*main.values()),
                "lesions_only_overlap": overlap(*lesion.values()),
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--revision", default="")
    args = parser.parse_args()
    rows = halves(args.results_dir)
    for row in rows:
        print(f"{row['dataset']} {row['protocol']} {row['metric']}:")
        for name in HALVES:
            half = row[f"seeds {name}"]
            print(f"  seeds {name}: {half['mean']:+.2f}, runs and lesions "
                  f"[{half['main'][0]:+.2f}, {half['main'][1]:+.2f}], lesions only "
                  f"[{half['lesions_only'][0]:+.2f}, {half['lesions_only'][1]:+.2f}], "
                  f"p = {half['p']:.2g}")
        print(f"  overlap: runs and lesions {row['main_overlap']}, lesions only "
              f"{row['lesions_only_overlap']}")
    if args.out:
        args.out.write_text(json.dumps({
            "command": "bash benchmarks/seed_halves.sh", "revision": args.revision,
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "comparisons": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
