"""The results tables, from real summary.json files with numbers worked out by hand."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import h5py
import pandas as pd
import pytest
from conftest import run_rule_script

from weaklesion.analysis.formatting import Document, bold, to_csv, to_html, to_markdown
from weaklesion.analysis.outputs import TABLE_FILES, render_tables, write_tables
from weaklesion.analysis.paper_table import (
    paper_table,
    paper_table_cells,
    paper_table_document,
    paper_table_latex,
)
from weaklesion.analysis.runs import collect_runs, collect_runs_from
from weaklesion.analysis.vs_paper import vs_paper, vs_paper_document
from weaklesion.datasets.patch_store import write_attrs
from weaklesion.errors import MissingFilesError, WeaklesionError

# A neutral value per metric; each test overrides what it checks.
BASE = {"iou": 70.0, "dice": 80.0, "vs": 85.0, "center_error": 3.0, "perimeter_error": 9.0,
        "hausdorff": 10.0, "hd95": 8.0}


def write_run(results: Path, dataset: str, model: str, seed: int, protocol: str = "paper",
              **metrics) -> Path:
    """A summary.json as the evaluate step writes it (sorted keys, null for unscored)."""
    path = results / dataset / protocol / model / f"seed{seed}" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {**BASE, **metrics, "dataset": dataset, "protocol": protocol, "model": model,
               "seed": seed, "n_lesions": 30, "n_empty_predictions": 0, "reference": "mask",
               "split": "test", "selected_epoch": 4}
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def write_released_run(results: Path, dataset: str, model: str, **metrics) -> Path:
    """A released model's summary.json, as the evaluate step writes it for an import."""
    path = results / dataset / "paper" / model / "released" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {**BASE, **metrics, "dataset": dataset, "protocol": "paper", "model": model,
               "seed": None, "n_lesions": 30, "n_empty_predictions": 0, "reference": "mask",
               "split": "test", "selected_epoch": None,
               "released": {"file": "x.pt", "md5": "0" * 32, "dataset_format": "ham10000"}}
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def write_store(results: Path, dataset: str, fmt: str, protocol: str = "paper") -> None:
    """The attributes of a dataset's data.h5, as preprocessing writes them."""
    (results / dataset / protocol).mkdir(parents=True, exist_ok=True)
    with h5py.File(results / dataset / protocol / "data.h5", "w") as h5:
        write_attrs(h5, fmt=fmt, dataset=dataset, settings={"format": fmt, "protocol": protocol})


def row(table: pd.DataFrame, dataset: str, model: str, protocol: str = "paper") -> pd.Series:
    match = table[(table["dataset"] == dataset) & (table["model"] == model)
                  & (table["protocol"] == protocol)]
    assert len(match) == 1
    return match.iloc[0]


def to_paper_markdown(table: pd.DataFrame) -> str:
    return to_markdown(paper_table_document(table))


def markdown_rows(markdown: str) -> list[list[str]]:
    """The cells of a Markdown pipe table, header first, as written (escapes kept)."""
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            for line in markdown.splitlines()
            if line.startswith("|") and not re.fullmatch(r"\|[-:| ]+\|", line)]


def markdown_cells(markdown: str, dataset: str, model: str,
                   protocol: str = "paper") -> list[str]:
    for cells in markdown_rows(markdown):
        if cells[:3] == [dataset, protocol, model]:
            return cells
    raise AssertionError(f"no Markdown row for {dataset} {protocol} {model}")


def latex_rows(latex: str) -> list[list[str]]:
    """The cells of the tabular between \\toprule and \\bottomrule, header first (a rule
    opening a row is not a cell)."""
    body = latex[latex.index(r"\toprule") + len(r"\toprule"):latex.index(r"\bottomrule")]
    rows = [re.sub(r"^\\midrule\s*", "", row.strip()) for row in body.split(r"\\")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)&", row)] for row in rows if row]


class HtmlCells(HTMLParser):
    """The cells of an HTML page's table rows, ``<b>`` written back as ``**``, and the text
    of its paragraphs and list items."""

    def __init__(self, page: str):
        super().__init__()
        self.rows, self.paragraphs, self.cell, self.text = [], [], None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""
        elif tag == "b":
            self.cell += "**"
        elif tag in ("p", "li"):
            self.text = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell.strip())
            self.cell = None
        elif tag == "b":
            self.cell += "**"
        elif tag in ("p", "li"):
            self.paragraphs.append(self.text)
            self.text = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        elif self.text is not None:
            self.text += data


def column(name: str) -> int:
    """Position of a metric's cell in a Markdown row (dataset, protocol, model and seeds
    come first)."""
    return 4 + ["iou", "dice", "vs", "center_error", "perimeter_error", "hausdorff"].index(name)


