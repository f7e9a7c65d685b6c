"""The error-budget burn-down of an objective's current window, with the forecast cone of its
expected budget to the window's end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from pipelines.report.figures.style import (
    BAD_COLOUR,
    BUDGET_COLOUR,
    CHART_TEMPLATE,
    CONE_COLOUR,
    CONE_FILL,
    Figure,
    hline,
    local_iso_text,
    local_time,
)
from pipelines.sla.objectives import utc_literal


def budget_burndown(slices: pl.DataFrame, target: float, slice_length: timedelta) -> pl.DataFrame:
    """Error budget of one window as it was used up, hour by hour.

    ``slices``: the window's ``sla.slices`` rows (slice_start, good, total). Returns one row per
    hour holding data: ``ts`` (end of the last slice counted, UTC), ``bad`` and ``total``
    (cumulative from the window's start), ``error_budget`` = (1 − target) × total,
    ``budget_remaining`` = 1 − bad / error_budget (null while the budget is zero).
    """
    return (
        slices.lazy()
        .group_by(pl.col("slice_start").dt.truncate("1h").alias("hour"))
        .agg(
            (pl.col("slice_start").max() + slice_length).alias("ts"),
            (pl.col("total") - pl.col("good")).sum().alias("bad"),
            pl.col("total").sum(),
        )
        .sort("hour")
        .select(
            "ts",
            pl.col("bad").cum_sum(),
            pl.col("total").cum_sum(),
            (pl.col("total").cum_sum() * (1 - target)).alias("error_budget"),
        )
        .with_columns(
            (1 - pl.col("bad") / pl.when(pl.col("error_budget") > 0).then("error_budget")).alias(
                "budget_remaining"
            )
        )
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def budget_burndown_figure(
    burndown: pl.DataFrame,
    window_start: datetime,
    window_end: datetime,
    time_zone: str,
    cone: pl.DataFrame | None = None,
) -> Figure:
    """The current window's budget burn-down: budget remaining (share, with the exhaustion line at
    0) above, cumulative bad against the error budget (events, minutes or slices) below.

    ``burndown``: the output of :func:`budget_burndown`; the x axis spans the whole window.
    ``cone``: the output of :func:`forecast_cone`, drawn on the top chart as the expected budget
    left (dotted) inside its 10–90 % band (shaded) to the window's end.
    """
    local = burndown.with_columns(local_iso_text("ts", time_zone).alias("local_ts"))
    times = local["local_ts"].to_list()

    def line(column: str, name: str, style: dict, hover: str, axis: str) -> dict:
        return {
            "type": "scatter",
            "x": times,
            "y": local[column].to_list(),
            "name": name,
            "line": {"width": 2, **style},
            "hovertemplate": f"%{{x|%Y-%m-%d %H:%M}}: {hover}<extra></extra>",
            "xaxis": f"x{axis}",
            "yaxis": f"y{axis}",
        }

    remaining = line(
        "budget_remaining",
        "budget remaining",
        {"color": BUDGET_COLOUR},
        "%{y:.1%} of the budget left",
        "",
    )
    bad = line("bad", "bad (cumulative)", {"color": BAD_COLOUR}, "%{y:,.2f} bad", "2")
    budget = line(
        "error_budget",
        "error budget",
        {"color": BUDGET_COLOUR, "dash": "dash"},
        "budget %{y:,.2f}",
        "2",
    )
    cone_traces = _cone(cone, time_zone) if cone is not None and not cone.is_empty() else []
    shape, annotation = hline(
        0, {"color": BAD_COLOUR, "dash": "dash", "width": 2}, "budget exhausted"
    )
    annotation.update(yanchor="top")
    window = [local_time(window_start, time_zone), local_time(window_end, time_zone)]
    return {
        "data": [remaining, *cone_traces, bad, budget],
        "layout": {
            "shapes": [shape],
            "annotations": [annotation],
            "template": CHART_TEMPLATE,
            "title": {"text": "Error budget of the current window"},
            "height": 460,
            "hovermode": "x unified",
            # Two charts one above the other sharing the x axis (plotly's make_subplots with
            # rows=2, shared_xaxes=True, vertical_spacing=0.12).
            "xaxis": {
                "anchor": "y",
                "domain": [0.0, 1.0],
                "matches": "x2",
                "showticklabels": False,
                "range": window,
            },
            "yaxis": {
                "anchor": "x",
                "domain": [0.56, 1.0],
                "title": {"text": "budget left"},
                "tickformat": ".0%",
            },
            "xaxis2": {
                "anchor": "y2",
                "domain": [0.0, 1.0],
                "range": window,
                "title": {"text": f"time ({time_zone})"},
            },
            "yaxis2": {
                "anchor": "x2",
                "domain": [0.0, 0.44],
                "title": {"text": "bad vs budget"},
                "rangemode": "tozero",
            },
        },
    }


def _cone(cone: pl.DataFrame, time_zone: str) -> list[dict[str, Any]]:
    """The traces of the forecast cone on the burn-down's top chart: band first (low, then high
    filled down to it), then the expected path."""
    local = cone.with_columns(local_iso_text("ts", time_zone).alias("local_ts"))
    times = local["local_ts"].to_list()
    traces: list[dict[str, Any]] = []
    if local["low"].is_not_null().all():
        traces += [
            {
                "type": "scatter",
                "x": times,
                "y": local[column].to_list(),
                "name": "forecast 10–90 %",
                "legendgroup": "cone",
                "showlegend": column == "high",
                "mode": "lines",
                "line": {"color": CONE_COLOUR, "width": 1},
                **fill,
                "fillcolor": CONE_FILL,
                "hovertemplate": "%{x|%Y-%m-%d %H:%M}: "
                + ("10th" if column == "low" else "90th")
                + " percentile %{y:.1%}<extra></extra>",
                "xaxis": "x",
                "yaxis": "y",
            }
            for column, fill in (("low", {}), ("high", {"fill": "tonexty"}))
        ]
    traces.append(
        {
            "type": "scatter",
            "x": times,
            "y": local["expected"].to_list(),
            "name": "forecast (expected)",
            "mode": "lines",
            "line": {"color": CONE_COLOUR, "width": 2, "dash": "dot"},
            "hovertemplate": "%{x|%Y-%m-%d %H:%M}: %{y:.1%} expected left<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        }
    )
    return traces


CONE_SCHEMA = {
    "ts": pl.Datetime("us", "UTC"),
    "expected": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
}


def forecast_cone(
    forecasts: pl.DataFrame,
    current: dict[str, Any],
    prediction: dict[str, Any] | None,
) -> pl.DataFrame:
    """The budget the current window is expected to have left from its as-of time to its end,
    with a 10–90 % band: CONE_SCHEMA, one row at ``as_of`` and one per forecast hour (``ts`` the
    end of the hour's part inside the window). Empty without a volume and a bad-ratio forecast.

    ``forecasts``: the objective's ``predict.forecasts`` rows (series 'volume' and 'bad_ratio',
    hour, weight, mean; other series are ignored). ``current``: its current ``sla.windows`` row
    (good, total, target, as_of, window_end). ``prediction``: its ``predict.breach_risk`` row
    (attainment_low, attainment_high) or None.

    The expected path adds each hour's mean volume × mean bad ratio (times its weight) to the
    window's bad and total so far: budget left = 1 − bad / ((1 − target) × total). The band ends
    at the budget left by the 10th and 90th percentile of the simulated final attainment
    (``attainment_low``/``attainment_high`` of the breach risk, 1 − (1 − attainment) /
    (1 − target)) and opens in proportion to the share of the remaining expected volume counted
    so far (so it is a drawing aid between now and the end, exact only at the end); no band
    without a prediction.
    """
    target, good, total = current["target"], current["good"], current["total"]
    if None in (good, total, target, current["as_of"], current["window_end"]) or target >= 1.0:
        return pl.DataFrame(schema=CONE_SCHEMA)
    volume = (
        forecasts.lazy()
        .filter(pl.col("series") == "volume")
        .select("hour", "weight", pl.col("mean").clip(0.0).alias("volume"))
    )
    ratio = (
        forecasts.lazy()
        .filter(pl.col("series") == "bad_ratio")
        .select("hour", pl.col("mean").clip(0.0, 1.0).alias("bad_ratio"))
    )
    steps = (
        volume.join(ratio, on="hour")
        .sort("hour")
        .with_columns(
            pl.min_horizontal(
                pl.col("hour") + timedelta(hours=1), utc_literal(current["window_end"])
            ).alias("ts"),
            (pl.col("weight") * pl.col("volume")).alias("added_total"),
        )
        .filter(pl.col("ts") > utc_literal(current["as_of"]))
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )
    if steps.is_empty():
        return pl.DataFrame(schema=CONE_SCHEMA)
    budget_share = 1.0 - target
    bad = total - good
    path = pl.concat(
        [
            pl.DataFrame(
                {"ts": [current["as_of"]], "added_total": [0.0], "added_bad": [0.0]},
                schema={
                    "ts": CONE_SCHEMA["ts"],
                    "added_total": pl.Float64,
                    "added_bad": pl.Float64,
                },
            ),
            steps.select(
                "ts",
                "added_total",
                (pl.col("added_total") * pl.col("bad_ratio")).alias("added_bad"),
            ),
        ]
    ).with_columns(pl.col("added_total", "added_bad").cum_sum())
    remaining = path["added_total"].max() or 0.0
    expected = 1 - (bad + pl.col("added_bad")) / (
        pl.when(total + pl.col("added_total") > 0).then(
            budget_share * (total + pl.col("added_total"))
        )
    )
    opened = (
        pl.col("added_total") / remaining
        if remaining > 0
        else pl.int_range(pl.len()) / (pl.len() - 1)
    )
    cone = path.with_columns(expected.alias("expected"), opened.alias("opened"))
    end = cone["expected"][-1]
    if prediction is None or prediction.get("attainment_low") is None or end is None:
        return cone.select(
            "ts",
            "expected",
            pl.lit(None, pl.Float64).alias("low"),
            pl.lit(None, pl.Float64).alias("high"),
        )
    low_end = 1 - (1 - prediction["attainment_low"]) / budget_share
    high_end = 1 - (1 - prediction["attainment_high"]) / budget_share
    return cone.select(
        "ts",
        "expected",
        (pl.col("expected") - pl.col("opened") * max(end - low_end, 0.0)).alias("low"),
        (pl.col("expected") + pl.col("opened") * max(high_end - end, 0.0)).alias("high"),
    )
