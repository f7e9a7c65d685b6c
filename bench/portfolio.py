"""``make bench``, portfolio part: a one-day ``pledge run`` with the demo's 5 contracts and with
them copied 20 times (100 contracts), on the same evidence.

Writes the demo scenario (``BENCH_PORTFOLIO_DAYS``, default 30 days, ending 2026-11-03) under
``BENCH_DIR`` (default ``bench/out``)/``portfolio``, runs every day once in each home, then times
a run of the last day alone (``pledge run --from D --to D``: ingest, slices, windows, predictions
and pages of every objective) in each. A copy keeps its objectives and services and renames the
contract (``<id>-copy-NN``), so it reads the same evidence.

The issue's goal on 2 cores: the 20× portfolio's one-day run at most 2.5× the demo's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from pipelines.demo import generate_demo

END = date(2026, 11, 3)
COPIES = 20
MAX_RATIO = 2.5


def copy_contracts(contracts: Path, copies: int) -> int:
    """Add ``copies - 1`` renamed copies of every contract file in ``contracts``; returns the
    number of contract files afterwards."""
    originals = sorted(contracts.glob("*.yaml"))
    for path in originals:
        text = path.read_text(encoding="utf-8")
        for copy in range(1, copies):
            renamed = re.sub(r"(?m)^id: (\S+)", rf"id: \1-copy-{copy:02d}", text, count=1)
            (contracts / f"{path.stem}-copy-{copy:02d}.yaml").write_text(renamed, encoding="utf-8")
    return len(list(contracts.glob("*.yaml")))


def timed_run(home: Path, *args: str) -> float:
    """Seconds of ``pledge run`` in ``home`` with ``args``; raises when it fails."""
    env = {**os.environ, "PLEDGE_HOME": str(home)}
    for variable in ("PLEDGE_CONTRACTS", "PLEDGE_SOURCES", "PLEDGE_LANDING"):
        env.pop(variable, None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise RuntimeError(f"pledge run {' '.join(args)} in {home} failed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    days = int(os.environ.get("BENCH_PORTFOLIO_DAYS", "30"))
    root = Path(os.environ.get("BENCH_DIR", "bench/out")) / "portfolio"
    shutil.rmtree(root, ignore_errors=True)
    demo, large = root / "demo", root / "demo-x20"
    generate_demo(demo, end=END, days=days)
    shutil.copytree(demo, large)
    contracts = copy_contracts(large / "contracts", COPIES)
    last = (END - timedelta(days=1)).isoformat()
    rows = []
    for name, home in (("demo (5 contracts)", demo), (f"demo × {COPIES} ({contracts})", large)):
        first = timed_run(home, "--all")
        one_day = timed_run(home, "--from", last, "--to", last)
        rows.append((name, first, one_day))
    print(f"\nportfolio: {days} demo days; one-day run = pledge run --from {last} --to {last}")
    print(f"{'home':<26} {'all days s':>11} {'one day s':>10}")
    for name, first, one_day in rows:
        print(f"{name:<26} {first:>11.1f} {one_day:>10.1f}")
    ratio = rows[1][2] / rows[0][2]
    verdict = "meets" if ratio <= MAX_RATIO else "misses"
    print(f"one-day ratio {ratio:.2f}× ({verdict} the goal of at most {MAX_RATIO}×)")


if __name__ == "__main__":
    main()
