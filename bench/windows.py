"""``make bench``: Pledge's ingest, slices, burn rates and monthly windows on a year of per-minute
data, against DuckDB's own ``read_csv``, one hand-written DuckDB query and a plain pandas groupby;
``bench.runs`` times ``pledge run`` itself.

Size: ``BENCH_SERVICES`` (default 100) services × ``BENCH_DAYS`` (default 365) days of per-minute
request counters ending 2025-12-31, written once under ``BENCH_DIR`` (default ``bench/out``) and
reused. Every step runs in a fresh spawned process, so the peak memory shown is that step's own.
Steps that only read report their best of ``BENCH_REPEAT`` (default 3) runs.
The window results of the three methods must be identical. The table is also written to
``BENCH_DIR/results.json``.

The issue's goals (2 cores): raw rows → windows (slices + burn rates + windows, reads included)
within 1.5× the DuckDB query; ingest within 2× DuckDB's ``read_csv``; every step under 2 GB of
peak memory.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from polars.testing import assert_frame_equal

from bench import steps
from bench.data import write_home
from pipelines.progress import Progress, format_duration

END = date(2025, 12, 31)
MAX_RAW_TO_WINDOWS_VS_DUCKDB = 1.5
MAX_INGEST_VS_READ_CSV = 2.0
MAX_STEP_PEAK_MB = 2 * 1024


def run(step: Any, *args: Any, progress: Progress) -> steps.StepResult:
    """``step`` in a fresh spawned process (its imports and memory are its own), counted on
    ``progress`` with a note of its time and peak memory."""
    started = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(steps.measured, step, *args).result()
    progress.note(
        f"{step.__name__}: {format_duration(time.perf_counter() - started)}, "
        f"peak {result.peak_mb:,.0f} MB"
    )
    progress.advance()
    return result


def main() -> None:
    services = int(os.environ.get("BENCH_SERVICES", "100"))
    days = int(os.environ.get("BENCH_DAYS", "365"))
    bench_dir = Path(os.environ.get("BENCH_DIR", "bench/out")).resolve()
    home = bench_dir / "home"
    write_home(home, services, days, END)
    day_list = [END - timedelta(days=days - 1 - n) for n in range(days)]

    with Progress("benchmark", 7, "steps") as progress:
        results = {
            "ingest": run(steps.ingest, home, day_list, progress=progress),
            "read_csv": run(steps.duckdb_read_csv, home, progress=progress),
            "slices": run(steps.slices, home, day_list, progress=progress),
            "burn": run(steps.burn, home, progress=progress),
        }
        results["windows"] = run(steps.windows, home, results["burn"].payload, progress=progress)
        results["duckdb"] = run(steps.duckdb_query, home, progress=progress)
        results["pandas"] = run(steps.pandas_groupby, home, progress=progress)

    pledge = results["windows"].payload
    for method in ("duckdb", "pandas"):
        assert_frame_equal(pledge, results[method].payload)
    print(
        f"results agree: {pledge.height} windows ({pledge['service'].n_unique()} services × "
        f"{pledge['window_label'].n_unique()} months), same good and total from Pledge, "
        "DuckDB and pandas"
    )

    rows = [
        asdict(timing) | {"peak_mb": result.peak_mb if n == 0 else None}
        for result in results.values()
        for n, timing in enumerate(result.timings)
    ]
    seconds = {name: [t.seconds for t in result.timings] for name, result in results.items()}
    read, compute = seconds["windows"]
    raw_to_windows = seconds["slices"][0] + seconds["burn"][0] + read + compute
    duck, panda = seconds["duckdb"][0], seconds["pandas"][0]
    ratios = {
        "ingest / DuckDB read_csv": seconds["ingest"][0] / seconds["read_csv"][0],
        "raw → windows (slices + burn + windows) / DuckDB query": raw_to_windows / duck,
        "windows incl. DuckDB read / DuckDB query": (read + compute) / duck,
        "pandas / windows incl. DuckDB read": panda / (read + compute),
    }
    pledge_peak = max(results[name].peak_mb for name in ("ingest", "slices", "burn", "windows"))
    goals = {
        f"raw → windows <= {MAX_RAW_TO_WINDOWS_VS_DUCKDB:g}x DuckDB query": raw_to_windows / duck
        <= MAX_RAW_TO_WINDOWS_VS_DUCKDB,
        f"ingest <= {MAX_INGEST_VS_READ_CSV:g}x DuckDB read_csv": ratios["ingest / DuckDB read_csv"]
        <= MAX_INGEST_VS_READ_CSV,
        f"every Pledge step's peak memory < {MAX_STEP_PEAK_MB / 1024:g} GB "
        f"({pledge_peak:,.0f} MB)": pledge_peak < MAX_STEP_PEAK_MB,
    }
    print_table(services, days, rows, ratios, goals)
    report = {"services": services, "days": days, "steps": rows, "ratios": ratios, "goals": goals}
    (bench_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {bench_dir / 'results.json'}")


def print_table(
    services: int,
    days: int,
    rows: list[dict[str, Any]],
    ratios: dict[str, float],
    goals: dict[str, bool],
) -> None:
    print(f"\n{services} services × {days} days of per-minute rows, windows: month in Berlin")
    print(f"{'step':<56} {'rows':>12} {'seconds':>9} {'rows/s':>13} {'peak MB':>9}")
    for row in rows:
        rate = row["rows"] / row["seconds"] if row["seconds"] else float("inf")
        peak = f"{row['peak_mb']:,.0f}" if row["peak_mb"] is not None else ""
        print(
            f"{row['step']:<56} {row['rows']:>12,} {row['seconds']:>9.2f} {rate:>13,.0f} {peak:>9}"
        )
    print()
    for name, ratio in ratios.items():
        print(f"{name:<56} {ratio:>8.2f}×")
    print()
    for name, met in goals.items():
        print(f"goal {'met   ' if met else 'MISSED'}  {name}")


if __name__ == "__main__":
    main()
