"""The pull against a real Prometheus server (Debian's package, started by the tests on a free
loopback port) serving known evidence backfilled with promtool: the served minutes are the
landing minutes exactly, windows from pulled evidence equal those from landing files, a live
exporter's scraped increments come back, a killed pull reruns to the same raw rows, a pull with
nothing new writes nothing; ``pledge demo --prometheus`` and the pull benchmark run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prometheus_client import CollectorRegistry, Counter, start_http_server

from pipelines import warehouse
from pipelines.cli import main
from pipelines.contracts.sources import Source, read_sources
from pipelines.demo.prometheus import (
    PrometheusError,
    RunningServer,
    ScrapeTarget,
    backfill,
    pull_declaration,
    serve,
    write_openmetrics,
)
from pipelines.demo.writers import LATENCY, PROBES, REQUESTS, write_daily
from pipelines.ingest.landing import file_sha256
from pipelines.ingest.prometheus import Watermark, pull_source, read_watermark
from tests.conftest import DEMO_DAYS, PLEDGE_VARIABLES

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 2
SERVICES = ("checkout", "search", "login")
BUCKETS = ("0.1", "0.5", "+Inf")
LOCATIONS = ("eu-west", "us-east")


def request_counters(
    services: Sequence[str], start: datetime, days: int, rng: np.random.Generator
) -> pl.DataFrame:
    """Per-minute ``timestamp``, ``service``, ``requests`` (about 300) and ``errors`` (0.1%)."""
    minutes = pl.datetime_range(
        start, start + timedelta(days=days, minutes=-1), "1m", time_unit="us", eager=True
    ).dt.convert_time_zone("UTC")
    grid = pl.DataFrame({"timestamp": minutes}).join(
        pl.DataFrame({"service": services}), how="cross"
    )
    total = rng.poisson(300, grid.height)
    return grid.with_columns(
        requests=pl.Series(total), errors=pl.Series(rng.binomial(total, 0.001))
    )


def known_evidence() -> dict[str, pl.DataFrame]:
    """3 services × 2 days of per-minute counters, with a 20-minute error burst on checkout; a
    latency histogram for checkout; probes of search from 2 locations, with a 10-minute outage
    seen from eu-west. Demo landing shapes (see ``openmetrics_samples``)."""
    rng = np.random.default_rng(10)
    requests = request_counters(SERVICES, START, DAYS, rng)
    burst = (pl.col("service") == "checkout") & pl.col("timestamp").is_between(
        START + timedelta(hours=30), START + timedelta(hours=30, minutes=19)
    )
    requests = requests.with_columns(
        errors=pl.when(burst).then(pl.col("requests") // 2).otherwise("errors")
    )

    checkout = requests.filter(service="checkout")["requests"].to_numpy()
    fast = rng.binomial(checkout, 0.6)
    under_half_second = fast + rng.binomial(checkout - fast, 0.98)
    cumulative = np.column_stack([fast, under_half_second, checkout])
    latency = (
        requests.filter(service="checkout")
        .select("timestamp", "service")
        .join(pl.DataFrame({"le": BUCKETS}), how="cross", maintain_order="left")
        .with_columns(count=pl.Series(cumulative.ravel()))
    )

    search = requests.filter(service="search").select("timestamp", "service")
    probes = search.join(
        pl.DataFrame({"location": LOCATIONS}), how="cross", maintain_order="left"
    ).with_columns(
        success=~(
            (pl.col("location") == "eu-west")
            & pl.col("timestamp").is_between(
                START + timedelta(hours=5), START + timedelta(hours=5, minutes=9)
            )
        )
    )
    return {"requests": requests, "latency": latency, "probes": probes}


@pytest.fixture(scope="module")
def evidence() -> dict[str, pl.DataFrame]:
    return known_evidence()


@pytest.fixture(scope="module")
def known_server(
    tmp_path_factory: pytest.TempPathFactory, evidence: dict[str, pl.DataFrame]
) -> Iterator[RunningServer]:
    """A real server on ``known_evidence``, backfilled by promtool."""
    folder = tmp_path_factory.mktemp("prometheus")
    backfill(write_openmetrics(folder / "openmetrics", **evidence), folder / "data")
    with serve(folder / "data") as server:
        yield server


def query_range(server: RunningServer, query: str, labels: list[str]) -> pl.DataFrame:
    """``query`` over the whole known range at step 1m through the HTTP API: ``timestamp`` (the
    evaluation time minus 1m, the convention of the pull), the ``labels``, ``value`` Float64."""
    answer = httpx.get(
        f"{server.url}/api/v1/query_range",
        params={
            "query": query,
            "start": (START + timedelta(minutes=1)).timestamp(),
            "end": (START + timedelta(days=DAYS)).timestamp(),
            "step": "60",
        },
    )
    assert answer.status_code == 200, answer.text
    rows = [
        {
            "timestamp": datetime.fromtimestamp(at - 60, UTC),
            **{label: series["metric"][label] for label in labels},
            "value": float(value),
        }
        for series in answer.json()["data"]["result"]
        for at, value in series["values"]
    ]
    return pl.DataFrame(rows).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def test_the_openmetrics_counters_start_at_zero_and_sum_every_minute(tmp_path: Path) -> None:
    last = START + timedelta(days=1, minutes=-1)  # its count ends at the next day's midnight
    requests = pl.DataFrame(
        {
            "timestamp": [last - timedelta(minutes=1), last],
            "service": ["api", "api"],
            "requests": [10, 7],
            "errors": [1, 0],
        }
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    probes = pl.DataFrame(
        {"timestamp": [last], "service": ["api"], "location": ["eu"], "success": [False]}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    files = write_openmetrics(tmp_path, requests=requests, probes=probes)
    at = int(last.timestamp())
    assert [path.name for path in files] == ["evidence-2026-10-01.om", "evidence-2026-10-02.om"]
    assert files[0].read_text().splitlines() == [
        "# TYPE http_requests counter",
        f'http_requests_total{{service="api",code="200"}} 0 {at - 60}',
        f'http_requests_total{{service="api",code="200"}} 9 {at}',
        f'http_requests_total{{service="api",code="500"}} 0 {at - 60}',
        f'http_requests_total{{service="api",code="500"}} 1 {at}',
        "# EOF",
    ]
    assert files[1].read_text().splitlines() == [
        "# TYPE http_requests counter",
        f'http_requests_total{{service="api",code="200"}} 16 {at + 60}',
        f'http_requests_total{{service="api",code="500"}} 1 {at + 60}',
        "# TYPE probe_success gauge",
        f'probe_success{{service="api",instance="eu"}} 0 {at + 60}',
        "# EOF",
    ]


@pytest.mark.slow
def test_increase_over_one_minute_serves_every_landing_minute_exactly(
    known_server: RunningServer, evidence: dict[str, pl.DataFrame]
) -> None:
    requests = evidence["requests"]
    served = query_range(
        known_server, "sum by (service) (increase(http_requests_total[1m]))", ["service"]
    ).join(
        query_range(
            known_server,
            'sum by (service) (increase(http_requests_total{code=~"5.."}[1m]))',
            ["service"],
        ),
        on=["timestamp", "service"],
        suffix="_errors",
    )
    assert served.height == DAYS * 1440 * len(SERVICES)
    assert_frame_equal(
        served.select(
            "timestamp",
            "service",
            requests=pl.col("value").cast(pl.Int64, strict=True),
            errors=pl.col("value_errors").cast(pl.Int64, strict=True),
        ),
        requests,
        check_row_order=False,
    )
    assert (served["value"] == served["value"].round()).all()  # no extrapolated fraction


@pytest.mark.slow
def test_buckets_and_probes_serve_every_landing_minute_exactly(
    known_server: RunningServer, evidence: dict[str, pl.DataFrame]
) -> None:
    buckets = query_range(
        known_server,
        "sum by (service, le) (increase(http_request_duration_seconds_bucket[1m]))",
        ["service", "le"],
    )
    assert_frame_equal(
        buckets.select("timestamp", "service", "le", count=pl.col("value").cast(pl.Int64)),
        evidence["latency"],
        check_row_order=False,
    )
    probes = query_range(known_server, "probe_success", ["service", "instance"])
    assert_frame_equal(
        probes.select(
            "timestamp",
            "service",
            location="instance",
            success=pl.col("value").cast(pl.Boolean),
        ),
        evidence["probes"],
        check_row_order=False,
    )
    assert probes.filter(pl.col("value") == 0).height == 10


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the TSDB folder should be")
    expected = r"prometheus exited with code 2: .*queries\.active: not a directory"
    with pytest.raises(PrometheusError, match=expected), serve(tmp_path / "data"):
        pass


def test_a_broken_openmetrics_file_names_promtool_error(tmp_path: Path) -> None:
    (tmp_path / "evidence.om").write_text("http_requests_total{service=api} 1 60\n# EOF\n")
    with pytest.raises(PrometheusError, match=r"promtool could not backfill .*evidence\.om: "):
        backfill([tmp_path / "evidence.om"], tmp_path / "data")


# --- pulled evidence computes the same windows as landing files ---------------------------------

CONTRACT = """\
id: shop
title: Shop
provider: Shop operations
consumer: Shop
time_zone: UTC
services:
  - {id: checkout}
  - {id: search}
  - {id: login}
