"""A real Prometheus server holding evidence: the demo's ``--prometheus`` home, the tests'
server and the pull benchmark.

Evidence frames (the demo's landing shapes) become OpenMetrics text with one sample per series
at every minute boundary, ``promtool tsdb create-blocks-from openmetrics`` turns it into TSDB
blocks (a file per day), and ``serve`` runs Debian's ``prometheus`` on them on a free loopback port.

Metrics written (so the README's queries pull the landing rows back exactly):

- ``http_requests_total{service, code}``: counters, ``code="200"`` for the good requests and
  ``"500"`` for the failed ones, 0 at the first minute's start and the running sum at the end of
  every minute. Prometheus 2 range selectors include both ends, so
  ``increase(http_requests_total[1m])`` evaluated at ``t`` sees exactly the samples at ``t - 1m``
  and ``t``: no extrapolation, the minute's integer count. (Prometheus 3 selectors are left-open:
  the same query would see one sample and return nothing.)
- ``http_request_duration_seconds_bucket{service, le}``: the same counters per latency bucket.
- ``probe_success{service, instance}``: a gauge, 1 or 0, stamped at the end of the probed minute
  so ``probe_success`` evaluated at ``t`` is the probe of the minute starting at ``t - 1m``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl

from pipelines.demo.writers import CSV_TIMESTAMP, REQUESTS, write_sources
from pipelines.settings import Settings

REQUESTS_METRIC = "http_requests_total"
BUCKETS_METRIC = "http_request_duration_seconds_bucket"
PROBES_METRIC = "probe_success"
GOOD_CODE, BAD_CODE = "200", "500"
RETENTION = "100y"
"""Long enough that no backfilled block is ever dropped (retention counts from the newest)."""
QUERIES = {
    "requests": {
        "total": f"sum by (service) (increase({REQUESTS_METRIC}[1m]))",
        "errors": f'sum by (service) (increase({REQUESTS_METRIC}{{code=~"5.."}}[1m]))',
    },
    "histogram": {"count": f"sum by (service, le) (increase({BUCKETS_METRIC}[1m]))"},
    "probes": {"up": PROBES_METRIC},
}
"""The PromQL per canonical field that pulls each evidence kind back from these metrics."""
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class PrometheusError(RuntimeError):
    """``promtool`` or ``prometheus`` failed; the message carries the tool's own error."""


