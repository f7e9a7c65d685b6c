# Pledge: two commands do everything on a fresh clone — `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLEDGE_HOME ?= .pledge
export PLEDGE_HOME

.PHONY: demo test dev bench lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate 90 days of demo evidence, run the whole pipeline, write the reports
	$(BIN)/pledge demo

test: $(STAMP)  ## run the whole test suite
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/pytest

dev: $(STAMP)  ## open the Dagster UI on the same code and instance as `pledge`
	$(BIN)/pledge dev

bench: $(STAMP)  ## time ingest, slices and windows on a year of per-minute data (BENCH_SERVICES, BENCH_DAYS)
	$(BIN)/python -m bench.windows

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/ruff format --check pipelines tests bench

clean:
	rm -rf $(PLEDGE_HOME) bench/out