def test_mean_and_sample_std_over_seeds(tmp_path):
    for seed, iou in enumerate([80.0, 82.0, 84.0]):
        write_run(tmp_path, "skin", "A1", seed, iou=iou)
    runs = collect_runs(tmp_path)
    assert sorted(runs["seed"]) == [0, 1, 2]
    table = paper_table(runs)
    a1 = row(table, "skin", "A1")
    # mean 82; deviations -2, 0, 2 → sample variance 8 / 2 = 4
    assert a1["n_seeds"] == 3
    assert a1["iou_mean"] == pytest.approx(82.0)
    assert a1["iou_std"] == pytest.approx(2.0)
    assert a1["dice_std"] == pytest.approx(0.0)  # three equal seeds: a true 0, not a missing std
    assert markdown_cells(to_paper_markdown(table), "skin", "A1")[column("iou")] == "82.00 ± 2.00"


def test_relative_change_against_a1_of_the_same_dataset(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, iou=80.0, hausdorff=10.0)
    write_run(tmp_path, "skin", "A1+L", 0, iou=84.0, hausdorff=9.0)
    write_run(tmp_path, "skin", "ACoseg", 0, iou=76.0, hausdorff=12.5)
    write_run(tmp_path, "liver", "A1", 0, iou=50.0)
    write_run(tmp_path, "liver", "A1+L", 0, iou=51.0)
    table = paper_table(collect_runs(tmp_path))
    # (84 - 80) / 80, (76 - 80) / 80, (9 - 10) / 10, (12.5 - 10) / 10, (51 - 50) / 50
    assert row(table, "skin", "A1+L")["iou_rel_change"] == pytest.approx(0.05)
    assert row(table, "skin", "ACoseg")["iou_rel_change"] == pytest.approx(-0.05)
    assert row(table, "skin", "A1+L")["hausdorff_rel_change"] == pytest.approx(-0.1)
    assert row(table, "skin", "ACoseg")["hausdorff_rel_change"] == pytest.approx(0.25)
    assert row(table, "liver", "A1+L")["iou_rel_change"] == pytest.approx(0.02)
    assert pd.isna(row(table, "skin", "A1")["iou_rel_change"])

    markdown = to_paper_markdown(table)
    assert markdown_cells(markdown, "skin", "A1+L")[column("iou")] == "**84.00** (+5.0%)"
    assert markdown_cells(markdown, "skin", "ACoseg")[column("iou")] == "76.00 (-5.0%)"
    assert markdown_cells(markdown, "liver", "A1+L")[column("iou")] == "**51.00** (+2.0%)"
    assert "(" not in markdown_cells(markdown, "skin", "A1")[column("iou")]
    latex = paper_table_latex(table)
    assert r"76.00 ($-$5.0\%)" in latex and r"\textbf{84.00} (+5.0\%)" in latex


def test_no_a1_means_no_relative_change(tmp_path):
    write_run(tmp_path, "skin", "A1+L", 0, iou=84.0)
    write_run(tmp_path, "skin", "ACoseg", 0, iou=76.0)
    table = paper_table(collect_runs(tmp_path))
    assert table[[c for c in table if c.endswith("_rel_change")]].isna().all().all()
    assert "%)" not in to_paper_markdown(table)


def test_best_cell_is_the_highest_score_and_the_lowest_error(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, iou=80.0, hausdorff=9.0, dice=88.0)
    write_run(tmp_path, "skin", "A1+L", 0, iou=83.0, hausdorff=11.0, dice=88.0)
    write_run(tmp_path, "skin", "ACoseg", 0, iou=81.0, hausdorff=10.0, dice=87.0)
    table = paper_table(collect_runs(tmp_path)).set_index("model")
    assert table["iou_best"].to_dict() == {"A1": False, "ACoseg": False, "A1+L": True}
    assert table["hausdorff_best"].to_dict() == {"A1": True, "ACoseg": False, "A1+L": False}
    assert table["dice_best"].to_dict() == {"A1": True, "ACoseg": False, "A1+L": True}  # tie

    markdown = to_paper_markdown(table.reset_index())
    assert markdown_cells(markdown, "skin", "A1+L")[column("iou")] == "**83.00** (+3.8%)"
    assert markdown_cells(markdown, "skin", "A1")[column("iou")] == "80.00"
    assert markdown_cells(markdown, "skin", "A1")[column("hausdorff")] == "**9.00**"
    assert markdown_cells(markdown, "skin", "A1+L")[column("hausdorff")] == "11.00 (+22.2%)"
    assert markdown_cells(markdown, "skin", "A1")[column("dice")] == "**88.00**"
    assert markdown_cells(markdown, "skin", "A1+L")[column("dice")] == "**88.00** (+0.0%)"
    latex = paper_table_latex(table.reset_index())
    assert r"\textbf{9.00}" in latex and r"\textbf{11.00}" not in latex


