"""Materialise the whole graph in-process on a Pledge home, recorded in its Dagster instance.

Runs started here show up in ``make dev`` because both use ``<home>/dagster`` as DAGSTER_HOME.
"""

from __future__ import annotations

import shutil
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
    settings: Settings, first_day: date, last_day: date, log_level: str = "WARNING"
) -> dg.ExecuteInProcessResult:
    """Ingest days ``first_day..last_day`` and recompute everything downstream, in one run, with
    the asset checks (a failed blocking check stops what is downstream; the result is then not
    ``success``).

    The console shows Dagster's messages at ``log_level`` and above; the full event log is in the
    instance either way."""
    from pipelines.definitions import all_assets, all_checks
    from pipelines.ops.jobs import partition_range_tags
    from pipelines.resources import PledgeHome

    instance = dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home)))
    return dg.materialize(
        [*all_assets, *all_checks],
        instance=instance,
        resources={"pledge": PledgeHome(home=str(settings.home))},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags=partition_range_tags(first_day, last_day),
        raise_on_error=False,
    )