def openmetrics_samples(
    requests: pl.DataFrame | None = None,
    latency: pl.DataFrame | None = None,
    probes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The OpenMetrics samples of the evidence frames, series after series, each in time order:
    ``family`` (its ``# TYPE`` line), ``day`` Date (the sample's UTC day), ``line`` String.

    ``requests``: ``timestamp`` Datetime(UTC, the minute's start), ``service``, ``requests``,
    ``errors`` Int64; ``latency``: ``timestamp``, ``service``, ``le`` String, ``count`` Int64
    (cumulative over buckets); ``probes``: ``timestamp``, ``service``, ``location``, ``success``
    Boolean. Each frame holds one row per minute and series, without gaps."""
    parts = []
    if requests is not None:
        codes = pl.concat(
            [
                requests.select(
                    "timestamp", "service", code=pl.lit(GOOD_CODE), value="requests"
                ).with_columns(pl.col("value") - requests["errors"]),
                requests.select("timestamp", "service", code=pl.lit(BAD_CODE), value="errors"),
            ]
        )
        parts.append(_samples(_counter(codes), REQUESTS_METRIC, "# TYPE http_requests counter"))
    if latency is not None:
        parts.append(
            _samples(
                _counter(latency.rename({"count": "value"})),
                BUCKETS_METRIC,
                f"# TYPE {BUCKETS_METRIC} unknown",
            )
        )
    if probes is not None:
        gauge = probes.select(
            timestamp=pl.col("timestamp") + pl.duration(minutes=1),
            service="service",
            instance="location",
            value=pl.col("success").cast(pl.Int64),
        )
        parts.append(_samples(gauge, PROBES_METRIC, f"# TYPE {PROBES_METRIC} gauge"))
    return pl.concat(parts)


def write_openmetrics(folder: Path, **evidence: pl.DataFrame | None) -> list[Path]:
    """Write ``openmetrics_samples(**evidence)`` as one OpenMetrics file per UTC day,
    ``folder/evidence-YYYY-MM-DD.om``; returns the files. (promtool reads its whole input once
    per two-hour block it writes: a file per day keeps the backfill linear in the days.)"""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    samples = openmetrics_samples(**evidence)
    for (day,), rows in samples.partition_by("day", as_dict=True, maintain_order=True).items():
        families = rows.partition_by("family", as_dict=True, maintain_order=True)
        text = "".join(
            family + "\n" + "\n".join(lines["line"]) + "\n" for (family,), lines in families.items()
        )
        path = folder / f"evidence-{day.isoformat()}.om"
        path.write_text(text + "# EOF\n")
        files.append(path)
    return files


def backfill(files: Sequence[Path], data_dir: Path) -> None:
    """Turn the OpenMetrics ``files`` into TSDB blocks in ``data_dir`` (``promtool``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        finished = subprocess.run(
            [_tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
            + [str(path), str(data_dir)],
            capture_output=True,
            text=True,
        )
        if finished.returncode != 0:
            raise PrometheusError(
                f"promtool could not backfill {path}: "
                f"{(finished.stderr or finished.stdout).strip()}"
            )


@dataclass(frozen=True)
class ScrapeTarget:
    """A scrape job: ``address`` (``host:port``) scraped every ``interval`` (``1s``)."""

    job: str
    address: str
    interval: str = "15s"


@dataclass(frozen=True)
class RunningServer:
    """A started server: its ``url`` (``http://127.0.0.1:PORT``) and its ``log`` file."""

    url: str
    log: Path


@contextlib.contextmanager
def serve(data_dir: Path, scrape: Sequence[ScrapeTarget] = ()) -> Iterator[RunningServer]:
    """Run ``prometheus`` on the TSDB in ``data_dir`` on a free loopback port until the block
    ends, then stop it (SIGTERM, SIGKILL after STOP_TIMEOUT seconds). The configuration
    (``prometheus.yml``) and the server's log (``prometheus.log``) are written next to
    ``data_dir``. Raises PrometheusError with the log's last lines when the server exits or is
    not ready within READY_TIMEOUT seconds."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    config = data_dir.parent / f"{data_dir.name}-prometheus.yml"
    config.write_text(_config(scrape))
    log = data_dir.parent / f"{data_dir.name}-prometheus.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                _tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                f"--storage.tsdb.retention.time={RETENTION}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(process, url, log)
        yield RunningServer(url, log)
    finally:
        _stop(process)


def pull_declaration(evidence: str, url: str) -> dict[str, object]:
    """The ``sources.yaml`` declaration pulling ``evidence`` (``requests``, ``histogram``,
    ``probes``) back from the server at ``url``."""
    return {"kind": "prometheus", "evidence": evidence, "url": url, "queries": QUERIES[evidence]}


@contextlib.contextmanager
def serve_demo_requests(home: Path, progress: Callable[[str], None]) -> Iterator[RunningServer]:
    """``pledge demo --prometheus``: the request counters the demo wrote under ``home`` moved
    into a real Prometheus server. The daily request CSVs become OpenMetrics, are backfilled into
    ``home/prometheus/data`` and, once the server runs (on a free loopback port, while the block
    lasts), removed; ``sources.yaml`` then declares ``requests`` as a ``kind: prometheus`` source
    pulling from that server, so the run pulls them back into ``landing/requests/*.parquet``.
    After the block the server is stopped; its TSDB stays in ``home/prometheus``, which
    ``prometheus --storage.tsdb.path=...`` serves again (set the url in ``sources.yaml`` to it)."""
    settings = Settings.from_env(home)
    files = sorted((settings.landing_dir / REQUESTS.name).glob(f"*.{REQUESTS.file_format}"))
    requests = pl.read_csv(files, schema_overrides={"timestamp": pl.String}).with_columns(
        pl.col("timestamp").str.to_datetime(CSV_TIMESTAMP, time_unit="us", time_zone="UTC")
    )
    folder = home / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    backfill(write_openmetrics(folder / "openmetrics", requests=requests), folder / "data")
    shutil.rmtree(folder / "openmetrics")
    progress(
        f"backfilled {requests.height:,} request counter minutes into {folder / 'data'} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with serve(folder / "data") as server:
        write_sources(
            settings.sources_file, {REQUESTS.name: pull_declaration(REQUESTS.kind, server.url)}
        )
        for path in files:  # served now: the pull writes them back as Parquet
            path.unlink()
        progress(f"serving them from Prometheus at {server.url} (log: {server.log})")
        yield server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _counter(frame: pl.DataFrame) -> pl.DataFrame:
    """Per-minute counts (``timestamp``, label columns, ``value``) as counter samples: 0 at
    each series' first minute start, then the running sum at every minute's end."""
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    ordered = frame.sort([*labels, "timestamp"])
    ends = ordered.with_columns(
        timestamp=pl.col("timestamp") + pl.duration(minutes=1),
        value=pl.col("value").cum_sum().over(labels),
    )
    starts = ordered.group_by(labels, maintain_order=True).agg(pl.col("timestamp").min())
    zeros = starts.with_columns(value=pl.lit(0, dtype=pl.Int64)).select(ordered.columns)
    return pl.concat([zeros, ends]).sort([*labels, "timestamp"], maintain_order=True)


def _samples(frame: pl.DataFrame, metric: str, family: str) -> pl.DataFrame:
    """``family``, ``day`` and ``metric{label="…",…} value unix_seconds`` lines of the samples
    (``timestamp``, label columns, ``value``), labels in column order."""
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    label_text = pl.concat_str(
        [pl.format(f'{label}="{{}}"', pl.col(label)) for label in labels], separator=","
    )
    return frame.select(
        family=pl.lit(family),
        day=pl.col("timestamp").dt.date(),
        line=pl.concat_str(
            pl.lit(metric + "{"),
            label_text,
            pl.lit("} "),
            pl.col("value"),
            pl.lit(" "),
            pl.col("timestamp").dt.epoch("s"),
        ),
    )


def _config(scrape: Sequence[ScrapeTarget]) -> str:
    jobs = "".join(
        f"  - job_name: {target.job}\n    scrape_interval: {target.interval}\n"
        f"    static_configs:\n      - targets: ['{target.address}']\n"
        for target in scrape
    )
    return "global:\n  evaluation_interval: 1m\nscrape_configs:\n" + (jobs or "  []\n")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrometheusError(
            f"{name} is not installed: `make prometheus` installs Debian's prometheus package"
        )
    return path


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusError(
                f"prometheus exited with code {process.returncode}: {_log_tail(log)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    _stop(process)
    raise PrometheusError(f"prometheus not ready after {READY_TIMEOUT:.0f} s: {_log_tail(log)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _log_tail(log: Path, lines: int = 3) -> str:
    """The server's error lines (``level=error``, ``panic:``), else its last lines."""
    text = log.read_text(errors="replace").strip().splitlines()
    errors = [line for line in text if "level=error" in line or line.startswith("panic:")]
    return " | ".join((errors or text)[-lines:])
