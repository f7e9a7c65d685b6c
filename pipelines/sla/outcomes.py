"""Outcomes: one row per counted item (ticket, security incident, restore test, survey response,
latency sample) of an objective judged on discrete items, and their compliance windows.

OUTCOMES_SCHEMA is the interface between each kind's pure function (raw rows → outcomes) and the
windows (outcomes → sla.windows rows). Windows have the same boundaries and labels as traffic
objectives (``windows.window_bounds``): every window from the one holding the objective's first
outcome (or as_of, with none yet) to the current one, within the contract's effective period.
An item belongs to the window holding its ``counted_at`` (each overlapping window for rolling
windows). RPO outcomes are exposure spans instead (see ``backups``): a span starting at
``counted_at`` and lasting ``value`` seconds belongs to every window it overlaps, with the value
it reaches there: ``min(span end, window end) − counted_at``.

Per window, ``total`` = items (spans for RPO) and by ``statistic``:

- share_within: good = items with good true, attainment = good/total, ``measured`` = attainment
  (unit ``ratio``), error budget as for traffic: (1 − target) × total; at least ``target``.
- mean, median, max, pNN of ``value``: ``measured`` in seconds, at most ``target``; good,
  attainment and budgets null. See PERCENTILE_METHOD.
- csat: as share_within, with a Wilson interval; nps: ``measured`` in points, with an interval
  (``surveys``); both at least ``target``, judged on the point estimate or the interval's lower
  bound (``judge``), and ``insufficient_data`` below ``min_responses``.

Status: ``no_data`` with no item; complete windows ``met``/``breached``; the current window
``breaching`` when what is measured so far misses the target, else ``on_track``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import polars as pl

from pipelines.contracts.sli import statistic_percentile
from pipelines.sla.intervals import nps_interval, wilson_interval, z_scores
from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.sla.windows import WINDOWS_SCHEMA, window_bounds

UTC_TIME = pl.Datetime("us", "UTC")

OUTCOMES_SCHEMA = pl.Schema(
    {
        "contract_id": pl.String,
        "objective_id": pl.String,
        "item_id": pl.String,
        "counted_at": UTC_TIME,
        "value": pl.Float64,
        "good": pl.Boolean,
        "detail": pl.String,
    }
)
"""contract_id, objective_id; item_id (ticket number, incident id, test id, response id, ...);
counted_at: the instant that places the item in a window; value: seconds, score, NPS category
(+1/0/−1) or latency in seconds; good: within its target for share_within objectives, else null;
detail: short human text for reports."""

TICKET_FLAGS_SCHEMA = pl.Schema(
    {
        "contract_id": pl.String,
        "objective_id": pl.String,
        "counted_at": UTC_TIME,
        "unmatched": pl.Boolean,
        "incomplete": pl.Boolean,
    }
)
"""One row per unmatched or incomplete ticket timer placed in the windows (``tickets``):
counted_at, the instant that places it; unmatched (a priority the objective has no target for,
not counted), incomplete (an update of the ticket was rejected at load)."""

OUTCOME_WINDOWS_SCHEMA = {
    **WINDOWS_SCHEMA,
    "interval_low": pl.Float64,
    "interval_high": pl.Float64,
    "unmatched": pl.Int64,
    "incomplete": pl.Int64,
}
"""WINDOWS_SCHEMA plus the confidence interval of ``measured`` (surveys; null otherwise) and, for
ticket timer objectives (null otherwise), the tickets placed in the window that are unmatched
(not counted: a priority the objective has no target for) and incomplete (a rejected update)."""

TIMER_KINDS = ("resolution_time", "response_time")
"""The SLI kinds judged on ticket timers."""

PERCENTILE_METHOD = (
    "window percentiles pNN of item values by linear interpolation between closest ranks "
    "(numpy's default): rank h = (n − 1) × NN/100, value = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]); "
    "median = p50; exact from the samples"
)

_STATISTICS = ("total", "good", "statistic_value", "interval_low", "interval_high")
WINDOW_STATS_SCHEMA = {
    **dict.fromkeys(KEYS, pl.String),
    "window_label": pl.String,
    **dict.fromkeys(_STATISTICS, pl.Float64),
}


def outcome_windows(
    objectives: pl.DataFrame,
    outcomes: pl.DataFrame,
    as_of: datetime,
    ticket_flags: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Windows up to ``as_of`` of objectives judged on items.

    Inputs: ``objectives`` (objectives_frame rows of the item-judged objectives: every row gets
    its windows), ``outcomes`` (OUTCOMES_SCHEMA, any number of objectives), ``ticket_flags``
    (TICKET_FLAGS_SCHEMA, from ``tickets.ticket_flags``; none given: no flagged ticket; the
    windows start at the first outcome or flagged ticket). Output: OUTCOME_WINDOWS_SCHEMA,
    sorted by objective and window_start.
    """
    as_of = as_of.astimezone(UTC)
    if ticket_flags is None:
        ticket_flags = pl.DataFrame(schema=TICKET_FLAGS_SCHEMA)
    first_items = (
        pl.concat([frame.select(*KEYS, "counted_at") for frame in (outcomes, ticket_flags)])
        .group_by(KEYS)
        .agg(first_at=pl.col("counted_at").min())
    )
    windows = window_bounds(objectives, first_items, as_of)
    placed = place_items(
        windows.lazy()
        .join(outcomes.lazy(), on=KEYS, how="inner")
        .join(
            objectives.lazy().select(*KEYS, "measure", "statistic", "confidence"),
            on=KEYS,
            how="left",
        )
    )
    statistics = window_statistics(placed, [*KEYS, "window_label"], objectives["statistic"])
    figures = window_figures(objectives, windows, statistics, as_of)
    return _with_ticket_flags(figures, objectives, ticket_flags)