def test_best_is_decided_per_dataset(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, iou=80.0)
    write_run(tmp_path, "skin", "A1+L", 0, iou=70.0)
    write_run(tmp_path, "liver", "A1", 0, iou=60.0)
    write_run(tmp_path, "liver", "A1+L", 0, iou=65.0)
    table = paper_table(collect_runs(tmp_path))
    assert row(table, "skin", "A1")["iou_best"] and not row(table, "skin", "A1+L")["iou_best"]
    assert row(table, "liver", "A1+L")["iou_best"] and not row(table, "liver", "A1")["iou_best"]


def test_a_lone_model_is_not_marked_best(tmp_path):
    write_run(tmp_path, "skin", "A1", 0)
    table = paper_table(collect_runs(tmp_path))
    assert not table[[c for c in table if c.endswith("_best")]].any().any()
    assert "**" not in to_paper_markdown(table)


def test_single_seed_shows_no_std_and_is_not_decidable_against_the_paper(tmp_path):
    write_store(tmp_path, "ham", "ham10000")
    write_run(tmp_path, "ham", "A1", 0, dice=90.0)
    runs = collect_runs(tmp_path)
    table = paper_table(runs)
    assert table[[c for c in table if c.endswith("_std")]].isna().all().all()
    cells = markdown_cells(to_paper_markdown(table), "ham", "A1")
    assert cells[column("dice")] == "90.00"
    assert "±" not in " ".join(cells)
    assert r"$\pm$" not in paper_table_latex(table).split(r"\midrule")[1]
    header, values = (line.split(",") for line in to_csv(table).splitlines())
    assert values[header.index("dice_std")] == ""  # empty, never a fake 0
    assert values[header.index("dice_mean")] == "90.0"

    comparison = vs_paper(runs).set_index("metric")
    assert comparison["within_2std"].isna().all()
    assert comparison.loc["dice", "verdict"] == "not decidable: 1 seed, no std"
    assert "not decidable" in to_markdown(vs_paper_document(comparison.reset_index()))


def test_missing_models_and_datasets_are_simply_absent_and_models_keep_the_paper_order(tmp_path):
    # Written in the opposite order; an extra model goes after the paper's three.
    for model in ["UNet", "A1+L", "ACoseg", "A1"]:
        write_run(tmp_path, "skin", model, 0)
    write_run(tmp_path, "liver", "A1+L", 0)
    table = paper_table(collect_runs(tmp_path))
    assert list(zip(table["dataset"], table["model"], strict=True)) == [
        ("liver", "A1+L"),
        ("skin", "A1"), ("skin", "ACoseg"), ("skin", "A1+L"), ("skin", "UNet"),
    ]
    models = [cells[2] for cells in markdown_rows(to_paper_markdown(table))[1:]]
    assert models == ["A1+L", "A1", "ACoseg", "A1+L", "UNet"]


def test_latex_is_a_booktabs_table_with_escaped_names(tmp_path):
    for seed, iou in enumerate([80.0, 82.0, 84.0]):
        write_run(tmp_path, "ham_10k", "A1", seed, iou=iou)
        write_run(tmp_path, "ham_10k", "A1+L", seed, iou=iou + 2)
    write_run(tmp_path, "lits#2", "A1", 0)
    write_run(tmp_path, "lits#2", "A1+L", 0)
    latex = paper_table_latex(paper_table(collect_runs(tmp_path)))
    lines = [line.strip() for line in latex.splitlines()]
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    # Below the header, and opening the second block.
    assert [line.split(" ")[0] for line in lines if line.startswith(r"\midrule")] == [
        r"\midrule", r"\midrule"]
    assert r"\begin{tabular}{@{}lllrcccccc@{}}" in latex
    assert r"\usepackage{booktabs}" in lines[0] and latex.rstrip().endswith(r"\end{table}")
    assert latex.count("{") == latex.count("}")
    # One block per dataset and protocol; the names open their block only.
    body = lines[lines.index(r"\midrule") + 1:lines.index(r"\bottomrule")]
    assert body[0].startswith(r"ham\_10k & paper & A1 & 3 & 82.00 $\pm$ 2.00 &")
    assert body[1].startswith(r"&  & A1+L & 3 & \textbf{84.00 $\pm$ 2.00} (+2.4\%) &")
    assert body[2].startswith(r"\midrule lits\#2 & paper & A1 & 1 &")
    assert "ham_10k" not in latex.replace(r"ham\_10k", "")
    assert len(body) == 4
    for line in body:
        assert line.endswith(r"\\") and line.count("&") == 9
    rows = latex_rows(latex)
    assert rows[0][4:] == [r"IoU $\uparrow$", r"Dice $\uparrow$", r"VS $\uparrow$",
                           r"Centre error $\downarrow$", r"Perimeter error $\downarrow$",
                           r"Hausdorff $\downarrow$"]
    assert [row[:3] for row in rows[1:]] == [
        [r"ham\_10k", "paper", "A1"], ["", "", "A1+L"], [r"lits\#2", "paper", "A1"],
        ["", "", "A1+L"]]


