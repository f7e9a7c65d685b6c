"""Materialise the whole graph in-process on a Pledge home, recorded in its Dagster instance.

Runs started here show up in ``make dev`` because both use ``<home>/dagster`` as DAGSTER_HOME.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")
"""The instance settings every Pledge home starts from (the warehouse pool's limit of 1)."""


def prepare_instance(dagster_home: Path) -> Path:
    """Create the instance folder with a copy of ``dagster.yaml`` (kept if the user edited it)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(INSTANCE_CONFIG, config)
    return dagster_home


def landing_file_days(settings: Settings) -> dict[Path, date]:
    """Every landing file of a declared source whose name holds a date, and that UTC day."""
    from pipelines.ingest.parse import landing_files, partition_day
    from pipelines.spec.sources import load_sources

    days: dict[Path, date] = {}
    for source in load_sources(settings.sources_file).values():
        for path in landing_files(settings.landing_dir, source):
            day = partition_day(path.name, source.date_pattern)
            if day is not None:
                days[path] = day
    return days


def landing_days(settings: Settings) -> list[date]:
    """Every UTC day named by a landing file of a declared source (sorted)."""
    return sorted(set(landing_file_days(settings).values()))


def run_pipeline(
    settings: Settings,
    first_day: date,
    last_day: date,
    log_level: str = "WARNING",
    on_step: Callable[[str], None] | None = None,
) -> dg.ExecuteInProcessResult:
    """Ingest days ``first_day..last_day`` and recompute everything downstream, in one run, with
    the asset checks (a failed blocking check stops what is downstream; the result is then not
    ``success``).

    The console shows Dagster's messages at ``log_level`` and above; the full event log is in the
    instance either way. ``on_step`` is told ``"<step> done"`` as each step succeeds."""
    from pipelines.definitions import all_assets, all_checks
    from pipelines.ops.jobs import partition_range_tags
    from pipelines.resources import PledgeHome

    instance = dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home)))
    tags = {**partition_range_tags(first_day, last_day), RUN_TAG: uuid.uuid4().hex}
    with steps_reported(instance, tags[RUN_TAG], on_step):
        return dg.materialize(
            [*all_assets, *all_checks],
            instance=instance,
            resources={"pledge": PledgeHome(home=str(settings.home))},
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags=tags,
            raise_on_error=False,
        )


RUN_TAG = "pledge/cli_run"
"""Tags each run started by ``run_pipeline``, so the step watcher finds it in the instance."""

POLL_SECONDS = 0.5


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

    def tell_new_steps() -> None:
        runs = instance.get_run_records(dg.RunsFilter(tags={RUN_TAG: run_tag}), limit=1)
        if not runs:
            return
        run_id = runs[0].dagster_run.run_id
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            if entry.step_key not in told:
                told.add(entry.step_key)
                on_step(f"{entry.step_key.replace('__', '/')} done")

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
