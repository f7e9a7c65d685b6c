"""The routine's jobs, and the run request of a range of daily partitions in one run."""

from __future__ import annotations

from datetime import date

import dagster as dg

MONTHLY_SUMMARY = dg.AssetKey(["report", "monthly_summary"])
"""The monthly compliance summary, run on the first of the month in each contract zone."""

BLOCKED_SOURCES = dg.AssetKey(["ops", "blocked_sources"])
"""The evidence judged once a run, between the raw assets and the SLA stage (group ``ops``;
``pipelines.ops.checks``)."""

PARTITION_RANGE_START = "dagster/asset_partition_range_start"
PARTITION_RANGE_END = "dagster/asset_partition_range_end"

ingest_and_windows = dg.define_asset_job(
    "ingest_and_windows",
    selection=dg.AssetSelection.groups("ingest", "ops", "sla"),
    description="Ingest the landing files of the requested days; recompute slices and windows.",
)

predict_and_report = dg.define_asset_job(
    "predict_and_report",
    selection=dg.AssetSelection.groups("predict", "report")
    - dg.AssetSelection.assets(MONTHLY_SUMMARY),
    description="Forecast breach risk, detect anomalies and publish the HTML reports.",
)

monthly_summary = dg.define_asset_job(
    "monthly_summary",
    selection=dg.AssetSelection.assets(MONTHLY_SUMMARY),
    description="The monthly compliance summary per contract (HTML and CSV).",
)


def partition_range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the days ``first..last`` (a single-run backfill)."""
    return {PARTITION_RANGE_START: first.isoformat(), PARTITION_RANGE_END: last.isoformat()}


def days_run_request(first: date, last: date, run_key: str | None = None) -> dg.RunRequest:
    """A run of the daily-partitioned assets over ``first..last``: one partition key for one day,
    the range tags for several."""
    if first == last:
        return dg.RunRequest(run_key=run_key, partition_key=first.isoformat())
    return dg.RunRequest(run_key=run_key, tags=partition_range_tags(first, last))