def test_csv_is_tidy_and_numeric(tmp_path):
    for seed, iou in enumerate([80.0, 82.0, 84.0]):
        write_run(tmp_path, "skin", "A1", seed, iou=iou)
        write_run(tmp_path, "skin", "A1+L", seed, iou=iou + 4)
    text = to_csv(paper_table(collect_runs(tmp_path)))
    path = tmp_path / "table.csv"
    path.write_text(text)
    table = pd.read_csv(path)
    assert list(table.columns[:8]) == ["dataset", "protocol", "model", "n_seeds", "iou_mean",
                                       "iou_std", "iou_rel_change", "iou_best"]
    assert table["iou_mean"].tolist() == pytest.approx([82.0, 86.0])
    assert table["iou_std"].tolist() == pytest.approx([2.0, 2.0])
    assert table["iou_rel_change"].iloc[1] == pytest.approx(4 / 82)
    assert table["iou_best"].tolist() == [False, True]
    assert table["n_seeds"].tolist() == [3, 3]


def test_null_metric_is_a_dash_and_never_best(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, hausdorff=None)
    write_run(tmp_path, "skin", "A1", 1, hausdorff=None)
    write_run(tmp_path, "skin", "A1+L", 0, hausdorff=9.0)
    write_run(tmp_path, "skin", "A1+L", 1, hausdorff=11.0)
    table = paper_table(collect_runs(tmp_path))
    assert pd.isna(row(table, "skin", "A1")["hausdorff_mean"])
    assert not row(table, "skin", "A1+L")["hausdorff_best"]  # nothing to beat
    assert markdown_cells(to_paper_markdown(table), "skin", "A1")[column("hausdorff")] == "–"


def reproduce(results: Path, dataset: str, model: str, dice: list[float],
              protocol: str = "paper") -> None:
    for seed, value in enumerate(dice):
        write_run(results, dataset, model, seed, protocol, dice=value)


def test_vs_paper_against_the_shipped_published_numbers(tmp_path):
    # Published HAM10000 A1 Dice: 90.01 ± 0.09 (Chu et al., Table 1).
    write_store(tmp_path, "ham_close", "ham10000")
    write_store(tmp_path, "ham_far", "ham10000")
    reproduce(tmp_path, "ham_close", "A1", [89.9, 90.0, 90.1])  # 90.0 ± 0.1
    reproduce(tmp_path, "ham_far", "A1", [84.9, 85.0, 85.1])  # 85.0 ± 0.1
    comparison = vs_paper(collect_runs(tmp_path))
    dice = comparison[comparison["metric"] == "dice"].set_index("dataset")
    assert dice["published_dataset"].tolist() == ["ham10k", "ham10k"]
    assert dice.loc["ham_close", "published_mean"] == 90.01
    assert dice.loc["ham_close", "published_std"] == 0.09
    assert dice.loc["ham_close", "reproduced_mean"] == pytest.approx(90.0)
    assert dice.loc["ham_close", "reproduced_std"] == pytest.approx(0.1)
    assert dice.loc["ham_close", "difference"] == pytest.approx(-0.01)
    assert dice.loc["ham_close", "within_2std"]  # pd.NA would raise here, not pass
    assert dice.loc["ham_close", "verdict"] == "within"
    assert dice.loc["ham_far", "difference"] == pytest.approx(-5.01)
    assert not dice.loc["ham_far", "within_2std"]
    assert dice.loc["ham_far", "verdict"] == "outside"
    assert len(comparison) == 2 * 6  # two datasets × one model × the paper's six metrics

    rows = markdown_rows(to_markdown(vs_paper_document(comparison)))
    assert ["ham\\_close", "ham10k", "A1", "Dice", "90.01 ± 0.09", "90.00 ± 0.10", "3", "-0.01",
            "yes"] in [row[:9] for row in rows]
    assert ["ham\\_far", "ham10k", "A1", "Dice", "90.01 ± 0.09", "85.00 ± 0.10", "3", "-5.01",
            "no"] in [row[:9] for row in rows]


