"""``make bench``, the lake's backfill: every day of a bench home run by one process against the
same days spread over 2 processes (``pledge run --executor multiprocess --workers 2``: chunks of
days ingested and sliced at once, each on its own shard, into the shared lake).

``BENCH_SERVICES`` services (default 100) × ``BENCH_PARALLEL_DAYS`` days (default 30) of
per-minute counters up to ``bench.windows.END``, written under ``BENCH_DIR/parallel-home``; each
variant runs ``pledge run --all`` in its own process on a fresh copy of the landing files. Both
must succeed; the ratio is serial seconds / 2-process seconds (above 1: the processes paid off).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from time import perf_counter

from bench.data import write_home
from bench.windows import END, print_table
from pipelines.progress import Progress

VARIANTS = {
    "backfill, 1 process (in-process run)": [],
    "backfill, 2 processes (multiprocess executor)": [
        "--executor",
        "multiprocess",
        "--workers",
        "2",
    ],
}


def backfill(landing_home: Path, run_home: Path, options: list[str]) -> float:
    """Seconds of ``pledge run --all`` (with ``options``) on a fresh copy of ``landing_home``."""
    shutil.rmtree(run_home, ignore_errors=True)
    run_home.mkdir(parents=True)
    for name in ("contracts", "landing"):
        shutil.copytree(landing_home / name, run_home / name)
    shutil.copy(landing_home / "sources.yaml", run_home / "sources.yaml")
    began = perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--all", "--home", str(run_home), *options],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLEDGE_")},
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    return perf_counter() - began


def main() -> None:
    services = int(os.environ.get("BENCH_SERVICES", "100"))
    days = int(os.environ.get("BENCH_PARALLEL_DAYS", "30"))
    bench_dir = Path(os.environ.get("BENCH_DIR", "bench/out")).resolve()
    home = bench_dir / "parallel-home"
    rows = write_home(home, services, days, END)
    seconds = {}
    with Progress("backfills", len(VARIANTS), "runs") as progress:
        for label, options in VARIANTS.items():
            seconds[label] = backfill(home, bench_dir / "parallel-run", options)
            progress.note(f"{label}: {seconds[label]:.1f} s")
            progress.advance()
    serial, parallel = seconds.values()
    table = [
        {"step": label, "rows": rows, "seconds": taken, "peak_mb": None}
        for label, taken in seconds.items()
    ]
    print_table(services, days, table, {"1 process / 2 processes": serial / parallel}, {})


if __name__ == "__main__":
    main()
