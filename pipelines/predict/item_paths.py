"""The final window of each simulated path of an item-judged objective (see ``items``): the
items so far plus the path's items to come, placed and aggregated by the SLA engine's own
functions (those of ``outcome_windows``) at the window's end, every path of every window in one
group_by over integer keys, and when the path's error budget runs out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from pipelines.predict.models import SeriesForecast
from pipelines.sla.objectives import KEYS
from pipelines.sla.outcomes import (
    OUTCOMES_SCHEMA,
    place_items,
    window_figures,
    window_statistics,
)

SIMULATED_SCHEMA = {**OUTCOMES_SCHEMA, "simulation": pl.Int64}
"""A simulated item: an outcome row plus its path number."""


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
_PATH = ("window_index", "simulation")
"""A simulated path's window in ``final_windows``: the window's number and the path's."""
_ITEM_COLUMNS = ("counted_at", "value", "good")
"""What ``final_windows`` takes of an item."""


def final_windows(
    objectives: pl.DataFrame,
    current: pl.DataFrame,
    outcomes: pl.DataFrame,
    forecasts: list[ItemForecast],
    as_of: datetime,
) -> pl.DataFrame:
    """Each path's final window: the items so far plus the path's items to come, placed and
    aggregated as ``outcome_windows`` does at the window's end (``place_items``,
    ``window_statistics`` and ``window_figures``, with a window per path).

    Inputs: as for ``forecast_items`` (``current`` also with window_start, good, total, target),
    and its ``forecasts``. Output: FINAL_WINDOWS_SCHEMA.
    """
    as_of = as_of.astimezone(UTC)
    windows = current.select(*KEYS, "window_label", "window_start", "window_end", "good", "total")
    # each window gets a number: the paths' items are grouped by integers (_PATH)
    specs = objectives.join(windows, on=KEYS).with_row_index("window_index")
    numbers = {
        (contract_id, objective_id, label): number
        for number, contract_id, objective_id, label in specs.select(
            "window_index", *KEYS, "window_label"
        ).iter_rows()
    }
    number_of = [
        pl.lit(
            numbers[(forecast.contract_id, forecast.objective_id, forecast.window_label)],
            pl.UInt32,
        ).alias("window_index")
        for forecast in forecasts
    ]
    path_windows = specs.select(
        "window_index", *KEYS, "window_label", "window_start", "window_end"
    ).join(
        pl.concat(
            pl.DataFrame(
                {
                    "simulation": np.arange(forecast.paths, dtype=np.int64),
                    "simulated_items": np.bincount(
                        forecast.items["simulation"].to_numpy(), minlength=forecast.paths
                    ),
                }
            ).select(number, pl.all())
            for number, forecast in zip(number_of, forecasts, strict=True)
        ),
        on="window_index",
    )
    spans = pl.col("measure").fill_null("") == "rpo"
    open_span = pl.col("counted_at") == pl.col("counted_at").max().over(KEYS)
    so_far = (
        outcomes.filter(pl.col("counted_at") <= as_of)
        .join(specs.select(*KEYS, "window_index", "measure", "window_start"), on=KEYS)
        .filter(
            pl.when(spans)
            .then(
                ~open_span
                & (pl.col("counted_at") + pl.duration(seconds="value") > pl.col("window_start"))
            )
            .otherwise(pl.col("counted_at") >= pl.col("window_start"))
        )
        .select("window_index", *_ITEM_COLUMNS)
        .join(path_windows.select(_PATH), on="window_index")
    )
    items = pl.concat(
        [
            so_far.lazy().with_columns(to_come=pl.lit(False)),
            *(
                forecast.items.lazy().select(
                    number, *_ITEM_COLUMNS, "simulation", to_come=pl.lit(True)
                )
                for number, forecast in zip(number_of, forecasts, strict=True)
            ),
        ]
    ).join(
        specs.lazy().select(
            "window_index", "window_start", "window_end", "measure", "statistic", "confidence"
        ),
        on="window_index",
    )
    items = items.collect(engine="in-memory").lazy()  # used twice: computed once
    statistics = window_statistics(
        place_items(items), ["window_index", "simulation"], specs["statistic"]
    ).join(path_windows.select("window_index", "simulation", *KEYS, "window_label"), on=_PATH)
    finals = window_figures(
        objectives,
        path_windows,
        statistics,
        windows["window_end"].max(),  # type: ignore[arg-type]
        by=_PATH,
    )
    return (
        finals.lazy()
        .join(_exhaustion(specs, path_windows, items, as_of), on=_PATH, how="left")
        .select(list(FINAL_WINDOWS_SCHEMA))
        .cast(FINAL_WINDOWS_SCHEMA)  # type: ignore[arg-type]
        .collect(engine="in-memory")
    )


def _exhaustion(
    specs: pl.DataFrame, path_windows: pl.DataFrame, items: pl.LazyFrame, as_of: datetime
) -> pl.LazyFrame:
    """window_index, simulation, exhaustion_at (module docstring) of the paths of share and RPO
    windows, from the ``specs`` (numbered windows: window_index, objectives' target, judged_on,
    measure, good and total so far), the ``path_windows`` (window_index, simulation,
    simulated_items: how many the path has) and the ``items`` of every path (window_index,
    simulation, counted_at, value, good, window_end; to_come: a simulated item)."""
    moment = as_of.timestamp()
    seconds = pl.col("counted_at").dt.epoch("us") / 1e6
    shares = (
        specs.lazy()
        .filter(pl.col("judged_on") == "share")
        .select("window_index", "target", "good", "total")
    )
    budgets = shares.join(
        path_windows.lazy().select(*_PATH, "simulated_items"), on="window_index"
    ).select(
        *_PATH,
        bad_so_far=pl.col("total") - pl.col("good"),
        budget=(1 - pl.col("target")) * (pl.col("total") + pl.col("simulated_items")),
    )
    # the budget runs out at a bad item: its rank among the path's bad items to come (ties in
    # time share the instant, whatever their order)
    crossings = (
        items.filter(pl.col("to_come"), ~pl.col("good"))
        .join(shares.select("window_index"), on="window_index")
        .with_columns(bad=pl.col("counted_at").rank("ordinal").over(_PATH))
        .join(budgets, on=_PATH)
        .filter(pl.col("bad_so_far") + pl.col("bad") > pl.col("budget"))
        .group_by(_PATH)
        .agg(crossing=seconds.min())
    )
    share_exhaustion = budgets.join(crossings, on=_PATH, how="left").select(
        *_PATH,
        exhaustion_at=pl.when(pl.col("bad_so_far") > pl.col("budget"))
        .then(moment)
        .otherwise(pl.col("crossing").fill_null(float("inf"))),
    )
    rpo = specs.lazy().filter(pl.col("measure") == "rpo").select("window_index", "target")
    passes = seconds + pl.col("target")
    rpo_crossings = (
        items.join(rpo, on="window_index")
        .filter(
            pl.col("value") > pl.col("target"),
            passes < pl.col("window_end").dt.epoch("us") / 1e6,
        )
        .group_by(_PATH)
        .agg(crossing=pl.max_horizontal(passes, pl.lit(moment)).min())
    )
    rpo_exhaustion = (
        path_windows.lazy()
        .join(rpo, on="window_index")
        .join(rpo_crossings, on=_PATH, how="left")
        .select(*_PATH, exhaustion_at=pl.col("crossing").fill_null(float("inf")))
    )
    return pl.concat([share_exhaustion, rpo_exhaustion]).cast(
        {"exhaustion_at": pl.Float64, "simulation": pl.Int64}
    )
