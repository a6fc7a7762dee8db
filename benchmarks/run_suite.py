"""The CPU benchmark suite (``make bench``): run every benchmark, rewrite BENCHMARKS.md.

    .venv/bin/python benchmarks/run_suite.py [--only metrics dag ...] [--render-only]

Each benchmark runs in its own interpreter and writes its record to
``benchmarks/results/cpu/<name>.json``; the CPU section of ``BENCHMARKS.md`` is then rendered
from all the records there (the GPU section is left alone). Generated inputs are cached in
``--cache`` between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import DEFAULT_CACHE, REPO
from markdown_section import render_section, replace_section

BENCHMARKS = ("metrics", "dag", "noop", "preprocess", "archives", "grabcut", "rendering",
              "memory", "datapath", "early_stopping")
# Trains the demo for up to an hour whenever the workflow changed: only when asked by --only;
# its last record is rendered all the same.
ON_REQUEST = ("early_stopping",)
SUITE = tuple(name for name in BENCHMARKS if name not in ON_REQUEST)
RESULTS = REPO / "benchmarks" / "results" / "cpu"
DOCUMENT = REPO / "BENCHMARKS.md"
SUITE_RECORD = RESULTS / "suite.json"


def run_benchmark(name: str, cache: Path, results: Path) -> None:
    script = REPO / "benchmarks" / f"bench_{name}.py"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    print(f"--- bench_{name}", flush=True)
    subprocess.run([sys.executable, str(script), "--json", str(results / f"{name}.json"),
                    "--cache", str(cache)], cwd=REPO, env=env, check=True)


def records(results: Path) -> list[dict]:
    found = []
    for name in BENCHMARKS:
        path = results / f"{name}.json"
        if path.is_file():
            found.append(json.loads(path.read_text()))
    return found


def rewrite_document(document: Path, results: Path) -> None:
    suite = json.loads((results / SUITE_RECORD.name).read_text()) \
        if (results / SUITE_RECORD.name).is_file() else None
    section = render_section(records(results), suite)
    text = document.read_text() if document.is_file() else "# Benchmarks\n"
    document.write_text(replace_section(text, section))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(SUITE),
                        help=f"default: all but {', '.join(ON_REQUEST)}")
    parser.add_argument("--render-only", action="store_true",
                        help="only rewrite BENCHMARKS.md from the records already there")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    if not args.render_only:
        args.results.mkdir(parents=True, exist_ok=True)
        load_before = list(os.getloadavg())
        started = time.perf_counter()
        for name in args.only:
            run_benchmark(name, args.cache, args.results)
        if set(args.only) == set(SUITE):  # the time of a whole `make bench`
            (args.results / SUITE_RECORD.name).write_text(json.dumps({
                "command": "make bench", "minutes": (time.perf_counter() - started) / 60,
                "load_before": load_before, "load_after": list(os.getloadavg()),
            }, indent=2) + "\n")
    rewrite_document(args.document, args.results)
    print(f"wrote the CPU section of {args.document}")


if __name__ == "__main__":
    main()
