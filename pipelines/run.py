"""Materialise the whole graph in-process on a Pledge home, recorded in its Dagster instance.

Runs started here show up in ``make dev`` because both use ``<home>/dagster`` as DAGSTER_HOME.
Each run is tagged with its process (pid, host, process start time), so that a later run can tell
a run whose process was killed from a live one: before it starts, a run marks the killed ones
failed and frees their ``warehouse`` pool slots, and waits (up to ``PLEDGE_POOL_WAIT_SECONDS``)
while a live run or another process holds the pool, the home's run lock or the working file.

Readers never block a run: the run writes a working copy of ``warehouse.duckdb`` (which no reader
opens) and publishes it by renaming it over ``warehouse.duckdb`` when it ends. A notebook with the
old file open keeps reading its snapshot; a new connection sees the run's data. A killed run
publishes nothing (its lake partitions are each complete; the next run loads those days again).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import psutil

from pipelines import warehouse
from pipelines.progress import step
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.settings import Settings

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
"""The instance settings every Pledge home starts from (the warehouse pool's limit of 1)."""

POOL_WAIT_VARIABLE = "PLEDGE_POOL_WAIT_SECONDS"
DEFAULT_POOL_WAIT_SECONDS = 600.0


def prepare_instance(dagster_home: Path) -> Path:
    """Create the instance folder with a copy of ``dagster.yaml`` (kept if the user edited it)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(INSTANCE_CONFIG, config)
    return dagster_home


def run_pipeline(
    settings: Settings,
    first_day: date,
    last_day: date,
    log_level: str = "WARNING",
    on_step: Callable[[str], None] | None = None,
    pool_wait_seconds: float = DEFAULT_POOL_WAIT_SECONDS,
    say: Callable[[str], None] = step,
    on_success: Callable[[Path], object] | None = None,
    executor: str = "in_process",
    workers: int = 2,
) -> dg.ExecuteInProcessResult | dg.ExecuteJobResult:
    """Ingest days ``first_day..last_day`` and recompute everything downstream, with the asset
    checks (none blocks a step: a source that fails one holds back only the objectives reading
    it, :mod:`pipelines.ops.evidence`), on a working copy of the warehouse published when the
    run ends (whether it succeeded or not: what it wrote is what a run that stops there leaves).

    ``executor`` ``in_process`` runs it all as one run in this process; ``multiprocess`` or
    ``celery`` spread the per-day stages over ``workers`` chunks of days
    (:mod:`pipelines.ops.backfill`; Celery's broker from ``PLEDGE_CELERY_BROKER``) between a run
    of what they need and a run of the rest.

    First takes the home's run lock and waits for the warehouse (:func:`writing_warehouse`,
    telling ``say`` what it frees or waits for, at most ``pool_wait_seconds``; raises
    :class:`WarehouseBusy` after that). The console shows Dagster's messages at ``log_level`` and
    above; the full event log is in the instance either way. ``on_step`` is told
    ``"<step> done"`` as each step succeeds; ``on_success`` is called with the working copy's
    path after a successful run, before it is published (e.g. to record the run)."""
    instance = dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home)))
    run_tag = uuid.uuid4().hex
    tags = {**process_tags(), RUN_TAG: run_tag}
    with (
        writing_warehouse(instance, settings, pool_wait_seconds, say) as working,
        steps_reported(instance, run_tag, on_step),
    ):
        pledge = PledgeHome(home=str(settings.home), working=str(working))
        result = _materialize(
            instance, pledge, first_day, last_day, tags, log_level, executor, workers
        )
        if result.success and on_success is not None:
            on_success(working)
    return result


CELERY_BROKER_VARIABLE = "PLEDGE_CELERY_BROKER"
"""The Celery broker (and result backend) URL of ``--executor celery``, e.g. redis://host:6379/0."""


def _materialize(
    instance: dg.DagsterInstance,
    pledge: PledgeHome,
    first_day: date,
    last_day: date,
    tags: dict[str, str],
    log_level: str,
    executor: str,
    workers: int,
) -> dg.ExecuteInProcessResult | dg.ExecuteJobResult:
    """The runs of :func:`run_pipeline` on the working copy ``pledge`` names."""
    from pipelines.definitions import all_assets, all_checks
    from pipelines.ingest.assets import pull_prometheus
    from pipelines.ops.jobs import partition_range_tags

    loggers = {"loggers": {"console": {"config": {"log_level": log_level}}}}

    def materialize(selection: dg.AssetSelection | None = None) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*all_assets, *all_checks],
            instance=instance,
            resources={"pledge": pledge},
            run_config=loggers,
            tags={**tags, **partition_range_tags(first_day, last_day)},
            selection=selection,
            raise_on_error=False,
        )

    if executor == "in_process":
        return materialize()
    from pipelines.ops.backfill import BACKFILLED, backfill_job, backfill_run_config
    from pipelines.sla.assets import sla_objectives

    needed = dg.AssetSelection.assets(pull_prometheus, sla_objectives)
    before = materialize(needed)
    if not before.success:
        return before
    broker = os.environ.get(CELERY_BROKER_VARIABLE, "")
    if executor == "celery" and not broker:
        raise ValueError(f"--executor celery needs {CELERY_BROKER_VARIABLE} (the broker URL)")
    with dg.execute_job(
        backfill_job(executor),
        instance,
        run_config=backfill_run_config(pledge, first_day, last_day, executor, workers, broker)
        | loggers,
        tags=tags,
    ) as backfilled:
        if not backfilled.success:
            return backfilled
    backfilled_keys = dg.AssetSelection.assets(*BACKFILLED)
    rest = dg.AssetSelection.all() - needed - backfilled_keys
    return materialize(rest | dg.AssetSelection.checks_for_assets(*BACKFILLED))