def _with_ticket_flags(
    windows: pl.DataFrame, objectives: pl.DataFrame, ticket_flags: pl.DataFrame
) -> pl.DataFrame:
    """OUTCOME_WINDOWS_SCHEMA ``windows`` with the unmatched and incomplete tickets of
    ``ticket_flags`` (TICKET_FLAGS_SCHEMA) counted per window: 0 for a ticket timer objective
    without any, null for the other objectives."""
    counts = (
        windows.select(*KEYS, "window_label", "window_start", "window_end")
        .join(ticket_flags, on=KEYS)
        .filter(
            pl.col("counted_at") >= pl.col("window_start"),
            pl.col("counted_at") < pl.col("window_end"),
        )
        .group_by(*KEYS, "window_label")
        .agg(pl.col("unmatched").sum(), pl.col("incomplete").sum())
    )
    timer_objective = pl.col("sli_kind").is_in(TIMER_KINDS)
    return (
        windows.drop("unmatched", "incomplete")
        .join(counts, on=[*KEYS, "window_label"], how="left")
        .join(objectives.select(*KEYS, "sli_kind"), on=KEYS, how="left")
        .with_columns(
            pl.when(timer_objective).then(pl.col(name).fill_null(0)).alias(name)
            for name in ("unmatched", "incomplete")
        )
        .select(list(OUTCOME_WINDOWS_SCHEMA))
        .cast(OUTCOME_WINDOWS_SCHEMA)  # type: ignore[arg-type]
    )


def place_items(items: pl.LazyFrame) -> pl.LazyFrame:
    """The ``items`` (OUTCOMES_SCHEMA columns with the window_start and window_end of a window
    and their objective's measure) that belong to that window, ``value`` as it counts there
    (module docstring)."""
    spans = pl.col("measure").fill_null("") == "rpo"
    counted = pl.col("counted_at").dt.epoch("us") / 1e6
    window_end = pl.col("window_end").dt.epoch("us") / 1e6
    span_end = counted + pl.col("value")
    return items.filter(
        pl.col("counted_at") < pl.col("window_end"),
        pl.when(spans)
        .then(span_end > pl.col("window_start").dt.epoch("us") / 1e6)
        .otherwise(pl.col("counted_at") >= pl.col("window_start")),
    ).with_columns(
        value=pl.when(spans)
        .then(pl.min_horizontal(span_end, window_end) - counted)
        .otherwise(pl.col("value"))
    )


def window_statistics(
    placed: pl.LazyFrame, by: list[str], statistics: Collection[str | None]
) -> pl.DataFrame:
    """Per group of ``by`` (a window; in ``predict.item_paths`` a simulated path's window): the
    ``by`` columns and total, good, statistic_value, interval_low, interval_high (Float64) of
    the ``placed`` items (place_items, with their objective's statistic and confidence), whose
    objectives' ``statistic`` values are among ``statistics``."""
    used = {name or "share_within" for name in statistics}

    def if_used(figure: pl.Expr, *names: str) -> pl.Expr:
        """``figure`` if a statistic of ``names`` is used, else null (none is aggregated for
        nothing: medians and percentiles sort each window's values)."""
        return figure if used.intersection(names) else pl.lit(None, pl.Float64)

    statistic = pl.col("statistic").fill_null("share_within")
    value = pl.col("value")
    # a column per percentile used: polars takes one quantile level for every group
    percentiles = {
        name: level for name in sorted(used) if (level := statistic_percentile(name)) is not None
    }
    per_window = (
        placed.group_by(by)
        .agg(
            total=pl.len().cast(pl.Float64),
            good=pl.col("good").sum().cast(pl.Float64),
            promoters=if_used((value == 1).mean(), "nps"),
            detractors=if_used((value == -1).mean(), "nps"),
            statistic=statistic.first(),
            confidence=pl.col("confidence").first(),
            mean=if_used(value.mean(), "mean"),
            median=if_used(value.median(), "median"),
            max=if_used(value.max(), "max"),
            **{name: value.quantile(level / 100, "linear") for name, level in percentiles.items()},
        )
        .collect()
    )
    z = pl.lit(z_scores(per_window["confidence"].fill_null(0.95)))
    wilson_low, wilson_high = wilson_interval(pl.col("good"), pl.col("total"), z)
    nps, nps_low, nps_high = nps_interval(
        pl.col("promoters"), pl.col("detractors"), pl.col("total"), z
    )
    statistic = pl.col("statistic")
    return per_window.select(
        *by,
        "total",
        "good",
        statistic_value=pl.coalesce(
            pl.when(statistic == "nps").then(nps),
            pl.when(statistic == "mean").then(pl.col("mean")),
            pl.when(statistic == "median").then(pl.col("median")),
            pl.when(statistic == "max").then(pl.col("max")),
            *(pl.when(statistic == name).then(pl.col(name)) for name in percentiles),
        ),
        interval_low=pl.when(statistic == "csat")
        .then(wilson_low)
        .when(statistic == "nps")
        .then(nps_low),
        interval_high=pl.when(statistic == "csat")
        .then(wilson_high)
        .when(statistic == "nps")
        .then(nps_high),
    ).cast(dict.fromkeys(_STATISTICS, pl.Float64))