def test_both_protocols_in_one_table_each_against_its_own_a1(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, "paper", iou=80.0)
    write_run(tmp_path, "skin", "A1+L", 0, "paper", iou=84.0)
    write_run(tmp_path, "skin", "A1", 0, "corrected", iou=70.0)
    write_run(tmp_path, "skin", "A1+L", 0, "corrected", iou=77.0)
    # Written corrected first: paper still comes first.
    table = paper_table(collect_runs(tmp_path))
    assert list(zip(table["protocol"], table["model"], strict=True)) == [
        ("paper", "A1"), ("paper", "A1+L"), ("corrected", "A1"), ("corrected", "A1+L")]
    assert row(table, "skin", "A1+L", "paper")["iou_rel_change"] == pytest.approx(0.05)
    assert row(table, "skin", "A1+L", "corrected")["iou_rel_change"] == pytest.approx(0.1)
    # Best is decided within a protocol: both A1+L rows are best.
    assert row(table, "skin", "A1+L", "paper")["iou_best"]
    assert row(table, "skin", "A1+L", "corrected")["iou_best"]
    markdown = to_paper_markdown(table)
    assert markdown_cells(markdown, "skin", "A1+L", "corrected")[column("iou")] == (
        "**77.00** (+10.0%)")


def test_vs_paper_compares_the_paper_protocol_and_shows_corrected_beside_it(tmp_path):
    write_store(tmp_path, "ham", "ham10000")
    reproduce(tmp_path, "ham", "A1", [89.9, 90.0, 90.1])  # paper: 90.0 ± 0.1
    reproduce(tmp_path, "ham", "A1", [87.0, 88.0, 89.0], protocol="corrected")  # 88.0 ± 1.0
    reproduce(tmp_path, "ham", "A1+L", [91.0, 92.0], protocol="corrected")  # only corrected
    comparison = vs_paper(collect_runs(tmp_path), {"ham": "ham10000"})
    dice = comparison[comparison["metric"] == "dice"].set_index("model")
    assert dice.loc["A1", "reproduced_mean"] == pytest.approx(90.0)
    assert dice.loc["A1", "verdict"] == "within"
    assert dice.loc["A1", "corrected_mean"] == pytest.approx(88.0)
    assert dice.loc["A1", "corrected_std"] == pytest.approx(1.0)
    assert dice.loc["A1", "corrected_n_seeds"] == 3
    assert dice.loc["A1", "corrected_difference"] == pytest.approx(88.0 - 90.01)
    # A model run only under corrected has no paper-protocol cell to decide.
    assert pd.isna(dice.loc["A1+L", "reproduced_mean"]) and dice.loc["A1+L", "n_seeds"] == 0
    assert dice.loc["A1+L", "verdict"] == "not decidable: no paper-protocol run"
    assert pd.isna(dice.loc["A1+L", "within_2std"])
    assert dice.loc["A1+L", "corrected_mean"] == pytest.approx(91.5)
    rows = markdown_rows(to_markdown(vs_paper_document(comparison)))
    assert ["ham", "ham10k", "A1", "Dice", "90.01 ± 0.09", "90.00 ± 0.10", "3", "-0.01", "yes",
            "88.00 ± 1.00", "-2.01"] in rows


def test_vs_paper_matches_by_format_not_name(tmp_path):
    # "lits" is the published name, but here the dataset of that name holds HAM10000 images.
    reproduce(tmp_path, "lits", "A1+L", [90.0, 90.0])
    reproduce(tmp_path, "mine", "ACoseg", [80.0, 82.0])
    comparison = vs_paper(collect_runs(tmp_path), {"lits": "ham10000", "mine": "lits"})
    published = comparison.set_index(["dataset", "metric"])["published_mean"]
    assert published[("lits", "dice")] == 90.54  # HAM10000 A1+L
    assert published[("mine", "dice")] == 82.92  # LiTS ACoseg


def test_formats_restrict_the_comparison_to_configured_datasets(tmp_path):
    write_store(tmp_path, "old", "ham10000")
    reproduce(tmp_path, "old", "A1", [90.0, 90.2])
    reproduce(tmp_path, "new", "A1", [90.0, 90.2])
    runs = collect_runs(tmp_path, {"new": "deeplesion"})
    assert dict(zip(runs["dataset"], runs["format"], strict=True)) == {
        "new": "deeplesion", "old": "ham10000"}
    comparison = vs_paper(runs, {"new": "deeplesion"})
    assert set(comparison["dataset"]) == {"new"}
    assert set(comparison["published_dataset"]) == {"deeplesion"}


