# The two commands of the README: `make run` (demo workflow) and `make test`.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: run test bench lint browser clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements-dev.txt
	$(BIN)/pip install --no-deps -e .
	@touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores all --resources gpu=1 --report-after-run --report results/report.html

test: $(STAMP) browser
	$(BIN)/pytest

# The CPU benchmark suite; rewrites the CPU section of BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_suite.py

# Debian's chromium renders the HTML report in a test; skipped quietly where it cannot install.
browser:
	@tools/install_chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
