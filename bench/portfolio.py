"""``make bench``, portfolio part: a one-day ``pledge run`` with the demo's 5 contracts, with them
copied 20 times (100 contracts), and copied until the portfolio holds 1,000 objectives, on the
same evidence.

Writes the demo scenario (``BENCH_PORTFOLIO_DAYS``, default 30 days, ending 2026-11-03) under
``BENCH_DIR`` (default ``bench/out``)/``portfolio`` with the landing files of its last day held
back, runs every other day once in each home, then times two one-day runs in each: the day
before the last again (``pledge run --from D --to D``: its inputs unchanged, so predictions and
charts kept from the first run are reused) and, with the last day's files put back, a plain
``pledge run`` (one new day: every objective's inputs change). A copy keeps its objectives and
services and renames the contract (``<id>-copy-NN``), so it reads the same evidence. The large
home has the fewest copies holding at least ``BENCH_PORTFOLIO_OBJECTIVES`` (default 1,000)
objectives.

Then, per home, the seconds of each step of its new-day run (from its Dagster event log: step
start to step success), the steps that grow most first, with their added cost per objective
between the demo and the large home. The load average is printed with the results: on a shared
machine, compare the ratios.

The issue's goals on 2 cores: the 20× portfolio's one-day run at most 2.5× the demo's; the
1,000-objective one under 60 s (judged on both one-day runs).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pipelines.contracts.loader import load_contracts
from pipelines.demo import generate_demo

END = date(2026, 11, 3)
COPIES = 20
MAX_RATIO = 2.5
OBJECTIVES = 1_000
MAX_LARGE_SECONDS = 60.0
STEPS_SHOWN = 12


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


def objective_count(contracts: Path) -> int:
    """Objectives of the valid contracts in ``contracts``."""
    return sum(len(contract.objectives) for contract in load_contracts(contracts)[0])


def hold_back(landing: Path, day: date, held: Path) -> int:
    """Move the landing files with ``day`` (ISO) in their name from ``landing`` to the same
    places under ``held``; returns how many."""
    moved = 0
    for path in sorted(landing.rglob(f"*{day.isoformat()}*")):
        if path.is_file():
            target = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
            moved += 1
    return moved


def put_back(held: Path, landing: Path) -> None:
    """Copy every file under ``held`` to the same place under ``landing``."""
    for path in sorted(held.rglob("*")):
        if path.is_file():
            shutil.copy2(path, landing / path.relative_to(held))


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


def run_ids(home: Path) -> set[str]:
    """The ids of every run recorded in ``home``'s Dagster instance."""
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return {record.dagster_run.run_id for record in instance.get_run_records()}


def step_seconds(home: Path, runs: set[str]) -> dict[str, float]:
    """Seconds from start to success (or failure) of each step of ``runs`` in ``home``'s
    Dagster instance, summed per step (``sla/windows``)."""
    ends = (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
    seconds: dict[str, float] = {}
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for run_id in runs:
            started: dict[str, float] = {}
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is None or entry.step_key is None:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started[entry.step_key] = entry.timestamp
                elif event.event_type in ends and entry.step_key in started:
                    step = entry.step_key.replace("__", "/")
                    elapsed = entry.timestamp - started.pop(entry.step_key)
                    seconds[step] = seconds.get(step, 0.0) + elapsed
    return seconds


def print_steps(homes: list[tuple[str, int, dict[str, float]]]) -> None:
    """Per step, its seconds in each home, the steps that grow most first, and what each added
    objective costs between the first home and the last."""
    (_, first_objectives, first), (_, last_objectives, last) = homes[0], homes[-1]
    added = max(last_objectives - first_objectives, 1)
    steps = sorted(set().union(*(seconds for _, _, seconds in homes)))
    steps.sort(key=lambda step: last.get(step, 0.0) - first.get(step, 0.0), reverse=True)
    header = "".join(f"{name:>16}" for name, _, _ in homes)
    print(f"\nsteps of the one-day run, s (growing most first)\n{'step':<44}{header}{'ms/obj.':>9}")
    for step in steps[:STEPS_SHOWN]:
        cells = "".join(f"{seconds.get(step, 0.0):>16.1f}" for _, _, seconds in homes)
        per_objective = (last.get(step, 0.0) - first.get(step, 0.0)) / added * 1000
        print(f"{step:<44}{cells}{per_objective:>9.1f}")
    rest = steps[STEPS_SHOWN:]
    cells = "".join(f"{sum(s.get(step, 0.0) for step in rest):>16.1f}" for _, _, s in homes)
    print(f"{f'{len(rest)} other steps':<44}{cells}")


def main() -> None:
    days = int(os.environ.get("BENCH_PORTFOLIO_DAYS", "30"))
    wanted = int(os.environ.get("BENCH_PORTFOLIO_OBJECTIVES", str(OBJECTIVES)))
    root = Path(os.environ.get("BENCH_DIR", "bench/out")) / "portfolio"
    shutil.rmtree(root, ignore_errors=True)
    demo = root / "demo"
    generate_demo(demo, end=END, days=days)
    new_day = END - timedelta(days=1)
    if not hold_back(demo / "landing", new_day, root / "held"):
        raise RuntimeError(f"no landing file of {new_day} in {demo / 'landing'}")
    per_copy = objective_count(demo / "contracts")
    large_copies = math.ceil(wanted / per_copy)
    homes = [("demo", demo, 1)]
    for copies in (COPIES, large_copies):
        home = root / f"demo-x{copies}"
        shutil.copytree(demo, home)
        copy_contracts(home / "contracts", copies)
        homes.append((f"demo × {copies}", home, copies))
    again = (new_day - timedelta(days=1)).isoformat()
    rows, steps = [], []
    for name, home, copies in homes:
        first = timed_run(home, "--all")
        rerun = timed_run(home, "--from", again, "--to", again)
        before = run_ids(home)
        put_back(root / "held", home / "landing")
        one_day = timed_run(home)
        rows.append((name, copies * per_copy, first, rerun, one_day))
        steps.append((name, copies * per_copy, step_seconds(home, run_ids(home) - before)))
    print(
        f"\nportfolio: {days} demo days; day again = pledge run --from {again} --to {again}; "
        f"new day = pledge run with {new_day}'s files added"
    )
    header = f"{'all days s':>11} {'day again s':>12} {'new day s':>10}"
    print(f"{'home':<16} {'objectives':>10} {header}")
    for name, objectives, first, rerun, one_day in rows:
        print(f"{name:<16} {objectives:>10} {first:>11.1f} {rerun:>12.1f} {one_day:>10.1f}")
    print_steps(steps)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nload average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs")
    for label, column in (("day again", 3), ("new day", 4)):
        ratio = rows[1][column] / rows[0][column]
        verdict = "meets" if ratio <= MAX_RATIO else "misses"
        print(f"{label}: × {COPIES} {ratio:.2f}× the demo's ({verdict} the goal of ≤ {MAX_RATIO}×)")
        large = rows[2][column]
        verdict = "meets" if large < MAX_LARGE_SECONDS else "misses"
        print(
            f"{label}: {rows[2][1]} objectives {large:.1f} s ({verdict} the goal of under "
            f"{MAX_LARGE_SECONDS:.0f} s; {large / rows[0][column]:.2f}× the demo's)"
        )


if __name__ == "__main__":
    main()