def test_no_published_dataset_configured(tmp_path):
    write_store(tmp_path, "demo", "demo")
    reproduce(tmp_path, "demo", "A1", [90.0, 90.2])
    reproduce(tmp_path, "unknown", "A1", [90.0, 90.2])  # no data.h5: format unknown
    runs = collect_runs(tmp_path)
    assert runs["format"].isna().tolist() == [False, False, True, True]
    texts = render_tables(runs)
    assert texts["vs_paper_csv"].splitlines() == [
        "dataset,published_dataset,model,metric,published_mean,published_std,reproduced_mean,"
        "reproduced_std,n_seeds,difference,within_2std,verdict,corrected_mean,corrected_std,"
        "corrected_n_seeds,corrected_difference,released_mean,released_difference,"
        "released_within_published"]
    sentence = texts["vs_paper_md"].strip()
    assert "\n" not in sentence and sentence.endswith(".") and "nothing to compare" in sentence


def test_write_tables_writes_all_five_files_atomically(tmp_path):
    results = tmp_path / "results"
    write_store(results, "ham", "ham10000")
    reproduce(results, "ham", "A1", [89.9, 90.0, 90.1])
    out = tmp_path / "tables"
    written = write_tables(results, out)
    assert sorted(p.name for p in written) == sorted(TABLE_FILES.values())
    assert sorted(p.name for p in out.iterdir()) == sorted(TABLE_FILES.values())  # no temps
    assert "90.00 ± 0.10" in (out / "paper_table.md").read_text()
    assert (out / "paper_table.tex").read_text().count(r"\bottomrule") == 1
    assert len(pd.read_csv(out / "paper_table.csv")) == 1
    assert len(pd.read_csv(out / "vs_paper.csv")) == 6
    rows = markdown_rows((out / "vs_paper.md").read_text())
    assert ["ham", "ham10k", "A1", "Dice"] in [row[:4] for row in rows]


def test_a_rule_without_summaries_still_renders_every_file():
    runs = collect_runs_from([])
    # Integer seeds, NA for a released model.
    assert runs["iou"].dtype == float and runs["seed"].dtype == "Int64"
    texts = render_tables(runs)
    assert set(texts) == set(TABLE_FILES)
    assert texts["paper_csv"].splitlines()[0].startswith(
        "dataset,protocol,model,n_seeds,iou_mean,")
    assert len(texts["paper_csv"].splitlines()) == 1
    assert r"\toprule" in texts["paper_tex"] and r"\bottomrule" in texts["paper_tex"]


def test_no_runs_names_the_folder_and_the_pattern(tmp_path):
    (tmp_path / "results" / "demo").mkdir(parents=True)
    with pytest.raises(MissingFilesError) as caught:
        write_tables(tmp_path / "results", tmp_path / "tables")
    message = str(caught.value)
    assert str(tmp_path / "results") in message
    assert "<dataset>/<protocol>/<model>/seed<N>/summary.json" in message
    assert not (tmp_path / "tables").exists()


def test_other_json_files_are_not_runs(tmp_path):
    write_run(tmp_path, "skin", "A1", 0)
    stray = tmp_path / "skin" / "paper" / "A1" / "seed_best" / "summary.json"
    stray.parent.mkdir()
    stray.write_text("{}")
    assert collect_runs(tmp_path)["seed"].tolist() == [0]


RUN = {"dataset": "skin", "protocol": "paper", "model": "A1"}


@pytest.mark.parametrize(("content", "named"), [
    ("{not json", "not a readable JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({**BASE, **RUN, "seed": "zero"}), "'seed'"),
    (json.dumps({**BASE, **RUN, "seed": 0, "iou": "high"}), "'iou'"),
    (json.dumps({**RUN, "seed": 0, "iou": 1.0}), "'dice'"),
    # Every summary names its protocol; its folder is not asked.
    (json.dumps({**BASE, "dataset": "skin", "model": "A1", "seed": 0}), "'protocol'"),
])
def test_bad_summary_names_the_file_and_the_key(tmp_path, content, named):
    path = tmp_path / "skin" / "paper" / "A1" / "seed0" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(WeaklesionError) as caught:
        collect_runs(tmp_path)
    assert str(path) in str(caught.value) and named in str(caught.value)


def test_the_same_run_twice_is_an_error_naming_both_files(tmp_path):
    first = write_run(tmp_path / "a", "skin", "A1", 0)
    second = write_run(tmp_path / "b", "skin", "A1", 0)
    with pytest.raises(WeaklesionError) as caught:
        collect_runs_from([first, second])
    assert str(first) in str(caught.value) and str(second) in str(caught.value)


def test_missing_listed_summary_is_named(tmp_path):
    missing = tmp_path / "skin" / "paper" / "A1" / "seed0" / "summary.json"
    with pytest.raises(MissingFilesError, match=str(missing)):
        collect_runs_from([missing])


def test_rule_script_uses_the_listed_summaries_and_the_configured_formats(tmp_path):
    results = tmp_path / "results"
    reproduce(results, "ham", "A1", [89.9, 90.0, 90.1])
    reproduce(results, "ham", "A1+L", [90.0, 90.2])
    write_run(results, "ham", "ACoseg", 0)  # on disk but not an input of the rule
    summaries = [str(p) for p in sorted(results.glob("ham/paper/A1*/seed*/summary.json"))]
    tables = tmp_path / "tables"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(summaries=summaries),
        output=SimpleNamespace(**{key: str(tables / f"out_{name}")
                                  for key, name in TABLE_FILES.items()}),
        params=SimpleNamespace(formats={"ham": "ham10000"}),
        log=[str(tmp_path / "logs" / "tables.log")],
    )
    run_rule_script("make_tables", snakemake)
    table = pd.read_csv(tables / "out_paper_table.csv")
    assert table["model"].tolist() == ["A1", "A1+L"]
    comparison = pd.read_csv(tables / "out_vs_paper.csv")
    assert set(comparison["published_dataset"]) == {"ham10k"}
    assert "5 runs of 1 datasets" in (tmp_path / "logs" / "tables.log").read_text()



