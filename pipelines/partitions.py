"""Daily partitions shared by the raw and slice assets (UTC days)."""

from __future__ import annotations

import os
import warnings

import dagster as dg

from pipelines.settings import DEFAULT_PARTITION_START, PARTITION_START_VARIABLE

# Single-run backfills are what DESIGN §8 asks for; Dagster still labels the parameter beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

PARTITION_START = (
    os.environ.get(PARTITION_START_VARIABLE) or DEFAULT_PARTITION_START.isoformat()
).strip()
"""The first day (YYYY-MM-DD) of the daily partitions: PLEDGE_PARTITION_START, read once at import
(``pledge run`` sets it to its first day, before importing this, when unset and that day is
earlier than the default)."""

daily = dg.DailyPartitionsDefinition(start_date=PARTITION_START, end_offset=1)
"""One partition per UTC day, up to and including today (evidence of the current day lands too)."""

single_run = dg.BackfillPolicy.single_run()
"""A backfill of many days runs as one run; assets loop over ``context.partition_keys``."""
