"""Daily partitions shared by the raw and slice assets (UTC days)."""

from __future__ import annotations

import os
import warnings

import dagster as dg

# Single-run backfills are what DESIGN §8 asks for; Dagster still labels the parameter beta.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

PARTITION_START = os.environ.get("PLEDGE_PARTITION_START", "2025-01-01")

daily = dg.DailyPartitionsDefinition(start_date=PARTITION_START, end_offset=1)
"""One partition per UTC day, up to and including today (evidence of the current day lands too)."""

single_run = dg.BackfillPolicy.single_run()
"""A backfill of many days runs as one run; assets loop over ``context.partition_keys``."""
