"""The final window of each simulated path of an item-judged objective (see ``items``): the
items so far plus the path's items to come, aggregated by the SLA engine's own
``outcome_windows`` at the window's end, and when the path's error budget runs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from pipelines.predict.forecast import SeriesForecast
from pipelines.sla.objectives import KEYS
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, outcome_windows

SIMULATED_SCHEMA = {**OUTCOMES_SCHEMA, "simulation": pl.Int64}
"""A simulated item: an outcome row plus its path number."""
_PATH_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class ItemForecast:
    """One current window's simulation over ``paths`` paths: ``arrivals`` the daily item-count
    forecast (None for RPO and without history) over ``step_starts`` (epoch seconds of UTC days)
    with ``weights``; ``outcome_model`` how each item's outcome is drawn; ``items`` the simulated
    items to come (OUTCOMES_SCHEMA plus ``simulation``, the path number 0 … paths − 1; RPO: the
    open span and those after it)."""

    contract_id: str
    objective_id: str
    window_label: str
    paths: int
    step_starts: np.ndarray
    weights: np.ndarray
    arrivals: SeriesForecast | None
    outcome_model: str
    items: pl.DataFrame


FINAL_WINDOWS_SCHEMA = {
    **dict.fromkeys(KEYS, pl.String),
    "window_label": pl.String,
    "simulation": pl.Int64,
    "measured": pl.Float64,
    "status": pl.String,
    "exhaustion_at": pl.Float64,
}
"""One row per window and path: the final ``measured`` and ``status`` as sla.windows will have
them at the window's end, and ``exhaustion_at`` (epoch seconds; +inf when the path never gets
there, null where the concept does not apply)."""


def final_windows(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    forecasts: list[ItemForecast],
    as_of: datetime,
) -> pl.DataFrame:
    """Each path's final window: the items so far plus the path's items to come, aggregated by
    ``outcome_windows`` at the window's end (each path is a copy of the objective whose effective
    period is cut to the window's last hour, so only that window is listed).

    Inputs: as for ``forecast_items`` (``current`` also with window_start, good, total, target),
    and its ``forecasts``. Output: FINAL_WINDOWS_SCHEMA.
    """
    as_of = as_of.astimezone(UTC)
    windows = current.select(*KEYS, "window_label", "window_start", "window_end", "good", "total")
    specs = objectives.join(windows, on=KEYS).with_columns(
        effective_start=pl.col("window_end") - timedelta(hours=1),
        effective_end=pl.col("window_end"),
    )
    simulated = pl.concat([forecast.items for forecast in forecasts])
    paths = pl.concat(
        pl.DataFrame(
            {
                "contract_id": forecast.contract_id,
                "objective_id": forecast.objective_id,
                "simulation": np.arange(forecast.paths, dtype=np.int64),
            }
        )
        for forecast in forecasts
    )
    spans = pl.col("measure").fill_null("") == "rpo"
    open_span = pl.col("counted_at") == pl.col("counted_at").max().over(KEYS)
    so_far = (
        outcomes.filter(pl.col("counted_at") <= as_of)
        .join(specs.select(*KEYS, "measure", "window_start"), on=KEYS)
        .filter(
            pl.when(spans)
            .then(
                ~open_span
                & (pl.col("counted_at") + pl.duration(seconds="value") > pl.col("window_start"))
            )
            .otherwise(pl.col("counted_at") >= pl.col("window_start"))
        )
        .select(OUTCOMES_SCHEMA.names())
        .join(paths, on=KEYS)
    )
    items = pl.concat([so_far, simulated]).with_columns(
        objective_id=_path_id(pl.col("objective_id"))
    )
    frames = []
    for (window_end,), group in specs.group_by("window_end"):
        path_objectives = group.join(paths, on=KEYS).with_columns(
            objective_id=_path_id(pl.col("objective_id"))
        )
        figures = outcome_windows(
            path_objectives.select(objectives.columns),
            items.join(path_objectives.select(KEYS), on=KEYS),
            window_end,  # type: ignore[arg-type]
        )
        frames.append(figures.select(*KEYS, "window_label", "measured", "status"))
    finals = (
        pl.concat(frames)
        .with_columns(
            pl.col("objective_id")
            .str.split_exact(_PATH_SEPARATOR, 1)
            .struct.rename_fields(["objective_id", "simulation"])
            .struct.unnest()
        )
        .with_columns(pl.col("simulation").cast(pl.Int64))
        .join(windows.select(*KEYS, "window_label"), on=[*KEYS, "window_label"])
    )
    return (
        finals.join(
            _exhaustion(specs, simulated, so_far, paths, as_of),
            on=[*KEYS, "simulation"],
            how="left",
        )
        .select(list(FINAL_WINDOWS_SCHEMA))
        .cast(FINAL_WINDOWS_SCHEMA)  # type: ignore[arg-type]
    )


def _path_id(objective_id: pl.Expr) -> pl.Expr:
    return pl.concat_str(objective_id, pl.lit(_PATH_SEPARATOR), pl.col("simulation"))


def _exhaustion(
    specs: pl.DataFrame,
    simulated: pl.DataFrame,
    so_far: pl.DataFrame,
    paths: pl.DataFrame,
    as_of: datetime,
) -> pl.DataFrame:
    """KEYS, simulation, exhaustion_at (module docstring) of share and RPO objectives, from the
    windows' ``specs`` (objectives with target, judged_on, measure, window_end, good, total),
    the ``simulated`` items to come, the items ``so_far`` of every path and the ``paths``
    (KEYS, simulation)."""
    moment = as_of.timestamp()
    seconds = pl.col("counted_at").dt.epoch("us") / 1e6
    shares = specs.filter(pl.col("judged_on") == "share")
    future = simulated.join(shares.select(KEYS), on=KEYS)
    budgets = (
        shares.select(*KEYS, "target", "good", "total")
        .join(paths, on=KEYS)
        .join(
            future.group_by(*KEYS, "simulation").agg(to_come=pl.len()),
            on=[*KEYS, "simulation"],
            how="left",
        )
        .select(
            *KEYS,
            "simulation",
            bad_so_far=pl.col("total") - pl.col("good"),
            budget=(1 - pl.col("target")) * (pl.col("total") + pl.col("to_come").fill_null(0)),
        )
    )
    crossings = (
        future.sort("counted_at")
        .with_columns(bad=(~pl.col("good")).cast(pl.Float64).cum_sum().over([*KEYS, "simulation"]))
        .join(budgets, on=[*KEYS, "simulation"])
        .filter(pl.col("bad_so_far") + pl.col("bad") > pl.col("budget"))
        .group_by(*KEYS, "simulation")
        .agg(crossing=seconds.min())
    )
    share_exhaustion = budgets.join(crossings, on=[*KEYS, "simulation"], how="left").select(
        *KEYS,
        "simulation",
        exhaustion_at=pl.when(pl.col("bad_so_far") > pl.col("budget"))
        .then(moment)
        .otherwise(pl.col("crossing").fill_null(float("inf"))),
    )
    rpo = specs.filter(pl.col("measure") == "rpo")
    passes = seconds + pl.col("target")
    rpo_exhaustion = (
        pl.concat([so_far, simulated])
        .join(rpo.select(*KEYS, "target", "window_end"), on=KEYS)
        .filter(
            pl.col("value") > pl.col("target"),
            passes < pl.col("window_end").dt.epoch("us") / 1e6,
        )
        .group_by(*KEYS, "simulation")
        .agg(crossing=pl.max_horizontal(passes, pl.lit(moment)).min())
    )
    rpo_exhaustion = (
        paths.join(rpo.select(KEYS), on=KEYS)
        .join(rpo_exhaustion, on=[*KEYS, "simulation"], how="left")
        .select(*KEYS, "simulation", exhaustion_at=pl.col("crossing").fill_null(float("inf")))
    )
    return pl.concat([share_exhaustion, rpo_exhaustion]).cast(
        {"exhaustion_at": pl.Float64, "simulation": pl.Int64}
    )