def test_a_document_is_markdown_and_a_self_contained_html_page():
    table = pd.DataFrame({"Dataset": ["ham_10k", "a|b<c"], "Model": ["A1+L", "A1"],
                          "Dice ↑": [bold("90.0 ± 1.0") + " (+1.0%)", "80.0"]})
    document = Document("Results", intro=["A legend <with> markup."], bullets=["A claim."],
                        table=table, names=["Dataset", "Model"], right_aligned=["Dice ↑"])
    page = to_html(document)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>Results</title>" in page and '<meta charset="utf-8">' in page
    html = HtmlCells(page)
    assert html.rows == [["Dataset", "Model", "Dice ↑"],
                         ["ham_10k", "A1+L", "**90.0 ± 1.0** (+1.0%)"], ["a|b<c", "A1", "80.0"]]
    assert "<b>90.0 ± 1.0</b> (+1.0%)" in page and "a|b&lt;c" in page
    assert html.paragraphs == ["A legend <with> markup.", "A claim."]
    assert "<p>A legend &lt;with&gt; markup.</p>" in page and "<li>A claim.</li>" in page
    assert "td.col2 {\n  text-align: right;" in page and "td.col0 {" not in page
    markdown = to_markdown(document)
    assert markdown.startswith("A legend <with> markup.\n\n- A claim.\n\n| Dataset ")
    assert markdown_rows(markdown) == [["Dataset", "Model", "Dice ↑"],
                                       ["ham\\_10k", "A1+L", "**90.0 ± 1.0** (+1.0%)"],
                                       ["a\\|b\\<c", "A1", "80.0"]]
    assert re.fullmatch(r"\|:-+\|:-+\|-+:\|", markdown.splitlines()[5])  # names left, numbers right


def from_latex(cell: str) -> str:
    """A LaTeX cell of the paper's table spelt back as a display string."""
    for latex, text in ((r"$\pm$", "±"), (r"$-$", "-"), (r"$\uparrow$", "↑"),
                        (r"$\downarrow$", "↓"), ("--", "–")):
        cell = cell.replace(latex, text)
    cell = re.sub(r"\\textbf\{(.*?)\}", r"**\1**", cell)
    return re.sub(r"\\([%_#&$])", r"\1", cell)


def test_markdown_latex_and_html_of_the_paper_table_hold_the_same_cells(tmp_path):
    for seed, iou in enumerate([80.0, 82.0, 84.0]):
        write_run(tmp_path, "ham_10k", "A1", seed, iou=iou, hausdorff=None)
        write_run(tmp_path, "ham_10k", "A1+L", seed, iou=iou + 2, dice=79.0)
        write_run(tmp_path, "ham_10k", "A1", seed, "corrected", iou=iou - 1)
        write_run(tmp_path, "ham_10k", "ACoseg", seed, "corrected", iou=iou + 1)
    write_run(tmp_path, "lits#2", "A1", 0, center_error=4.5)
    write_run(tmp_path, "lits#2", "A1+L", 0)
    table = paper_table(collect_runs(tmp_path))
    cells = paper_table_cells(table)
    expected = [list(cells.columns), *cells.to_numpy().tolist()]
    texts = render_tables(collect_runs(tmp_path))

    markdown = [[re.sub(r"\\(.)", r"\1", cell) for cell in row]
                for row in markdown_rows(texts["paper_md"])]
    assert markdown == expected
    assert HtmlCells(texts["paper_html"]).rows == expected
    latex = [[from_latex(cell) for cell in row] for row in latex_rows(texts["paper_tex"])]
    for above, row in zip(latex[1:], latex[2:], strict=False):
        if row[:2] == ["", ""]:  # the names open their block only
            row[:2] = above[:2]
    assert latex == expected

    # The cells that matter are there: bold best values, changes, a dash, single seeds.
    flat = [cell for row in expected for cell in row]
    assert "**84.00 ± 2.00** (+2.4%)" in flat  # ham_10k A1+L IoU, paper
    assert "79.00 ± 0.00 (-1.2%)" in flat  # its Dice, below A1's 80
    assert "**83.00 ± 2.00** (+2.5%)" in flat  # ACoseg against A1 81, corrected
    assert "–" in flat and "**3.00** (-33.3%)" in flat  # no Hausdorff; lits#2 centre error
    assert sum("**" in cell for cell in flat) >= 10




