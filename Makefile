# Pledge: two commands do everything on a fresh clone — `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLEDGE_HOME ?= .pledge
export PLEDGE_HOME

.PHONY: demo test dev bench lint install browser screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate 90 days of demo evidence, run the whole pipeline, write the reports
	$(BIN)/pledge demo

test: $(STAMP) browser  ## run the whole test suite (the report tests open every page in Chromium)
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/pytest

# Chromium for the browser tests of the reports: Debian's package, installed when missing.
browser:  ## install Chromium (apt-get, as root or through sudo) unless `chromium` is on the PATH
	@command -v $${PLEDGE_CHROMIUM:-chromium} >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "Chromium is missing: install it as root (apt-get install chromium) or set PLEDGE_CHROMIUM to a Chromium executable" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "Chromium is missing and apt-get is not available: install Chromium and set PLEDGE_CHROMIUM to its executable" >&2; exit 1; }; \
	  echo "installing Chromium (Debian package chromium) for the report tests"; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

screenshots: $(STAMP) browser  ## docs/portfolio.png, contract.png and objective.png from $(PLEDGE_HOME)/reports (run `make demo` first)
	$(BIN)/python -m pipelines.report.browser screenshots $(PLEDGE_HOME)/reports docs

dev: $(STAMP)  ## open the Dagster UI on the same code and instance as `pledge`
	$(BIN)/pledge dev

bench: $(STAMP)  ## time ingest, slices and windows on a year of per-minute data (BENCH_SERVICES, BENCH_DAYS)
	$(BIN)/python -m bench.windows

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/ruff format --check pipelines tests bench

clean:
	rm -rf $(PLEDGE_HOME) bench/out
