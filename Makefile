# Pledge: two commands do everything on a fresh clone — `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLEDGE_HOME ?= .pledge
export PLEDGE_HOME

.PHONY: demo test dev bench lint install browser prometheus test-packages screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate 90 days of demo evidence, run the whole pipeline, write the reports
	$(BIN)/pledge demo

test: $(STAMP) test-packages  ## run the whole test suite (report pages open in Chromium, pulls read a real Prometheus)
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/pytest

# Debian packages for the tests, installed when missing (apt-get, as root or through sudo): Chromium
# for the report pages (or set PLEDGE_CHROMIUM to a Chromium executable), Prometheus (prometheus
# and promtool) for the pull tests, Redis (redis-server) as the Celery broker of the parallel
# backfill tests. `make test` asks for all in one apt-get call.
browser: PACKAGES = chromium
prometheus: PACKAGES = prometheus
test-packages: PACKAGES = chromium prometheus redis-server
browser prometheus test-packages:  ## install Chromium / Prometheus / all test packages unless on the PATH
	@missing=; \
	for package in $(PACKAGES); do \
	  case $$package in \
	    chromium) command -v $${PLEDGE_CHROMIUM:-chromium} ;; \
	    prometheus) command -v prometheus && command -v promtool ;; \
	    redis-server) command -v redis-server ;; \
	  esac >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "missing:$$missing; install as root (apt-get install$$missing) or set PLEDGE_CHROMIUM to a Chromium executable" >&2; exit 1; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "missing:$$missing and apt-get is not available: install them (set PLEDGE_CHROMIUM to Chromium's executable)" >&2; exit 1; }; \
	  echo "installing Debian packages for the tests:$$missing"; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; }

screenshots: $(STAMP) browser  ## docs/portfolio.png, contract.png and objective.png from $(PLEDGE_HOME)/reports (run `make demo` first)
	$(BIN)/python -m pipelines.report.browser screenshots $(PLEDGE_HOME)/reports docs

dev: $(STAMP)  ## open the Dagster UI on the same code and instance as `pledge`
	$(BIN)/pledge dev

bench: $(STAMP) prometheus  ## time ingest, slices and windows on a year of per-minute data (BENCH_SERVICES, BENCH_DAYS), then a Prometheus pull of 30 days × 20 services
	$(BIN)/python -m bench.windows
	$(BIN)/python -m bench.runs
	$(BIN)/python -m bench.parallel
	$(BIN)/python -m bench.portfolio
	$(BIN)/python -m bench.prometheus

lint: $(STAMP)
	$(BIN)/ruff check pipelines tests bench
	$(BIN)/ruff format --check pipelines tests bench

clean:
	rm -rf $(PLEDGE_HOME) bench/out