objectives:
  - {id: checkout-availability, service: checkout, sli: {kind: availability}, target: 99.9%, window: day}
  - {id: checkout-latency, service: checkout, sli: {kind: latency, threshold: 500ms}, target: 99%, window: day}
  - id: search-probes
    service: search
    sli: {kind: availability, evidence: probes}
    target: 99.9%
    window: day
    budgeting: {method: timeslices, slice: 5m, slice_target: 99%}
  - {id: login-availability, service: login, sli: {kind: availability}, target: 99.95%, window: day}
"""
LANDED = {"requests": REQUESTS, "latency": LATENCY, "probes": PROBES}
"""The demo's landing sources, by the name of the ``known_evidence`` frame they hold."""
EVIDENCE_KIND = {"requests": "requests", "latency": "histogram", "probes": "probes"}


def home_with(folder: Path, sources: dict[str, object]) -> Path:
    (folder / "contracts").mkdir(parents=True)
    (folder / "contracts" / "shop.yaml").write_text(CONTRACT)
    (folder / "sources.yaml").write_text(json.dumps({"sources": sources}))
    return folder


def windows_of(home: Path) -> pl.DataFrame:
    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        windows = warehouse.query(con, "SELECT * EXCLUDE (as_of) FROM sla.windows")
    return windows.sort("objective_id", "window_start")


