"""Paired comparisons and ablations: constructed cases with known answers, the numbers
recomputed independently from metrics.parquet files, and the tables the rule writes."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import run_rule_script
from scipy import stats

from weaklesion.analysis.ablations import ablation_table
from weaklesion.analysis.comparisons import (
    NO_VERDICT,
    bootstrap_mean_ci,
    compare,
    comparisons_document,
    paired_comparisons,
    run_mean_ci,
    wilcoxon_p,
)
from weaklesion.analysis.formatting import to_markdown
from weaklesion.analysis.outputs import COMPARISON_FILES, render_comparisons
from weaklesion.analysis.runs import read_run_metrics
from weaklesion.analysis.vs_paper import paper_claim_lines, published_table
from weaklesion.errors import WeaklesionError
from weaklesion.evaluation.metrics import PAPER_METRICS

FEW = 2_000  # resamples in the tests that only need an interval, not its third decimal


def lesion_scores(model_values: dict[tuple[str, int], np.ndarray], *, dataset="ham",
                  protocol="paper", variant="default", metric="dice") -> pd.DataFrame:
    """Stacked per-lesion metrics: ``{(model, seed): values}``, lesion i is ``L{i:04d}``;
    the other metric columns get the same values."""
    rows = []
    for (model, seed), values in model_values.items():
        frame = pd.DataFrame({m: values for m in PAPER_METRICS})
        frame.insert(0, "lesion_id", [f"L{i:04d}" for i in range(len(values))])
        for key, value in (("seed", seed), ("model", model), ("variant", variant),
                           ("protocol", protocol), ("dataset", dataset)):
            frame.insert(0, key, value)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


# --- the statistics, on cases with a known answer ----------------------------------------------


def three_runs(values: np.ndarray, shift: float = 0.0) -> dict:
    """Three seeds of A1 with ``values`` and of A1+L with ``values + shift``."""
    return {**{("A1", s): values for s in range(3)},
            **{("A1+L", s): values + shift for s in range(3)}}


def test_identical_predictions_differ_by_zero_with_p_one():
    rng = np.random.default_rng(0)
    values = rng.uniform(50, 95, 60)
    result = compare(lesion_scores(three_runs(values)), "A1+L", "A1", "dice")
    assert result["mean_difference"] == 0
    assert (result["ci_low"], result["ci_high"]) == (0, 0)
    assert (result["lesion_ci_low"], result["lesion_ci_high"]) == (0, 0)
    assert result["wilcoxon_p"] == 1.0
    assert not result["ci_excludes_zero"] and result["favours"] == "neither"


def test_a_constant_shift_is_its_own_interval_and_a_significant_one():
    rng = np.random.default_rng(1)
    values = rng.uniform(50, 90, 40)
    scores = lesion_scores(three_runs(values, 2.5))
    result = compare(scores, "A1+L", "A1", "dice")
    assert result["mean_difference"] == pytest.approx(2.5)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((2.5, 2.5))
    assert (result["lesion_ci_low"], result["lesion_ci_high"]) == pytest.approx((2.5, 2.5))
    # Equal differences are ties, so the normal approximation applies: p is tiny.
    assert result["wilcoxon_p"] < 1e-6
    # 20 distinct positive differences: the exact two-sided p-value is 2 / 2**20.
    assert wilcoxon_p(np.arange(1.0, 21.0)) == pytest.approx(2 / 2**20)
    assert result["favours"] == "A1+L"
    # A lower error is the better one.
    error = compare(scores, "A1+L", "A1", "hausdorff")
    assert error["favours"] == "A1"


def test_a_noisy_shift_is_found_and_noise_alone_is_not():
    rng = np.random.default_rng(2)
    base = rng.uniform(50, 90, 300)
    shifted = lesion_scores({("A1", 0): base, ("A1+L", 0): base + 1 + rng.normal(0, 2, 300)})
    result = compare(shifted, "A1+L", "A1", "dice", n_resamples=FEW)
    # The lesions alone find it; one run of each model gives no interval over runs.
    assert result["lesion_ci_low"] < 1 < result["lesion_ci_high"]
    assert result["lesion_ci_low"] > 0 and result["lesion_ci_excludes_zero"]
    assert result["wilcoxon_p"] < 1e-6
    assert math.isnan(result["ci_low"]) and result["favours"] == NO_VERDICT
    noise = lesion_scores({("A1", 0): base, ("A1+L", 0): base + rng.normal(0, 2, 300)})
    null = compare(noise, "A1+L", "A1", "dice", n_resamples=FEW)
    assert null["lesion_ci_low"] < 0 < null["lesion_ci_high"]
    assert not null["lesion_ci_excludes_zero"]


def test_seeds_are_averaged_per_lesion_and_compared_seed_against_seed():
    values = np.linspace(60, 80, 25)
    scores = lesion_scores({("A1", 0): values, ("A1", 1): values,
                            ("A1+L", 0): values + 2, ("A1+L", 1): values + 4})
    result = compare(scores, "A1+L", "A1", "dice")
    assert result["mean_difference"] == pytest.approx(3)
    assert result["n_seeds"] == 2 and result["n_lesions"] == 25
    assert result["seed_difference_mean"] == pytest.approx(3)
    assert result["seed_difference_std"] == pytest.approx(math.sqrt(2))
    # Runs' means 70, 70 against 72, 74: Welch's interval with the baseline's variance 0,
    # 3 ± t(0.975, 1 degree of freedom) × sqrt(var(72, 74) / 2).
    half = stats.t.ppf(0.975, 1) * 1.0
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((3 - half, 3 + half))
    # Two runs of a model: one degree of freedom, a wide interval, and no verdict drawn.
    assert result["ci_high"] - result["ci_low"] > 10 and result["favours"] == NO_VERDICT


def test_only_lesions_both_models_scored_are_compared():
    values = np.arange(1002, dtype=float)
    # The released ACoseg scored whole batches of 8 only: 1,000 of 1,002.
    scores = lesion_scores({("A1", 0): values, ("ACoseg", 0): values[:1000] - 1})
    result = compare(scores, "ACoseg", "A1", "dice", n_resamples=FEW)
    assert result["n_lesions"] == 1000 and result["mean_difference"] == pytest.approx(-1)
    # Lesions without a score (an empty ground truth) are left out.
    with_nan = values.copy()
    with_nan[5] = np.nan
    scores = lesion_scores({("A1", 0): with_nan, ("A1+L", 0): values + 1})
    assert compare(scores, "A1+L", "A1", "dice")["n_lesions"] == 1001


def test_runs_on_other_lesions_are_not_comparable():
    a1 = lesion_scores({("A1", 0): np.ones(10)})
    other = lesion_scores({("A1+L", 0): np.ones(10)})
    other["lesion_id"] = "train_" + other["lesion_id"]
    result = compare(pd.concat([a1, other]), "A1+L", "A1", "dice")
    assert result["n_lesions"] == 0 and math.isnan(result["mean_difference"])
    assert math.isnan(result["ci_low"]) and math.isnan(result["wilcoxon_p"])
    assert "not comparable" in to_markdown(comparisons_document(
        paired_comparisons(pd.concat([a1, other]))))


def simulated_runs(rng: np.random.Generator, *, true_difference: float, seed_sd: float,
                   lesions: int = 24, runs: int = 3) -> pd.DataFrame:
    """Per-lesion Dice of A1 and A1+L: each lesion's own difficulty (shared by every run),
    each run's shift (its seed's effect, drawn from N(0, seed_sd)), and per-lesion noise."""
    difficulty = rng.normal(80, 8, lesions)
    values = {}
    for model, offset in (("A1", 0.0), ("A1+L", true_difference)):
        for seed in range(runs):
            values[(model, seed)] = (difficulty + offset + rng.normal(0, seed_sd)
                                     + rng.normal(0, 2, lesions))
    return lesion_scores(values)


def test_the_interval_over_runs_holds_when_training_is_run_again(record_property):
    """No true difference, only seed effects (sd 1, against lesion noise of sd 2): the
    interval over runs and lesions covers zero in at least 90 % of 200 experiments, the
    lesion-only interval far less often."""
    rng = np.random.default_rng(11)
    covered = {"runs and lesions": 0, "lesions only": 0}
    for _ in range(200):
        result = compare(simulated_runs(rng, true_difference=0.0, seed_sd=1.0), "A1+L", "A1",
                         "dice", n_resamples=500)
        covered["runs and lesions"] += result["ci_low"] <= 0 <= result["ci_high"]
        covered["lesions only"] += result["lesion_ci_low"] <= 0 <= result["lesion_ci_high"]
    rates = {name: count / 200 for name, count in covered.items()}
    record_property("coverage of zero", rates)
    assert rates["runs and lesions"] >= 0.90, rates
    assert rates["lesions only"] < 0.80, rates
    # A true difference of 8 points, large against both variances: both intervals find it.
    for _ in range(20):
        result = compare(simulated_runs(rng, true_difference=8.0, seed_sd=1.0), "A1+L", "A1",
                         "dice", n_resamples=500)
        assert result["ci_low"] > 0 and result["lesion_ci_low"] > 0, result
        assert result["favours"] == "A1+L"


def test_run_mean_ci_needs_two_runs_of_each_model():
    assert all(math.isnan(v) for v in run_mean_ci(np.array([1.0]), np.array([1.0, 2.0])))
    assert run_mean_ci(np.array([3.0, 3.0]), np.array([1.0, 1.0, 1.0])) == (2.0, 2.0)


def test_bootstrap_and_wilcoxon_equal_scipy_called_directly():
    differences = np.random.default_rng(3).normal(0.5, 1, 80)
    expected = stats.bootstrap((differences,), np.mean, n_resamples=FEW, method="BCa",
                               rng=np.random.default_rng(7)).confidence_interval
    assert bootstrap_mean_ci(differences, n_resamples=FEW, seed=7) == pytest.approx(
        (expected.low, expected.high))
    assert wilcoxon_p(differences) == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert math.isnan(wilcoxon_p(np.array([])))
    assert all(math.isnan(v) for v in bootstrap_mean_ci(np.array([1.0])))


def test_every_pair_metric_and_protocol_is_compared():
    rng = np.random.default_rng(4)
    runs = {}
    for model in ("A1", "ACoseg", "A1+L"):
        for seed in (0, 1):
            runs[(model, seed)] = rng.uniform(50, 90, 30)
    scores = pd.concat([lesion_scores(runs, protocol=p) for p in ("paper", "corrected")])
    table = paired_comparisons(scores, n_resamples=FEW)
    assert len(table) == 2 * 3 * len(PAPER_METRICS)
    assert set(zip(table["model"], table["baseline"], strict=True)) == {
        ("ACoseg", "A1"), ("A1+L", "A1"), ("A1+L", "ACoseg")}
    assert list(dict.fromkeys(table["protocol"])) == ["paper", "corrected"]


# --- the files, recomputed independently ------------------------------------------------------


@pytest.fixture
def results(tmp_path):
    """metrics.parquet files of three seeds of A1, A1+L and ACoseg, and a k ablation of A1+L,
    in the workflow's layout."""
    rng = np.random.default_rng(5)
    base = rng.uniform(40, 90, (40, len(PAPER_METRICS)))
    written = []
    runs = [("default", "A1", 0.0), ("default", "A1+L", 1.5), ("default", "ACoseg", -3.0),
            ("k-12", "A1+L", 0.5)]
    for variant, model, shift in runs:
        for seed in (0, 1, 2):
            folder = tmp_path / "results" / "ham" / "paper"
            if variant != "default":
                folder = folder / "ablations" / variant
            path = folder / model / f"seed{seed}" / "metrics.parquet"
            path.parent.mkdir(parents=True)
            values = base + shift + rng.normal(0, 1, base.shape)
            table = pd.DataFrame(values, columns=list(PAPER_METRICS))
            table.insert(0, "lesion_id", [f"ISIC_{i:07d}" for i in range(40)])
            table["hd95"] = 1.0
            table.to_parquet(path, index=False)
            written.append(path)
    return tmp_path, written