@contextmanager
def writing_warehouse(
    instance: dg.DagsterInstance,
    settings: Settings,
    wait_seconds: float,
    say: Callable[[str], None] = step,
) -> Iterator[Path]:
    """Hold the home's run lock, wait for the warehouse (:func:`wait_for_warehouse` on the
    working copy) and yield a fresh working copy of it; publish the copy as the warehouse when the
    body ends without an exception (a killed or crashed run publishes nothing). The whole wait,
    lock and warehouse, is at most ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    working = warehouse.working_path(settings.warehouse_path)
    with run_lock(run_lock_path(settings.warehouse_path), wait_seconds, say):
        remaining = max(0.0, deadline - time.monotonic())
        wait_for_warehouse(instance, working, remaining, say)
        warehouse.begin_working_copy(settings.warehouse_path)
        yield working
        warehouse.publish(working, settings.warehouse_path)


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


RUN_TAG = "pledge/cli_run"
"""Tags each run started by ``run_pipeline``, so the step watcher finds it in the instance."""

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


def free_dead_runs_of(settings: Settings, say: Callable[[str], None] = step) -> None:
    """:func:`free_dead_runs` on the home's instance, if it has one: a plain run with nothing new
    starts no run, yet still marks killed runs failed and frees their pool slots."""
    if settings.dagster_home.exists():
        with dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home))) as inst:
            free_dead_runs(inst, say)


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


@contextmanager
def steps_reported(
    instance: dg.DagsterInstance, run_tag: str, on_step: Callable[[str], None] | None
) -> Iterator[None]:
    """While the body runs, tell ``on_step`` of every step success of the run tagged
    ``run_tag`` (read from the instance's event log by a background thread); the last ones are
    told when the body ends."""
    if on_step is None:
        yield
        return
    stop = threading.Event()
    told: set[str] = set()
    read: dict[str, str | None] = {"run_id": None, "cursor": None}  # the latest run, read so far

    def tell_new_steps() -> None:
        runs = instance.get_run_records(dg.RunsFilter(tags={RUN_TAG: run_tag}), limit=1)
        if not runs:
            return
        if runs[0].dagster_run.run_id != read["run_id"]:
            read["run_id"], read["cursor"] = runs[0].dagster_run.run_id, None
        new = instance.get_records_for_run(
            read["run_id"], cursor=read["cursor"], of_type=dg.DagsterEventType.STEP_SUCCESS
        )
        read["cursor"] = new.cursor
        for record in new.records:
            step_key = record.event_log_entry.step_key or ""
            if step_key not in told:
                told.add(step_key)
                on_step(f"{step_key.replace('__', '/')} done")

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            tell_new_steps()

    watcher = threading.Thread(target=watch, name="pledge-step-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        tell_new_steps()