@pytest.fixture
def pledge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.slow
@pytest.mark.usefixtures("pledge_env")
def test_windows_from_the_pulled_evidence_equal_those_from_landing_files(
    tmp_path: Path, known_server: RunningServer, evidence: dict[str, pl.DataFrame]
) -> None:
    days = [
        "--from",
        START.date().isoformat(),
        "--to",
        (START + timedelta(days=DAYS - 1)).date().isoformat(),
    ]
    landed = home_with(
        tmp_path / "landed", {name: dict(source.declaration()) for name, source in LANDED.items()}
    )
    for name, source in LANDED.items():
        write_daily(evidence[name], landed / "landing", source)
    pulled = home_with(
        tmp_path / "pulled",
        {name: pull_declaration(kind, known_server.url) for name, kind in EVIDENCE_KIND.items()},
    )
    assert main(["run", "--home", str(landed), *days]) == 0
    assert main(["pull", "--home", str(pulled), *days]) == 0
    assert main(["run", "--home", str(pulled), *days]) == 0

    expected = windows_of(landed)
    assert expected.height == 4 * (DAYS + 1)  # and the current day, without data
    checkout = expected.filter(objective_id="checkout-availability").head(DAYS)
    daily = (
        evidence["requests"]
        .filter(service="checkout")
        .group_by(pl.col("timestamp").dt.date(), maintain_order=True)
        .agg(pl.col("requests").sum())
    )
    assert checkout["total"].to_list() == daily["requests"].cast(pl.Float64).to_list()
    assert checkout["status"].to_list() == ["met", "breached"]  # the error burst on day 2
    probes = expected.filter(objective_id="search-probes").head(DAYS)
    assert probes["status"].to_list() == ["breached", "met"]  # the outage seen from eu-west
    assert_frame_equal(windows_of(pulled), expected)


