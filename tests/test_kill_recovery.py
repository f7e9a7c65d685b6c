"""A run killed with SIGKILL mid-way leaves its ``warehouse`` pool slot behind: the next run frees
it by itself, and the last one ends with the tables of an uninterrupted run. A live holder of the
pool or of the warehouse file makes a run wait, and give up naming it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipelines.cli import main
from pipelines.resources import WAREHOUSE_POOL
from pipelines.run import prepare_instance
from pipelines.settings import REPO_ROOT
from pipelines.writing import (
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    WarehouseBusy,
    describe_run,
    process_gone,
    process_tags,
    wait_for_warehouse,
)
from tests.conftest import warehouse_tables as tables

POOL_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import dagster as dg

    from pipelines.resources import WAREHOUSE_POOL
    from pipelines.run import prepare_instance
    from pipelines.writing import process_tags

    @dg.asset(pool=WAREHOUSE_POOL)
    def held() -> None:
        print("holding", flush=True)
        sys.stdin.read()

    instance = dg.DagsterInstance.from_config(str(prepare_instance(Path(sys.argv[1]))))
    dg.materialize([held], instance=instance, tags=process_tags())
    """
)
"""A live run, tagged like ``pledge run``'s, that holds the pool until its stdin closes."""

FILE_HOLDER = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
    "sys.stdin.read()"
)
"""Another process with the warehouse open read-write (as an analyst's session could)."""


@pytest.fixture(autouse=True)
def no_pledge_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Homes come from ``--home`` alone, here and in the processes the tests start."""
    for variable in os.environ:
        if variable.startswith("PLEDGE_") or variable == "DAGSTER_HOME":
            monkeypatch.delenv(variable)


@pytest.fixture
def holding() -> Iterator[list[subprocess.Popen]]:
    """Start holders with ``holding.append(start(...))``; every one is killed at the end."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.kill()
        process.wait()


def start(args: list[str]) -> subprocess.Popen:
    """A Python process of this repository running ``args``, once it printed ``holding``."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "holding\n"
    return process


def instance_of(dagster_home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_instance(dagster_home)))


def only_record(instance: dg.DagsterInstance) -> dg.RunRecord:
    (record,) = instance.get_run_records()
    return record


def only_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    return only_record(instance).dagster_run


def test_a_process_is_gone_when_its_pid_names_no_process_or_one_started_at_another_time():
    tags = process_tags()
    started = float(tags[PROCESS_START_TAG])
    assert not process_gone(tags)
    assert process_gone({**tags, PROCESS_START_TAG: f"{started - 60:.3f}"})  # a recycled pid
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    assert process_gone({**tags, PID_TAG: str(gone.pid)})
    # Nothing to tell from: a run of `make dev`, or one on another host.
    assert not process_gone({})
    assert not process_gone({**tags, PID_TAG: str(gone.pid), HOST_TAG: "elsewhere"})


def test_a_live_run_holding_the_pool_makes_the_run_wait_then_give_up_naming_it(
    demo_home: Path, tmp_path: Path, holding: list, capsys: pytest.CaptureFixture, monkeypatch
):
    home = shutil.copytree(demo_home, tmp_path / "home", ignore=shutil.ignore_patterns("dagster"))
    holder = start(["-c", POOL_HOLDER, str(home / "dagster")])
    holding.append(holder)
    run = only_run(instance_of(home / "dagster"))
    assert run.tags[PID_TAG] == str(holder.pid)
    monkeypatch.setenv("PLEDGE_POOL_WAIT_SECONDS", "0")

    assert main(["run", "--all", "--home", str(home)]) == 4

    out, err = capsys.readouterr()
    named = f"run {run.run_id} (process {holder.pid} on {socket.gethostname()}, started "
    assert f"  · waiting for the warehouse, held by {named}" in out
    assert err.startswith(f"error: gave up after 0 s waiting for the warehouse, held by {named}")
    assert "set PLEDGE_POOL_WAIT_SECONDS to wait longer" in err


def test_a_run_waiting_for_a_live_holder_goes_on_when_the_holder_ends(
    tmp_path: Path, holding: list
):
    holder = start(["-c", POOL_HOLDER, str(tmp_path / "dagster")])
    holding.append(holder)
    instance = instance_of(tmp_path / "dagster")
    said: list[str] = []

    def tell_and_release(message: str) -> None:
        said.append(message)
        holder.stdin.close()  # the holder's run then succeeds and gives its slot back

    wait_for_warehouse(instance, tmp_path / "warehouse.duckdb", 600, tell_and_release)

    assert said == [f"waiting for the warehouse, held by {describe_run(only_record(instance))}"]
    assert only_record(instance).dagster_run.status == dg.DagsterRunStatus.SUCCESS


def test_a_killed_holder_is_marked_failed_and_its_slot_freed(tmp_path: Path, holding: list):
    holder = start(["-c", POOL_HOLDER, str(tmp_path / "dagster")])
    holding.append(holder)
    instance = instance_of(tmp_path / "dagster")
    run = only_run(instance)
    assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_run_ids == {
        run.run_id
    }
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    said: list[str] = []

    wait_for_warehouse(instance, tmp_path / "warehouse.duckdb", 0, said.append)

    assert said == [
        f"freed the warehouse pool from run {run.run_id} (process {holder.pid} is gone)"
    ]
    assert only_run(instance).status == dg.DagsterRunStatus.FAILURE
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert (pool.claimed_slots, pool.pending_steps) == ([], [])


def test_another_process_with_the_warehouse_open_makes_the_run_give_up_naming_it(
    tmp_path: Path, holding: list
):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = start(["-c", FILE_HOLDER, str(warehouse)])
    holding.append(holder)
    said: list[str] = []

    with pytest.raises(WarehouseBusy) as error:
        wait_for_warehouse(instance_of(tmp_path / "dagster"), warehouse, 0, said.append)

    (waiting,) = said
    assert waiting.startswith(f"waiting for the warehouse, held by process {holder.pid} (")
    assert waiting.endswith(f"), which has {warehouse} open")
    assert str(error.value).startswith(f"gave up after 0 s {waiting} (set PLEDGE_POOL_WAIT_SECONDS")


def killed_after(home: Path, step_done: str) -> tuple[int, list[str]]:
    """Start ``pledge run`` on ``home`` and kill it with SIGKILL once it has printed
    ``<step_done> done`` and a later step holds the warehouse pool; its pid and the lines it
    printed."""
    run = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--all", "--home", str(home)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    lines = []
    for line in run.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(f"  · {step_done} done"):
            break
    else:
        pytest.fail(f"the run ended before {step_done} was done: {lines}")
    # the line is told up to half a second late: kill while the next step holds the pool
    instance = instance_of(home / "dagster")
    while not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_run_ids:
        if run.poll() is not None:
            pytest.fail(f"the run ended before a step after {step_done} held the pool: {lines}")
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait()
    return run.pid, lines


@pytest.mark.slow
def test_after_kill_9_early_then_late_a_plain_run_completes_with_the_uninterrupted_tables(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
):
    home = shutil.copytree(demo_home, tmp_path / "home")
    early_pid, _ = killed_after(home, "sla/objectives")  # while ingesting the latency buckets
    early = killed_run_id(home / "dagster")
    late_pid, late_lines = killed_after(home, "sla/windows")  # while predicting breach risk
    late = killed_run_id(home / "dagster")
    monkeypatch.setenv("PLEDGE_POOL_WAIT_SECONDS", "0")  # a slot not freed fails at once

    assert main(["run", "--home", str(home)]) == 0

    freed = "  · freed the warehouse pool from run {} (process {} is gone)"
    assert freed.format(early, early_pid) in late_lines
    assert freed.format(late, late_pid) in capsys.readouterr().out.splitlines()
    instance = instance_of(home / "dagster")
    for run_id in early, late:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    expected, recovered = tables(demo_home), tables(home)
    assert expected.keys() == recovered.keys()
    for name, frame in expected.items():
        assert recovered[name].equals(frame), name


def killed_run_id(dagster_home: Path) -> str:
    """The id of the run left STARTED by the kill, after checking that it holds the pool."""
    instance = instance_of(dagster_home)
    (record,) = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert pool.active_run_ids == {record.dagster_run.run_id}
    return record.dagster_run.run_id
