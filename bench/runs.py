"""``make bench``, third part: ``pledge run`` itself on the bench data.

Size and folder as ``bench.windows`` (``BENCH_SERVICES``, ``BENCH_DAYS``, ``BENCH_DIR``): the
bench home's contract, sources.yaml and landing files are copied into ``BENCH_DIR/run-home``, then
``pledge run`` runs three times, each in its own process: every day (the first run), again with
nothing new, and after one new day of landing files (the day after the last). Every run must
succeed; the table gives each run's time and peak memory, and is also written to
``BENCH_DIR/runs.json``.

The issue's goals on 2 cores: a run with nothing new under 5 s, one new day under 10 s (reports
included).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from time import perf_counter

import numpy as np

from bench import steps
from bench.data import day_frame, service_names, write_home
from bench.windows import END, print_table, run
from pipelines.progress import Progress

MAX_NOTHING_NEW_SECONDS = 5.0
MAX_ONE_NEW_DAY_SECONDS = 10.0


def pledge_run(home: Path, label: str) -> tuple[list[steps.Timing], None]:
    """``pledge run --home home`` in a child process, timed; it must succeed."""
    began = perf_counter()
    finished = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)],
        capture_output=True,
        text=True,
        env=os.environ | {"PLEDGE_HOME": str(home)},
    )
    seconds = perf_counter() - began
    assert finished.returncode == 0, finished.stderr[-4000:]
    landing_files = len(list((home / "landing").rglob("*.csv")))
    return [steps.Timing(label, landing_files, seconds)], None


def main() -> None:
    services = int(os.environ.get("BENCH_SERVICES", "100"))
    days = int(os.environ.get("BENCH_DAYS", "365"))
    bench_dir = Path(os.environ.get("BENCH_DIR", "bench/out")).resolve()
    home, run_home = bench_dir / "home", bench_dir / "run-home"
    write_home(home, services, days, END)
    shutil.rmtree(run_home, ignore_errors=True)
    run_home.mkdir(parents=True)
    for name in ("contracts", "landing"):
        shutil.copytree(home / name, run_home / name)
    shutil.copy(home / "sources.yaml", run_home / "sources.yaml")
    new_day = END + timedelta(days=1)

    with Progress("pledge runs", 3, "runs") as progress:
        results = {
            "every day": run(
                pledge_run, run_home, "pledge run, every day (first run)", progress=progress
            ),
            "nothing new": run(pledge_run, run_home, "pledge run, nothing new", progress=progress),
        }
        day_frame(new_day, service_names(services), np.random.default_rng(2)).write_csv(
            run_home / "landing" / "requests" / f"requests-{new_day.isoformat()}.csv"
        )
        results["one new day"] = run(
            pledge_run, run_home, "pledge run, one new day", progress=progress
        )
        # The lake's backfill goes here: every day by one process against 2 processes (the
        # multiprocess executor), on a fresh copy of the landing files, with its ratio below.

    rows = [
        {"step": t.step, "rows": t.rows, "seconds": t.seconds, "peak_mb": result.peak_mb}
        for result in results.values()
        for t in result.timings
    ]
    nothing_new = results["nothing new"].timings[0].seconds
    one_new_day = results["one new day"].timings[0].seconds
    ratios = {
        "every day / one new day": results["every day"].timings[0].seconds / one_new_day,
    }
    goals = {
        f"pledge run with nothing new < {MAX_NOTHING_NEW_SECONDS:g} s": nothing_new
        < MAX_NOTHING_NEW_SECONDS,
        f"pledge run with one new day < {MAX_ONE_NEW_DAY_SECONDS:g} s": one_new_day
        < MAX_ONE_NEW_DAY_SECONDS,
    }
    print_table(services, days, rows, ratios, goals)
    report = {"services": services, "days": days, "runs": rows, "goals": goals}
    (bench_dir / "runs.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {bench_dir / 'runs.json'}")


if __name__ == "__main__":
    main()