# --- the pull against the real server ------------------------------------------------------------


def pulled_source(home: Path, name: str) -> Source:
    sources, problems = read_sources(home / "sources.yaml")
    assert not problems
    return sources[name]


def landing_hashes(folder: Path) -> dict[str, str]:
    return {path.name: file_sha256(path) for path in sorted(folder.iterdir())}


@pytest.mark.slow
def test_a_second_pull_with_nothing_new_rewrites_no_file_and_keeps_the_watermark(
    tmp_path: Path, known_server: RunningServer
) -> None:
    home = home_with(tmp_path, {"web": pull_declaration("requests", known_server.url)})
    source = pulled_source(home, "web")
    now = START + timedelta(days=DAYS, seconds=30)
    with warehouse.connect(home / "warehouse.duckdb") as con:
        first = pull_source(con, "web", source, home / "landing", now, START.date(), None)
        files = landing_hashes(home / "landing" / "web")
        again = pull_source(con, "web", source, home / "landing", now)
        watermark = read_watermark(con, "web")
    assert first.rows == DAYS * 1440 * len(SERVICES)
    assert list(files) == ["web-2026-10-01.parquet", "web-2026-10-02.parquet"]
    end = START + timedelta(days=DAYS)
    assert watermark == first.watermark == Watermark(START, end)
    # the settle: the last 5 minutes asked again, found unchanged, nothing written
    assert (again.first_ts, again.last_ts) == (
        end - timedelta(minutes=5),
        end - timedelta(minutes=1),
    )
    assert (again.rows, again.days_written, again.watermark) == (5 * len(SERVICES), [], watermark)
    assert landing_hashes(home / "landing" / "web") == files


def wait_for(server: RunningServer, query: str, expected: list[str]) -> None:
    """Poll the instant ``query`` until its values (sorted) are ``expected`` (30 s at most)."""
    deadline = time.monotonic() + 30
    values: list[str] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/api/v1/query", params={"query": query}).json()
        values = sorted(sample["value"][1] for sample in answer["data"]["result"])
        if values == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"{query} stayed {values}, expected {expected}")


