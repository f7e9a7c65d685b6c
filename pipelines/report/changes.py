"""What changed since the last report: a small snapshot of every objective written beside the
reports, and the differences between the previous snapshot and the current one. Pure functions;
render.py reads and writes the file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from pipelines.sla.credits import owed_credits

OBJECTIVE_KEY = ["contract_id", "objective_id"]

SNAPSHOT_FILE = ".snapshot.json"
RISK_CHANGE = 0.10
"""A breach probability that moved by more than this (10 points) within the same window is
reported as risk up or down."""
CREDIT_CHANGE = 0.005
"""Credits that grew by more than this amount (half a cent) are reported as new credits."""

SNAPSHOT_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "title": pl.String,
    "window_label": pl.String,
    "status": pl.String,
    "attainment": pl.Float64,
    "p_breach": pl.Float64,
    "budget_remaining": pl.Float64,
    "breached_windows": pl.Int64,
    "credits": pl.Float64,
    "currency": pl.String,
}

CHANGES_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "title": pl.String,
    "change": pl.String,
    "status_before": pl.String,
    "status_after": pl.String,
    "p_breach_before": pl.Float64,
    "p_breach_after": pl.Float64,
    "credits_before": pl.Float64,
    "credits_after": pl.Float64,
    "currency": pl.String,
}

CHANGE_KINDS = (
    "new_breach",
    "status",
    "risk_up",
    "risk_down",
    "new_credit",
    "new_objective",
    "removed_objective",
)
"""The kinds of change, in the order a page lists them for one objective."""


def snapshot_rows(summary: pl.DataFrame, credits: pl.DataFrame) -> pl.DataFrame:
    """One snapshot row per objective: SNAPSHOT_SCHEMA.

    Inputs: the objective summary (summary.objective_summary: contract_id, objective_id, title,
    window_label, status, attainment, measured, p_breach, budget_remaining, breached_windows,
    currency) and ``sla.credits`` rows (contract_id, objective_id, credit_amount). ``attainment``
    is the current window's attainment, or its measured statistic for item-judged objectives;
    ``credits`` the credits owed over the complete windows of the objective (``owed_credits``).
    """
    owed = (
        owed_credits(credits)
        .group_by(OBJECTIVE_KEY)
        .agg(pl.col("credit_amount").sum().alias("credits"))
    )
    return (
        summary.join(owed, on=OBJECTIVE_KEY, how="left")
        .select(
            *OBJECTIVE_KEY,
            pl.coalesce("title", "objective_id").alias("title"),
            "window_label",
            "status",
            pl.coalesce("attainment", "measured").alias("attainment"),
            "p_breach",
            "budget_remaining",
            "breached_windows",
            pl.col("credits").fill_null(0.0),
            "currency",
        )
        .cast(SNAPSHOT_SCHEMA)  # type: ignore[arg-type]
        .sort(OBJECTIVE_KEY)
    )


def snapshot_document(
    rows: pl.DataFrame, generated_at: datetime, as_of: datetime | None
) -> dict[str, Any]:
    """The snapshot as a JSON-ready document: generated_at and as_of (ISO 8601, UTC) and one
    object per row of ``rows`` (SNAPSHOT_SCHEMA)."""
    return {
        "generated_at": generated_at.isoformat(),
        "as_of": as_of.isoformat() if as_of is not None else None,
        "objectives": rows.select(list(SNAPSHOT_SCHEMA)).to_dicts(),
    }


def read_snapshot(document: Any) -> tuple[pl.DataFrame, datetime]:
    """The rows (SNAPSHOT_SCHEMA) and generated_at of a snapshot document; ValueError saying what
    is wrong when it is not one."""
    if not isinstance(document, dict):
        raise ValueError("the snapshot is not a JSON object")
    try:
        generated_at = datetime.fromisoformat(document["generated_at"])
        objectives = document["objectives"]
        if not isinstance(objectives, list):
            raise TypeError("objectives is not a list")
        rows = pl.DataFrame(
            [{name: row.get(name) for name in SNAPSHOT_SCHEMA} for row in objectives],
            schema=SNAPSHOT_SCHEMA,
        )
    except (KeyError, TypeError, ValueError, AttributeError, pl.exceptions.PolarsError) as error:
        raise ValueError(f"the snapshot is malformed: {error!r}") from error
    return rows, generated_at


def changes_since(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The differences between two snapshots (SNAPSHOT_SCHEMA rows), one row per objective and
    kind of change (CHANGES_SCHEMA), sorted by contract, objective and CHANGE_KINDS:

    - ``new_breach``: the current window became ``breaching``, or one more complete window
      breached;
    - ``status``: any other change of the current window's status;
    - ``risk_up`` / ``risk_down``: the breach probability of the same window moved by more than
      :data:`RISK_CHANGE`;
    - ``new_credit``: the credits owed grew;
    - ``new_objective`` / ``removed_objective``: in only one of the snapshots.
    """
    joined = before.join(after, on=OBJECTIVE_KEY, how="full", suffix="_after", coalesce=True)
    status_before, status_after = pl.col("status"), pl.col("status_after")
    became_breaching = (status_after == "breaching") & (status_before != "breaching")
    risk_moved = pl.col("p_breach_after") - pl.col("p_breach")
    same_window = pl.col("window_label") == pl.col("window_label_after")
    present = pl.col("status").is_not_null() & status_after.is_not_null()
    kinds = {
        "new_breach": present
        & (became_breaching | (pl.col("breached_windows_after") > pl.col("breached_windows"))),
        "status": present & (status_before != status_after) & ~became_breaching,
        "risk_up": present & same_window & (risk_moved > RISK_CHANGE),
        "risk_down": present & same_window & (risk_moved < -RISK_CHANGE),
        "new_credit": present & (pl.col("credits_after") - pl.col("credits") > CREDIT_CHANGE),
        "new_objective": status_before.is_null(),
        "removed_objective": status_after.is_null(),
    }
    return (
        joined.with_columns(
            pl.concat_list(
                pl.when(condition.fill_null(False)).then(pl.lit(kind))
                for kind, condition in kinds.items()
            )
            .list.drop_nulls()
            .alias("change")
        )
        .explode("change")
        .filter(pl.col("change").is_not_null())
        .select(
            *OBJECTIVE_KEY,
            pl.coalesce("title_after", "title").alias("title"),
            "change",
            status_before.alias("status_before"),
            status_after,
            pl.col("p_breach").alias("p_breach_before"),
            "p_breach_after",
            pl.col("credits").alias("credits_before"),
            "credits_after",
            pl.coalesce("currency_after", "currency").alias("currency"),
        )
        .with_columns(
            pl.col("change")
            .replace_strict(CHANGE_KINDS, list(range(len(CHANGE_KINDS))))
            .alias("order")
        )
        .sort([*OBJECTIVE_KEY, "order"])
        .drop("order")
        .cast(CHANGES_SCHEMA)  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class PreviousReport:
    """What the previous report's snapshot said: when it was generated (None: no readable
    snapshot), why it could not be read (None when it could or when there was none), and the
    changes since (CHANGES_SCHEMA rows; empty for the first report)."""

    generated_at: datetime | None
    problem: str | None
    changes: pl.DataFrame