def test_released_models_are_rows_of_their_own_compared_with_the_released_a1(tmp_path):
    write_run(tmp_path, "skin", "A1", 0, dice=80.0)
    write_run(tmp_path, "skin", "A1", 1, dice=82.0)
    write_run(tmp_path, "skin", "A1+L", 0, dice=84.0)
    write_released_run(tmp_path, "skin", "A1+L", dice=90.0)
    write_released_run(tmp_path, "skin", "A1", dice=75.0)
    runs = collect_runs(tmp_path)
    released = runs[runs["model"].str.endswith("(released)")]
    assert sorted(released["model"]) == ["A1 (released)", "A1+L (released)"]
    assert released["seed"].isna().all()
    table = paper_table(runs)
    assert list(table["model"]) == ["A1", "A1+L", "A1 (released)", "A1+L (released)"]
    assert row(table, "skin", "A1+L (released)")["n_seeds"] == 1
    # Against the released A1 (75), not the trained one (81).
    assert row(table, "skin", "A1+L (released)")["dice_rel_change"] == pytest.approx(15 / 75)
    assert row(table, "skin", "A1+L")["dice_rel_change"] == pytest.approx(3 / 81)
    assert pd.isna(row(table, "skin", "A1 (released)")["dice_rel_change"])
    assert row(table, "skin", "A1+L (released)")["dice_best"]  # 90: best of the protocol
    markdown = to_paper_markdown(table)
    assert markdown_cells(markdown, "skin", "A1+L (released)")[column("dice")] == (
        "**90.00** (+20.0%)")
    assert "(released): the paper's own trained model" in markdown
    assert "(released)" not in to_paper_markdown(paper_table(runs[runs["seed"].notna()]))
    assert "A1 (released) compared with" not in paper_table_latex(table)
    assert r"compared with A1 (released)." in paper_table_latex(table)


def test_vs_paper_shows_the_released_model_beside_the_published_and_reproduced(tmp_path):
    # Published HAM10000 A1 Dice: 90.01 ± 0.09, A1+L 90.54 ± 0.32 (Chu et al., Table 1).
    write_store(tmp_path, "ham", "ham10000")
    reproduce(tmp_path, "ham", "A1", [89.9, 90.0, 90.1])
    write_released_run(tmp_path, "ham", "A1", dice=90.15)  # within 90.01 ± 2 × 0.09
    write_released_run(tmp_path, "ham", "A1+L", dice=89.0)  # outside 90.54 ± 2 × 0.32
    comparison = vs_paper(collect_runs(tmp_path), {"ham": "ham10000"})
    dice = comparison[comparison["metric"] == "dice"].set_index("model")
    assert list(dice.index) == ["A1", "A1+L"]
    assert dice.loc["A1", "reproduced_mean"] == pytest.approx(90.0)
    assert dice.loc["A1", "released_mean"] == pytest.approx(90.15)
    assert dice.loc["A1", "released_difference"] == pytest.approx(90.15 - 90.01)
    assert dice.loc["A1", "released_within_published"]
    assert not dice.loc["A1+L", "released_within_published"]
    assert dice.loc["A1+L", "verdict"] == "not decidable: no paper-protocol run"
    markdown = to_markdown(vs_paper_document(comparison))
    rows = markdown_rows(markdown)
    assert ["ham", "ham10k", "A1", "Dice", "90.01 ± 0.09", "90.00 ± 0.10", "3", "-0.01", "yes",
            "–", "–", "90.15", "+0.14"] in rows
    assert "The released models lie within the published mean ± 2 std in" in markdown
    # Without released models the columns are not shown.
    alone = vs_paper(collect_runs(tmp_path).query("seed.notna()"), {"ham": "ham10000"})
    assert "Released" not in to_markdown(vs_paper_document(alone))