@pytest.mark.slow
def test_a_pull_returns_what_the_server_scraped_from_a_live_exporter(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    counter = Counter("http_requests", "requests", ["service", "code"], registry=registry)
    for service in ("api", "web"):
        for code in ("200", "500"):
            counter.labels(service, code)  # exported at 0 before any request
    exporter, thread = start_http_server(0, "127.0.0.1", registry)
    address = f"127.0.0.1:{exporter.server_address[1]}"
    try:
        with serve(tmp_path / "data", [ScrapeTarget("app", address, "1s")]) as server:
            wait_for(server, "http_requests_total", ["0", "0", "0", "0"])
            for _ in range(3):  # counted over a few scrapes
                counter.labels("api", "200").inc(40)
                counter.labels("api", "500").inc(2)
                counter.labels("web", "200").inc(7)
                time.sleep(1.5)
            wait_for(server, "sum(http_requests_total)", ["147"])
            declaration = pull_declaration("requests", server.url) | {
                "step": "1s",  # every scrape its own row: no minute boundary to wait for
                "queries": {
                    "total": "sum by (service) "
                    "(http_requests_total - http_requests_total offset 1s)",
                    "errors": 'sum by (service) (http_requests_total{code="500"} '
                    '- http_requests_total{code="500"} offset 1s)',
                },
            }
            home = home_with(tmp_path / "home", {"app": declaration})
            # the last scrape's second is complete two seconds later
            now = datetime.now(UTC) + timedelta(seconds=2)
            with warehouse.connect(home / "warehouse.duckdb") as con:
                result = pull_source(con, "app", pulled_source(home, "app"), home / "landing", now)
    finally:
        exporter.shutdown()
        thread.join()
    rows = pl.read_parquet(home / "landing" / "app" / "*.parquet")
    assert result.rows == rows.height
    totals = rows.group_by("service").agg(pl.col("total", "errors").sum()).sort("service")
    assert totals.rows() == [("api", 126, 6), ("web", 21, 0)]


KILL_DAYS = 30
KILL_START = datetime(2025, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def month_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server on 30 days of per-minute counters of the 3 services."""
    folder = tmp_path_factory.mktemp("month")
    requests = request_counters(SERVICES, KILL_START, KILL_DAYS, np.random.default_rng(3))
    backfill(write_openmetrics(folder / "openmetrics", requests=requests), folder / "data")
    with serve(folder / "data") as server:
        yield server


def pledge(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)],
        env={k: v for k, v in os.environ.items() if k not in PLEDGE_VARIABLES},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen) -> None:
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors


def raw_requests(home: Path) -> pl.DataFrame:
    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        return warehouse.query(con, "SELECT * FROM raw.requests ORDER BY ts, service")


@pytest.mark.slow
def test_a_killed_pull_reruns_to_the_raw_rows_of_an_uninterrupted_one(
    tmp_path: Path, month_server: RunningServer
) -> None:
    days = ["--from", KILL_START.date(), "--to", KILL_START.date() + timedelta(days=KILL_DAYS - 1)]
    homes = {}
    for name in ("whole", "killed"):
        homes[name] = home_with(
            tmp_path / name, {"web": pull_declaration("requests", month_server.url)}
        )
    whole = pledge("pull", "--home", homes["whole"], *days)
    first_file = homes["whole"] / "landing" / "web"
    while whole.poll() is None and not first_file.exists():
        time.sleep(0.01)
    writing = time.monotonic()
    finished(whole)
    # a moment between the first day file written and the end of an uninterrupted pull
    delay = random.uniform(0, time.monotonic() - writing)
    killed = pledge("pull", "--home", homes["killed"], *days)
    while killed.poll() is None and not (homes["killed"] / "landing" / "web").exists():
        time.sleep(0.01)
    time.sleep(delay)
    killed.kill()
    killed.wait()
    written = sorted(path.name for path in (homes["killed"] / "landing" / "web").iterdir())
    finished(pledge("pull", "--home", homes["killed"], *days))
    for home in homes.values():
        finished(pledge("run", "--home", home, *days))

    expected = raw_requests(homes["whole"])
    assert expected.height == len(SERVICES) * KILL_DAYS * 1440
    rows = raw_requests(homes["killed"])
    when = f"killed {delay:.2f} s after its first day file, with {len(written)} day files written"
    assert rows.select("ts", "service").is_unique().all(), when
    assert rows.equals(expected), when


@pytest.mark.slow
@pytest.mark.usefixtures("pledge_env")
def test_the_prometheus_demo_pulls_its_requests_and_computes_the_same_windows(
    tmp_path: Path, demo_home: Path, demo_end: date
) -> None:
    home = tmp_path / "home"
    days = ["--days", str(DEMO_DAYS), "--end", demo_end.isoformat()]
    assert main(["demo", "--home", str(home), *days, "--prometheus"]) == 0
    sources, _ = read_sources(home / "sources.yaml")
    assert sources["requests"].pull is not None
    assert not list((home / "landing" / "requests").glob("*.csv"))
    pulled = sorted((home / "landing" / "requests").glob("*.parquet"))
    assert len(pulled) == DEMO_DAYS
    assert_frame_equal(windows_of(home), windows_of(demo_home))


@pytest.mark.slow
def test_the_prometheus_benchmark_runs_and_pulls_back_its_counters(tmp_path: Path) -> None:
    env = os.environ | {"BENCH_SERVICES": "2", "BENCH_DAYS": "2", "BENCH_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "bench.prometheus"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "prometheus.json").read_text())
    assert report["rows"] == 2 * 2 * 1440  # equal to the generated rows, checked by the benchmark
    assert (report["full_pull_days_written"], report["repeated_pull_days_written"]) == (2, 0)