def window_figures(
    objectives: pl.DataFrame,
    windows: pl.DataFrame,
    statistics: pl.DataFrame,
    as_of: datetime,
    by: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Windows with their figures and status (see the module docstring).

    Inputs: ``objectives`` (objectives_frame), ``windows`` (window_bounds), ``statistics``
    (WINDOW_STATS_SCHEMA: total, good for shares, statistic_value for durations and NPS, interval;
    windows absent from it have no data), both with the extra key columns ``by`` (e.g. a
    simulated path's number) if any. Output: OUTCOME_WINDOWS_SCHEMA plus ``by``.
    """
    as_of = as_of.astimezone(UTC)
    judged_on, statistic = pl.col("judged_on"), pl.col("statistic").fill_null("share_within")
    is_share = judged_on == "share"
    judged_value = (
        pl.when(pl.col("judge") == "lower_bound")
        .then(pl.col("interval_low"))
        .otherwise(pl.col("measured"))
    )
    misses = (
        pl.when(judged_on == "duration")
        .then(judged_value > pl.col("target"))
        .otherwise(judged_value < pl.col("target"))
    )
    return (
        windows.lazy()
        .join(statistics.lazy(), on=[*KEYS, "window_label", *by], how="left")
        .join(
            objectives.lazy().select(
                *KEYS, "target", "judged_on", "statistic", "judge", "min_responses"
            ),
            on=KEYS,
        )
        .with_columns(
            is_complete=pl.col("window_end") <= pl.lit(as_of, UTC_US),
            total=pl.col("total").fill_null(0.0),
            good=pl.when(is_share).then(pl.col("good").fill_null(0.0)),
        )
        .with_columns(
            attainment=pl.when(is_share & (pl.col("total") > 0)).then(
                pl.col("good") / pl.col("total")
            ),
            error_budget=pl.when(is_share).then((1 - pl.col("target")) * pl.col("total")),
            budget_consumed=pl.col("total") - pl.col("good"),
        )
        .with_columns(
            measured=pl.when(is_share)
            .then(pl.col("attainment"))
            .otherwise(pl.col("statistic_value")),
            unit=pl.when(is_share)
            .then(pl.lit("ratio"))
            .when(judged_on == "points")
            .then(pl.lit("points"))
            .otherwise(pl.lit("seconds")),
            budget_remaining=pl.when(pl.col("error_budget") > 0).then(
                1 - pl.col("budget_consumed") / pl.col("error_budget")
            ),
        )
        .with_columns(
            status=pl.when(pl.col("total") == 0)
            .then(pl.lit("no_data"))
            .when(statistic.is_in(["csat", "nps"]) & (pl.col("total") < pl.col("min_responses")))
            .then(pl.lit("insufficient_data"))
            .when(pl.col("is_complete"))
            .then(pl.when(misses).then(pl.lit("breached")).otherwise(pl.lit("met")))
            .when(misses)
            .then(pl.lit("breaching"))
            .otherwise(pl.lit("on_track")),
            excluded_minutes=pl.lit(None, pl.Float64),
            corrected_minutes=pl.lit(None, pl.Float64),
            missing_minutes=pl.lit(None, pl.Float64),
            coverage=pl.lit(None, pl.Float64),  # items, not time: no coverage
            unmatched=pl.lit(None, pl.Int64),
            incomplete=pl.lit(None, pl.Int64),
            as_of=pl.lit(as_of, UTC_US),
        )
        .select(*OUTCOME_WINDOWS_SCHEMA, *by)
        .sort([*KEYS, "window_start", *by])
        .cast(OUTCOME_WINDOWS_SCHEMA)  # type: ignore[arg-type]
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )
