"""One writer at a time, never blocked by readers: the home's run lock, the wait for the
warehouse, and the working copy of ``warehouse.duckdb`` a run writes and publishes when it ends.

Used by ``pledge run`` (:mod:`pipelines.run`) and by every Dagster run that writes through the
``pledge`` resource (:class:`pipelines.resources.PledgeHome`: schedules, sensors, the UI). Runs are
tagged with their process (pid, host, process start time), so that a later run can tell a run
whose process was killed from a live one.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import psutil

from pipelines import warehouse
from pipelines.progress import step
from pipelines.settings import Settings

WAREHOUSE_POOL = "warehouse"
"""Every asset that writes the warehouse sits in this pool; the instance limits it to 1."""

POOL_WAIT_VARIABLE = "PLEDGE_POOL_WAIT_SECONDS"
DEFAULT_POOL_WAIT_SECONDS = 600.0


@contextmanager
def writing_warehouse(
    instance: dg.DagsterInstance,
    settings: Settings,
    wait_seconds: float,
    say: Callable[[str], None] = step,
    publishable: Callable[[], bool] = lambda: True,
) -> Iterator[Path]:
    """Hold the home's run lock, wait for the warehouse (:func:`wait_for_warehouse` on the
    working copy) and yield a fresh working copy of it; publish the copy as the warehouse when the
    body ends without an exception and ``publishable()`` (a killed or crashed run publishes
    nothing). The whole wait, lock and warehouse, is at most ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    working = warehouse.working_path(settings.warehouse_path)
    with run_lock(run_lock_path(settings.warehouse_path), wait_seconds, say):
        remaining = max(0.0, deadline - time.monotonic())
        wait_for_warehouse(instance, working, remaining, say)
        warehouse.begin_working_copy(settings.warehouse_path)
        yield working
        if publishable():
            warehouse.publish(working, settings.warehouse_path)


def failed_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The keys of the steps of run ``run_id`` that failed so far (from the instance's events)."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return sorted({event.step_key for event in events if event.step_key})


def run_lock_path(warehouse_path: Path) -> Path:
    """The lock file that lets one run at a time write (and publish) the warehouse."""
    return warehouse_path.with_name(f".{warehouse_path.stem}.lock")


@contextmanager
def run_lock(path: Path, wait_seconds: float, say: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (released when the process ends, however it ends),
    waiting for it up to ``wait_seconds`` and telling ``say`` once which process holds it; raises
    :class:`WarehouseBusy` naming the holder after that. The holder writes its pid in the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(path, "a+") as lock:
        told = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                lock.seek(0)
                holder = f"process {lock.read().strip() or '?'} (a run on {path.parent})"
                if not told:
                    told = True
                    say(f"waiting for the warehouse, held by {holder}")
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"gave up after {wait_seconds:g} s waiting for the warehouse, held by "
                        f"{holder} (set {POOL_WAIT_VARIABLE} to wait longer)"
                    ) from None
                time.sleep(POLL_SECONDS)
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


PID_TAG, HOST_TAG, PROCESS_START_TAG = "pledge/pid", "pledge/host", "pledge/process_start"
"""The process running a run started by ``run_pipeline``: its pid, host name and start time (a
Unix time, so that a recycled pid is not taken for the original process)."""

POLL_SECONDS = 0.5

UNFINISHED_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

DUCKDB_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*) \(PID (?P<pid>\d+)\)")


class WarehouseBusy(Exception):
    """The warehouse stayed held by a live run or process for longer than the wait allowed."""


def pool_wait_from_env() -> float:
    """``PLEDGE_POOL_WAIT_SECONDS`` (default 600): how long a run waits for the warehouse."""
    text = os.environ.get(POOL_WAIT_VARIABLE, "").strip()
    try:
        seconds = float(text) if text else DEFAULT_POOL_WAIT_SECONDS
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"{POOL_WAIT_VARIABLE}={text!r}: expected a number of seconds >= 0")
    return seconds


def process_tags() -> dict[str, str]:
    """The tags naming this process (pid, host, start time) on a run it starts."""
    process = psutil.Process()
    return {
        PID_TAG: str(process.pid),
        HOST_TAG: socket.gethostname(),
        PROCESS_START_TAG: f"{process.create_time():.3f}",
    }


def process_gone(tags: Mapping[str, str]) -> bool:
    """Whether the process named by a run's tags has ended (or its pid now names another
    process). False when the run has no such tags (it was not started by ``run_pipeline``, e.g.
    from ``make dev``) or ran on another host: then nothing here can tell."""
    if PID_TAG not in tags or tags.get(HOST_TAG) != socket.gethostname():
        return False
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        started = process.create_time()
        zombie = process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False
    return zombie or abs(started - float(tags[PROCESS_START_TAG])) > 1


def describe_run(record: dg.RunRecord) -> str:
    """``run <id> (process <pid> on <host>, started <UTC time>)``, as far as the run tells."""
    run = record.dagster_run
    started = record.start_time or record.create_timestamp.timestamp()
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if PID_TAG in run.tags:
        process = f"process {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}"
        return f"run {run.run_id} ({process}, started {when})"
    return (
        f"run {run.run_id} (job {run.job_name}, {run.status.value}, started {when}; "
        "if its process is gone, terminate it in the Dagster UI)"
    )


def free_dead_runs(instance: dg.DagsterInstance, say: Callable[[str], None]) -> list[dg.RunRecord]:
    """Mark failed every unfinished run of ``run_pipeline`` whose process is gone, free the
    ``warehouse`` pool slots of those runs and of finished runs, telling ``say`` of each; return
    the runs left holding (or waiting for) a slot, and the unfinished runs of live processes."""
    pool = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    in_pool = {slot.run_id for slot in pool.claimed_slots} | {s.run_id for s in pool.pending_steps}
    candidates = list(instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED_STATUSES)))
    if in_pool:
        candidates.extend(instance.get_run_records(dg.RunsFilter(run_ids=sorted(in_pool))))
    records = {
        record.dagster_run.run_id: record
        for record in candidates
        if record.dagster_run.run_id in in_pool or PID_TAG in record.dagster_run.tags
    }
    holders = []
    for run_id, record in sorted(records.items()):
        run = record.dagster_run
        if not run.is_finished and process_gone(run.tags):
            process = run.tags[PID_TAG]
            instance.report_run_failed(run, f"Process {process} of this run is gone.")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            say(f"freed the warehouse pool from run {run_id} (process {process} is gone)")
        elif run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            say(f"freed the warehouse pool from run {run_id} (it ended {run.status.value})")
        else:
            holders.append(record)
    return holders


def warehouse_lock_holder(path: Path) -> str | None:
    """``process <pid> (<program>), which has <path> open`` when another process has the
    warehouse file open, else None."""
    if not path.exists():
        return None
    try:
        with warehouse.connect(path):
            return None
    except duckdb.IOException as error:
        holder = DUCKDB_LOCK_HOLDER.search(str(error))
        if holder is None:
            raise
        return f"process {holder['pid']} ({holder['program']}), which has {path} open"


def wait_for_warehouse(
    instance: dg.DagsterInstance,
    warehouse_path: Path,
    wait_seconds: float,
    say: Callable[[str], None],
) -> None:
    """Return once no live run holds the ``warehouse`` pool and no other process has the
    warehouse file open, freeing the pool from dead runs (:func:`free_dead_runs`) on the way.
    Tells ``say`` once of each holder it waits for; raises :class:`WarehouseBusy` naming the
    holder after ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    told: set[str] = set()
    while True:
        holders = [describe_run(record) for record in free_dead_runs(instance, say)]
        holder = holders[0] if holders else warehouse_lock_holder(warehouse_path)
        if holder is None:
            return
        if holder not in told:
            told.add(holder)
            say(f"waiting for the warehouse, held by {holder}")
        if time.monotonic() >= deadline:
            raise WarehouseBusy(
                f"gave up after {wait_seconds:g} s waiting for the warehouse, held by {holder} "
                f"(set {POOL_WAIT_VARIABLE} to wait longer)"
            )
        time.sleep(POLL_SECONDS)
