"""Materialise the whole graph in-process on a Pledge home, recorded in its Dagster instance.

Runs started here show up in ``make dev`` because both use ``<home>/dagster`` as DAGSTER_HOME.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

INSTANCE_CONFIG = """\
# Pledge's Dagster instance. Every asset that writes the DuckDB warehouse is in the pool
# "warehouse": DuckDB allows one writer process, so the pool's limit is 1.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def prepare_instance(dagster_home: Path) -> Path:
    """Create the instance folder with its ``dagster.yaml`` (kept if the user edited one)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return dagster_home


def landing_days(settings: Settings) -> list[date]:
    """Every UTC day named by a landing file of a declared source (sorted)."""
    from pipelines.spec.sources import load_sources

    days: set[date] = set()
    for source in load_sources(settings.sources_file).values():
        pattern = re.compile(source.date_pattern)
        for path in settings.landing_dir.glob(source.path):
            match = pattern.search(path.name)
            if match:
                try:
                    days.add(date.fromisoformat(match.group(1)))
                except ValueError:
                    continue
    return sorted(days)


def run_pipeline(
    settings: Settings, first_day: date, last_day: date, log_level: str = "WARNING"
) -> dg.ExecuteInProcessResult:
    """Ingest days ``first_day..last_day`` and recompute everything downstream, in one run.

    The console shows Dagster's messages at ``log_level`` and above; the full event log is in the
    instance either way."""
    from pipelines.definitions import all_assets
    from pipelines.resources import PledgeHome

    instance = dg.DagsterInstance.from_config(str(prepare_instance(settings.dagster_home)))
    return dg.materialize(
        all_assets,
        instance=instance,
        resources={"pledge": PledgeHome(home=str(settings.home))},
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={
            "dagster/asset_partition_range_start": first_day.isoformat(),
            "dagster/asset_partition_range_end": last_day.isoformat(),
        },
    )
