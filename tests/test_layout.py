"""Where the workflow puts its files (weaklesion.layout): paths built and read back."""

from __future__ import annotations

import pytest

from weaklesion import layout
from weaklesion.errors import WeaklesionError
from weaklesion.layout import Run, find_run_files, parse_run


@pytest.mark.parametrize("run", [
    Run("ham", "paper", "A1+L", 3),
    Run("demo", "corrected", "ACoseg", 0, "k-12"),
    Run("my.data-set", "paper", "A1", 10, "target-grabcut"),
])
def test_a_run_is_read_back_from_any_of_its_files(run, tmp_path):
    assert parse_run(run.path("summary.json")) == run
    assert parse_run(run.path("metrics.parquet", results=tmp_path / "out")) == run
    assert str(run.folder()) == layout.run_folder(run.dataset, run.protocol, run.model,
                                                  run.seed, run.variant)


def test_the_patterns_the_rules_fill_in_are_the_paths_built_here():
    run = Run("ham", "paper", "A1", 2)
    assert layout.RUN.format(dataset="ham", protocol="paper", model="A1", seed=2) == (
        str(run.folder()))
    ablated = Run("ham", "paper", "A1+L", 2, "k-3")
    assert layout.ABLATION_RUN.format(dataset="ham", protocol="paper", variant="k-3",
                                      model="A1+L", seed=2) == str(ablated.folder())
    assert layout.protocol_folder("ham", "paper", "k-3") == layout.ABLATION.format(
        dataset="ham", protocol="paper", variant="k-3")
    assert layout.variant_name("k", 12) == "k-12"
    assert layout.split_variant("target-grabcut") == ("target", "grabcut")


@pytest.mark.parametrize("path", ["metrics.parquet", "results/ham/A1+L/history.csv",
                                  "results/ham/paper/A1/3/summary.json"])
def test_a_file_outside_a_run_is_an_error_showing_the_layout(path):
    with pytest.raises(WeaklesionError, match=r"<protocol>.*<model>/seed<N>/<file>"):
        parse_run(path)


def test_runs_are_found_with_or_without_the_ablations(tmp_path):
    runs = [Run("ham", "paper", "A1", 0), Run("ham", "corrected", "A1+L", 1),
            Run("ham", "paper", "A1+L", 0, "k-3")]
    for run in runs:
        run.path("summary.json", tmp_path).parent.mkdir(parents=True)
        run.path("summary.json", tmp_path).write_text("{}")
    (tmp_path / "ham" / "paper" / "A1" / "notes").mkdir()  # not a seed folder
    (tmp_path / "ham" / "paper" / "A1" / "notes" / "summary.json").write_text("{}")
    found = [parse_run(p) for p in find_run_files(tmp_path, "summary.json")]
    assert sorted(found) == sorted(runs)
    default = [parse_run(p) for p in find_run_files(tmp_path, "summary.json", ablations=False)]
    assert sorted(default) == sorted(runs[:2])


def test_a_released_model_lies_beside_the_runs_and_is_found_apart_from_them(tmp_path):
    assert layout.released_folder("ham", "paper", "A1+L") == "results/ham/paper/A1+L/released"
    assert layout.RELEASED_RUN.format(dataset="ham", protocol="paper", model="A1+L") == (
        layout.released_folder("ham", "paper", "A1+L"))
    trained = Run("ham", "paper", "A1", 0).path("summary.json", tmp_path)
    released = tmp_path / "ham" / "paper" / "A1" / "released" / "summary.json"
    for path in (trained, released):
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    assert find_run_files(tmp_path, "summary.json") == [trained]
    assert layout.find_released_files(tmp_path, "summary.json") == [released]
