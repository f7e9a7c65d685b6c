"""``make bench``, second part: pull per-minute request counters from a real Prometheus server.

Size: ``BENCH_SERVICES`` (default 20) services × ``BENCH_DAYS`` (default 30) days of the same
counters as ``bench.data`` ending 2025-12-31, backfilled with promtool into a TSDB under
``BENCH_DIR`` (default ``bench/out``)/``prometheus`` (kept and reused for the same size), served
by ``prometheus`` on a free loopback port. Times a full pull of every day into a fresh home,
then a repeated incremental pull with nothing new (the same ``now``), and checks that the pulled
rows are the generated ones. The figures are also written to ``BENCH_DIR/prometheus.json``.

The issue's goal on 2 cores: the full pull under 60 s, the repeated one under 2 s.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from bench.data import day_frame
from pipelines.contracts.sources import read_sources
from pipelines.demo.prometheus import backfill, pull_declaration, serve, write_openmetrics
from pipelines.ingest.prometheus import PullResult, pull_source
from pipelines.progress import Progress, step
from pipelines.warehouse import connect

END = date(2025, 12, 31)
MAX_FULL_SECONDS = 60.0
MAX_REPEAT_SECONDS = 2.0
SOURCE = "web-requests"


def counters(services: int, days: int, end: date, seed: int = 1) -> pl.DataFrame:
    """``bench.data``'s per-minute counters (``timestamp`` Datetime UTC, ``service``,
    ``requests``, ``errors``) of the ``days`` UTC days up to ``end``."""
    names = [f"svc-{index:03d}" for index in range(services)]
    rng = np.random.default_rng(seed)
    frames = [day_frame(end - timedelta(days=days - 1 - n), names, rng) for n in range(days)]
    return pl.concat(frames).with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC")
    )


def served_tsdb(folder: Path, requests: pl.DataFrame, size: dict[str, object]) -> Path:
    """The TSDB of ``requests`` under ``folder``, backfilled unless already there for ``size``."""
    data, marker = folder / "data", folder / "size.json"
    if marker.exists() and json.loads(marker.read_text()) == size:
        return data
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    files = write_openmetrics(folder / "openmetrics", requests=requests)
    backfill(files, data)
    shutil.rmtree(folder / "openmetrics")
    marker.write_text(json.dumps(size))
    step(f"backfilled {len(files)} days in {time.perf_counter() - started:.1f} s")
    return data


def timed_pull(
    home: Path, now: datetime, first: date | None = None, last: date | None = None
) -> tuple[float, PullResult]:
    """Pull ``SOURCE`` of ``home`` at ``now``, from ``first`` to ``last`` when given, else from
    its watermark; returns (seconds, result)."""
    sources, problems = read_sources(home / "sources.yaml")
    assert not problems, problems
    started = time.perf_counter()
    with connect(home / "warehouse.duckdb") as con:
        result = pull_source(
            con, SOURCE, sources[SOURCE], home / "landing", now, first_day=first, last_day=last
        )
    return time.perf_counter() - started, result


def main() -> None:
    services = int(os.environ.get("BENCH_SERVICES", "20"))
    days = int(os.environ.get("BENCH_DAYS", "30"))
    bench_dir = Path(os.environ.get("BENCH_DIR", "bench/out")).resolve()
    size = {"services": services, "days": days, "end": END.isoformat()}
    requests = counters(services, days, END)
    data = served_tsdb(bench_dir / "prometheus", requests, size)
    first = END - timedelta(days=days - 1)
    now = datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC)
    home = bench_dir / "prometheus-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    with serve(data) as server, Progress("pulling", 2, "pulls") as progress:
        declaration = pull_declaration("requests", server.url)
        (home / "sources.yaml").write_text(json.dumps({"sources": {SOURCE: declaration}}))
        full, result = timed_pull(home, now, first, END)
        progress.advance()
        repeat, again = timed_pull(home, now)
        progress.advance()
    pulled = pl.read_parquet(home / "landing" / SOURCE / "*.parquet")
    assert_frame_equal(
        pulled.select("ts", "service", "total", "errors").sort("ts", "service"),
        requests.select(ts="timestamp", service="service", total="requests", errors="errors").sort(
            "ts", "service"
        ),
    )
    print(f"\n{services} services × {days} days at step 1m: {pulled.height:,} rows pulled")
    for name, seconds, goal, pull in (
        ("full pull", full, MAX_FULL_SECONDS, result),
        ("repeated pull", repeat, MAX_REPEAT_SECONDS, again),
    ):
        print(
            f"{name:<14} {seconds:8.2f} s   goal < {goal:g} s   {pull.queries} queries, "
            f"{pull.rows:,} rows, {len(pull.days_written)} day files written"
        )
    report = {
        "services": services,
        "days": days,
        "rows": pulled.height,
        "full_pull_seconds": full,
        "full_pull_days_written": len(result.days_written),
        "repeated_pull_seconds": repeat,
        "repeated_pull_days_written": len(again.days_written),
        "goals": {
            f"full pull < {MAX_FULL_SECONDS:g} s": full < MAX_FULL_SECONDS,
            f"repeated pull < {MAX_REPEAT_SECONDS:g} s": repeat < MAX_REPEAT_SECONDS,
        },
    }
    (bench_dir / "prometheus.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {bench_dir / 'prometheus.json'}")


if __name__ == "__main__":
    main()