def test_read_run_metrics_places_each_run_by_its_folder(results):
    _, paths = results
    metrics = read_run_metrics(paths)
    assert list(metrics.columns) == ["dataset", "protocol", "variant", "model", "seed",
                                     "lesion_id", *PAPER_METRICS]
    runs = metrics.drop_duplicates(["variant", "model", "seed"])
    assert list(zip(runs["variant"], runs["model"], runs["seed"], strict=True)) == [
        (variant, model, seed) for variant, model in (
            ("default", "A1"), ("default", "A1+L"), ("default", "ACoseg"), ("k-12", "A1+L"))
        for seed in (0, 1, 2)]
    assert set(metrics["dataset"]) == {"ham"} and set(metrics["protocol"]) == {"paper"}
    assert len(metrics) == 12 * 40 and metrics["seed"].dtype == "int64"
    first = pd.read_parquet(paths[0])
    assert metrics["iou"].iloc[:40].tolist() == first["iou"].tolist()
    with pytest.raises(WeaklesionError, match="laid out as results/<dataset>"):
        read_run_metrics(["metrics.parquet"])


def test_rule_script_tables_recomputed_from_metrics_parquet(results):
    root, paths = results
    tables = root / "tables"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(metrics=[str(p) for p in paths]),
        output=SimpleNamespace(**{key: str(tables / name)
                                  for key, name in COMPARISON_FILES.items()}),
        params=SimpleNamespace(formats={"ham": "ham10000"}, ablation_defaults={"ham": {"k": 45}}),
        log=[str(root / "compare.log")],
    )
    run_rule_script("compare_models", snakemake)
    table = pd.read_csv(tables / "comparisons.csv")
    row = table[(table["model"] == "A1+L") & (table["baseline"] == "A1")
                & (table["metric"] == "iou")].iloc[0]
    # Recomputed here, independently: seed-averaged per-lesion values, then differences.
    def per_lesion(model):
        frames = [pd.read_parquet(p).set_index("lesion_id")["iou"] for p in paths
                  if f"/paper/{model}/" in str(p)]
        return pd.concat(frames, axis=1).mean(axis=1)
    differences = (per_lesion("A1+L") - per_lesion("A1")).to_numpy()
    assert row["n_lesions"] == 40 and row["n_seeds"] == 3
    assert row["mean_difference"] == pytest.approx(differences.mean())
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    interval = stats.bootstrap((differences,), np.mean, n_resamples=10_000, method="BCa",
                               rng=np.random.default_rng(0)).confidence_interval
    assert (row["lesion_ci_low"], row["lesion_ci_high"]) == pytest.approx(
        (interval.low, interval.high))
    # The main interval, by Welch's formula: each run's mean over the 40 lesions.
    def run_means(model):
        return np.array([pd.read_parquet(p)["iou"].mean() for p in paths
                         if f"/paper/{model}/" in str(p)])
    a, b = run_means("A1+L"), run_means("A1")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    centre = a.mean() - b.mean()
    assert centre == pytest.approx(differences.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((centre - half, centre + half))
    assert row["favours"] == ("A1+L" if row["ci_low"] > 0 else "neither")
    assert row["n_model_runs"] == row["n_baseline_runs"] == 3
    markdown = (tables / "comparisons.md").read_text()
    assert "| ham | paper | A1+L − A1 | IoU |" in re.sub(" +", " ", markdown)
    assert "ham (paper): A1+L − A1 has the paper's sign in" in markdown
    assert (tables / "comparisons.html").read_text().startswith("<!DOCTYPE html>")
    # The ablation: k = 12 against the default k = 45, lesion by lesion.
    ablations = pd.read_csv(tables / "ablations.csv", dtype={"value": str})
    assert sorted(set(ablations["value"])) == ["12", "45"]
    ablated = ablations[(ablations["value"] == "12") & (ablations["metric"] == "iou")].iloc[0]
    k12 = pd.concat([pd.read_parquet(p).set_index("lesion_id")["iou"] for p in paths
                     if "k-12" in str(p)], axis=1).mean(axis=1)
    assert ablated["mean_difference"] == pytest.approx((k12 - per_lesion("A1+L")).mean())
    default = ablations[(ablations["value"] == "45") & (ablations["metric"] == "iou")].iloc[0]
    assert default["is_default"] and math.isnan(default["mean_difference"])
    assert default["mean"] == pytest.approx(per_lesion("A1+L").mean())
    assert "45 (default)" in (tables / "ablations.md").read_text()
    assert "12 runs compared" in (root / "compare.log").read_text()


def test_paper_claim_lines_follow_the_published_sign():
    # Published HAM10000 Dice: A1 90.01, A1+L higher (Chu et al.); a negative reproduced
    # difference has the other sign.
    rows = []
    for metric in PAPER_METRICS:
        rows.append({"dataset": "ham", "protocol": "paper", "variant": "default",
                     "model": "A1+L", "baseline": "A1", "metric": metric, "n_lesions": 30,
                     "n_seeds": 3, "mean_difference": -0.5, "ci_low": -0.9, "ci_high": -0.1,
                     "ci_excludes_zero": True, "lesion_ci_low": -0.7, "lesion_ci_high": -0.3,
                     "favours": "A1"})
    (line,) = paper_claim_lines(pd.DataFrame(rows), {"ham": "ham10000"})
    assert line.startswith("ham (paper): A1+L − A1 has the paper's sign in")
    assert "its CI over runs and lesions excludes zero in 6 of 6" in line
    assert ("Dice -0.50 [-0.90, -0.10] over runs and lesions, [-0.70, -0.30] over these "
            "runs' lesions only") in line
    paper = published_table().set_index(["dataset", "model"])
    signs = [np.sign(paper.loc[("ham10k", "A1+L"), f"{m}_mean"]
                     - paper.loc[("ham10k", "A1"), f"{m}_mean"]) for m in PAPER_METRICS]
    assert f"sign in {sum(s == -1 for s in signs)} of 6" in line
    (demo,) = paper_claim_lines(pd.DataFrame(rows), {"ham": "demo"})
    assert "sign" not in demo
    assert demo.startswith("ham (paper): A1+L − A1: its CI over runs and lesions excludes "
                           "zero in 6 of 6")
    assert demo.endswith("The paper publishes no numbers for this dataset.")
    two_runs = pd.DataFrame(rows).assign(n_seeds=2, favours=NO_VERDICT)
    (few,) = paper_claim_lines(two_runs, {"ham": "ham10000"})
    assert ("with 2 run(s) of a model the run-to-run variance is estimated from too few "
            "runs, so no verdict is drawn") in few
    assert "excludes zero" not in few


def test_no_ablation_no_ablation_rows():
    scores = lesion_scores({("A1", 0): np.ones(5), ("A1+L", 0): np.ones(5)})
    assert ablation_table(scores, {}).empty
    texts = render_comparisons(scores, {"ham": "ham10000"})
    assert texts["ablations_md"].startswith("No ablations configured")


def test_read_run_metrics_names_a_file_without_the_metrics(tmp_path):
    path = tmp_path / "ham" / "paper" / "A1" / "seed0" / "metrics.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"lesion_id": ["a"], "iou": [1.0]}).to_parquet(path)
    with pytest.raises(WeaklesionError, match=str(path)):
        read_run_metrics([path])


def test_p_values_keep_their_three_decimals_in_markdown_and_html():
    # Identical predictions: p is 1 for every metric, a column of numbers tabulate would
    # otherwise reprint as "1".
    values = np.linspace(60, 80, 8)
    scores = lesion_scores({("A1", 0): values, ("A1+L", 0): values.copy()})
    texts = render_comparisons(scores, {"ham": "ham10000"})
    rows = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            for line in texts["comparisons_md"].splitlines() if line.startswith("| ")]
    assert rows[0][8] == "p" and [row[8] for row in rows[1:]] == ["1.000"] * len(PAPER_METRICS)
    assert texts["comparisons_html"].count(">1.000</td>") == len(PAPER_METRICS)
