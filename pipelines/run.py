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

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.progress import step
from pipelines.resources import PledgeHome
from pipelines.settings import Settings
from pipelines.writing import (
    DEFAULT_POOL_WAIT_SECONDS,
    POLL_SECONDS,
    free_dead_runs,
    process_tags,
    writing_warehouse,
)

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
"""The instance settings every Pledge home starts from (the warehouse pool's limit of 1)."""


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
    run_tag = uuid.uuid4().hex
    tags = {**process_tags(), RUN_TAG: run_tag}
    with (
        dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home))) as instance,
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
    from pipelines.ops.jobs import BLOCKED_SOURCES
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
    backfilled_keys = dg.AssetSelection.assets(*BACKFILLED, BLOCKED_SOURCES)
    rest = dg.AssetSelection.all() - needed - backfilled_keys
    return materialize(rest | dg.AssetSelection.checks_for_assets(*BACKFILLED))


RUN_TAG = "pledge/cli_run"
"""Tags each run started by ``run_pipeline``, so the step watcher finds it in the instance."""


def free_dead_runs_of(settings: Settings, say: Callable[[str], None] = step) -> None:
    """:func:`free_dead_runs` on the home's instance, if it has one: a plain run with nothing new
    starts no run, yet still marks killed runs failed and frees their pool slots."""
    if settings.dagster_home.exists():
        with dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home))) as inst:
            free_dead_runs(inst, say)


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
