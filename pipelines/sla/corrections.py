"""Corrections: after-the-fact periods a contract removes from some of its objectives (a
mis-measurement, an agreed waiver), each with a reason, an author and the day it was recorded.

A correction covers ``[corrected_from, corrected_until)``, read in the contract's zone unless its
timestamps carry an offset, and applies to the objectives it lists, to every objective of the
services it lists, or to every objective of the contract when it lists neither.

- Traffic objectives (slices): a corrected evidence minute is removed from good and total like an
  excluded one, and counted in the slice's ``corrected_minutes`` (a minute both excluded and
  corrected counts as excluded only); see ``objective_slices``.
- Item objectives (outcomes): an item whose ``counted_at`` falls in a correction of its objective
  is dropped before its window is computed (``drop_corrected``).

``corrections_frame`` is the ``sla.corrections`` table: the report lists every correction applied.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.contracts.schema import Contract
from pipelines.sla.clock import local_to_utc
from pipelines.sla.objectives import KEYS, UTC_US, interval_minutes
from pipelines.sla.outcomes import OUTCOMES_SCHEMA

CORRECTIONS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "correction": pl.Int64,
    "reason": pl.String,
    "author": pl.String,
    "recorded": pl.Date,
    "corrected_from": UTC_US,
    "corrected_until": UTC_US,
}


def corrections_frame(contracts: list[Contract]) -> pl.DataFrame:
    """One row per correction and objective it applies to (the ``sla.corrections`` table).

    Output: CORRECTIONS_SCHEMA; ``correction`` is the correction's position in the contract's
    list (1-based, the key that groups the objectives of one correction); corrected_from and
    corrected_until are UTC. Sorted by contract, correction and objective.
    """
    rows = [
        {
            "contract_id": contract.id,
            "objective_id": objective.id,
            "correction": position,
            "reason": correction.reason,
            "author": correction.author,
            "recorded": correction.recorded,
            "corrected_from": local_to_utc(correction.start, contract.zone),
            "corrected_until": local_to_utc(correction.end, contract.zone),
        }
        for contract in contracts
        for position, correction in enumerate(contract.corrections, start=1)
        for objective in contract.objectives
        if (correction.objectives is None and correction.services is None)
        or objective.id in (correction.objectives or [])
        or objective.service in (correction.services or [])
    ]
    return pl.DataFrame(rows, schema=CORRECTIONS_SCHEMA).sort(
        "contract_id", "correction", "objective_id"
    )


def corrected_minutes(corrections: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The evidence minutes corrections remove from traffic objectives: every minute timestamp m
    in ``[corrected_from, corrected_until)`` and in ``[start, end)``.

    Input: ``corrections`` (corrections_frame). Output: contract_id, objective_id, minute (UTC),
    unique (the ``corrected`` input of ``objective_slices``).
    """
    return interval_minutes(corrections, KEYS, "corrected_from", "corrected_until", start, end)


def drop_corrected(
    outcomes: pl.DataFrame, corrections: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split item outcomes into those kept and those a correction of their objective removes
    (``corrected_from <= counted_at < corrected_until``).

    Inputs: ``outcomes`` (OUTCOMES_SCHEMA), ``corrections`` (corrections_frame). Output:
    ``(kept, dropped)``, both OUTCOMES_SCHEMA in the input order; every outcome is in exactly one
    of them, also when several corrections cover it.
    """
    counted_at = pl.col("counted_at")
    covered = (
        outcomes.lazy()
        .with_row_index("row")
        .join(corrections.lazy().select(*KEYS, "corrected_from", "corrected_until"), on=KEYS)
        .filter(counted_at >= pl.col("corrected_from"), counted_at < pl.col("corrected_until"))
        .select("row")
        .unique()
        .collect()
    )
    indexed = outcomes.with_row_index("row")
    is_covered = pl.col("row").is_in(covered["row"].implode())
    columns = list(OUTCOMES_SCHEMA)
    return (
        indexed.filter(~is_covered).select(columns),
        indexed.filter(is_covered).select(columns),
    )
