"""The charts of a contract page, one pure function per chart: Polars frames in, plotly figures out.

Timestamps arrive in UTC and are drawn in the contract's zone (plotly.js knows no zones, so the
axis gets zone-local wall-clock times and says which zone). Series are downsampled to hourly points
so that a page stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipelines.report.formatting import format_measure, format_target, status_style

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BAD_COLOUR = "#D55E00"
BUDGET_COLOUR = "#0072B2"
CONE_COLOUR = "#CC79A7"
CONE_FILL = "rgba(204, 121, 167, 0.2)"
BURN_1H_COLOUR = "#0072B2"
BURN_6H_COLOUR = "#E69F00"
ALERT_FILL = {"page": "rgba(213, 94, 0, 0.15)", "ticket": "rgba(230, 159, 0, 0.12)"}
THRESHOLD_DASHES = ("dash", "dot", "dashdot", "longdash")

CHART_TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 13},
        "colorway": OKABE_ITO,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#E6E6E6", "linecolor": "#555555", "ticks": "outside"},
        "yaxis": {"gridcolor": "#E6E6E6", "linecolor": "#555555", "ticks": "outside"},
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 85, "r": 20, "t": 50, "b": 40},
        "height": 360,
    }
)
"""A small template of our own: the stock ones add several kB to every chart."""


def _local(column: str, time_zone: str) -> pl.Expr:
    """A UTC timestamp column as wall-clock time in ``time_zone`` (what the axis shows)."""
    return pl.col(column).dt.convert_time_zone(time_zone).dt.replace_time_zone(None)


def _local_time(value: datetime, time_zone: str) -> datetime:
    return value.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


def _hline(
    y: float, line: dict[str, Any], text: str, axis: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A horizontal line across the plot at ``y`` with its label at the top left, as a layout
    shape and annotation (much cheaper to build than ``add_hline``); ``axis`` "" or "2" picks the
    subplot."""
    return (
        {"type": "line", "xref": f"x{axis} domain", "x0": 0, "x1": 1, "yref": f"y{axis}",
         "y0": y, "y1": y, "line": line},
        {"xref": f"x{axis} domain", "x": 0, "xanchor": "left", "yref": f"y{axis}", "y": y,
         "yanchor": "bottom", "text": text, "showarrow": False},
    )  # fmt: skip


def windows_drawn(windows: pl.DataFrame) -> pl.DataFrame:
    """The windows a chart draws: from the first window holding data to the last one, plus the
    current window (runs of ``no_data`` windows before and after the data are left out; the
    table keeps them). Empty when no window holds data.

    ``windows``: one objective's ``sla.windows`` rows (window_start, is_complete, status).
    """
    has_data = pl.col("status") != "no_data"
    starts = pl.col("window_start").filter(has_data)
    return windows.filter(
        pl.col("window_start").is_between(starts.min(), starts.max())
        | (~pl.col("is_complete") & has_data.any())
    ).sort("window_start")


_AXIS_SCALE = {"share": 1.0, "duration": 3600.0, "points": 1.0}
"""Divisor from a window's value to the chart's unit: shares, hours, NPS points."""


def window_figure(
    windows: pl.DataFrame,
    time_zone: str,
    judged_on: str = "share",
    statistic: str | None = None,
) -> go.Figure:
    """What every window of one objective measured against its target, in the objective's unit:
    attainment (``share``), hours (``duration``, at most the target) or NPS points (``points``).

    ``windows``: that objective's ``sla.windows`` rows (window_label, window_start, window_end,
    is_complete, attainment, measured, target, status, interval_low, interval_high);
    ``statistic`` (mean, p90, ...) names a duration chart. One bar per
    window, in time order, coloured, patterned and labelled by status, with the confidence
    interval as error bars when there is one; a dashed step line is the target; windows without
    a value are marked by their status at the foot of the axis.
    """
    scale = _AXIS_SCALE[judged_on]
    value = pl.col("attainment") if judged_on == "share" else pl.col("measured")
    ordered = (
        windows.sort("window_start")
        .with_columns(
            _local(column, time_zone).dt.strftime("%Y-%m-%d %H:%M").alias(f"local_{column}")
            for column in ("window_start", "window_end")
        )
        .with_columns(
            pl.coalesce(value, "measured").alias("value"),
            (pl.col("target") / scale).alias("y_target"),
        )
        .with_columns(
            (pl.when(pl.col("value").is_finite()).then("value") / scale).alias("y"),
            (pl.col("interval_high") / scale - pl.col("value") / scale).alias("error_plus"),
            (pl.col("value") / scale - pl.col("interval_low") / scale).alias("error_minus"),
        )
    )
    if judged_on == "share":
        shares = ordered.select(pl.concat_list("y", "y_target").explode().drop_nulls())
        floor = shares.to_series().min() if shares.height else 0.99
        span = max(1.0 - floor, 0.0005)
        axis_low = max(0.0, floor - 0.6 * span)
        yaxis = {"range": [axis_low, 1.0 + 0.05 * span], "tickformat": ".3%", "title": "attainment"}
    else:
        axis_low = 0.0 if judged_on == "duration" else -100.0
        yaxis = {
            "rangemode": "tozero",
            "title": "hours" if judged_on == "duration" else "NPS (points)",
        }
    figure = go.Figure()
    for (status,), rows in ordered.partition_by(
        "status", as_dict=True, maintain_order=True
    ).items():
        style = status_style(status)
        has_value = rows["y"].is_not_null()
        with_interval = rows["error_plus"].is_not_null().any()
        figure.add_bar(
            x=rows["window_label"].to_list(),
            y=rows["y"].to_list(),
            name=f"{style.symbol} {style.label}",
            marker={
                "color": style.colour,
                "line": {"color": "#333333", "width": 1},
                "pattern": {"shape": style.pattern, "fgcolor": "#333333", "solidity": 0.25},
            },
            error_y={
                "type": "data",
                "array": rows["error_plus"].to_list(),
                "arrayminus": rows["error_minus"].to_list(),
                "color": "#000000",
                "thickness": 1.5,
            }
            if with_interval
            else None,
            text=[
                f"{format_measure(v, judged_on, t)}<br>{style.label}"
                for v, t in zip(rows["value"], rows["target"], strict=True)
            ],
            textposition="inside",
            insidetextanchor="end",
            textfont={"color": style.text_colour},
            customdata=rows.select("local_window_start", "local_window_end").rows(),
            hovertemplate="%{x}: %{text}<br>%{customdata[0]} → %{customdata[1]}<extra></extra>",
            showlegend=True,
        )
        if not has_value.all():
            empty = rows.filter(~has_value)
            figure.add_scatter(
                x=empty["window_label"].to_list(),
                y=[axis_low] * empty.height,
                mode="text",
                text=[
                    f"{style.symbol} {style.label if v is None else format_measure(v, judged_on)}"
                    for v in empty["value"]
                ],
                textposition="top center",
                showlegend=False,
                hoverinfo="skip",
            )
    figure.add_scatter(
        x=ordered["window_label"].to_list(),
        y=ordered["y_target"].to_list(),
        mode="lines+markers",
        line={"color": "#000000", "dash": "dash", "shape": "hvh", "width": 2},
        marker={"symbol": "line-ew-open", "size": 14},
        name="target",
        text=[format_target(t, judged_on) for t in ordered["target"]],
        hovertemplate="target %{text}<extra></extra>",
    )
    title = {"share": "Attainment", "duration": "Measured time", "points": "NPS"}[judged_on]
    if judged_on == "duration" and statistic:
        title = statistic.capitalize()
    figure.update_layout(
        template=CHART_TEMPLATE,
        title={"text": f"{title} per window"},
        barmode="overlay",
        uniformtext={"minsize": 9, "mode": "hide"},
        legend={"y": -0.35},
        margin={"b": 70},
        xaxis={
            "tickangle": -45,
            "type": "category",
            "categoryorder": "array",
            "categoryarray": ordered["window_label"].to_list(),
            "title": {"text": f"window ({time_zone})"},
        },
        yaxis=yaxis,
    )
    return figure


def ticket_times_figure(timers: pl.DataFrame, target: float | None) -> go.Figure:
    """Business resolution times of completed tickets per priority (box with every point), in
    hours on a log axis, each priority's target marked.

    ``timers``: one objective's ``sla.ticket_timers`` rows (priority, timer_state,
    business_seconds, target_seconds). ``target``: the objective's own target in seconds, marked
    for priorities whose timers carry none (statistic objectives such as a mean).
    """
    completed = (
        timers.filter(pl.col("timer_state") == "completed", pl.col("business_seconds") > 0)
        .with_columns(
            pl.col("priority").fill_null("(none)"),
            (pl.col("business_seconds") / 3600).alias("hours"),
            (pl.coalesce("target_seconds", pl.lit(target, pl.Float64)) / 3600).alias(
                "target_hours"
            ),
        )
        .sort("priority")
    )
    figure = go.Figure()
    for (priority,), rows in completed.partition_by(
        "priority", as_dict=True, maintain_order=True
    ).items():
        figure.add_box(
            x=[priority] * rows.height,
            y=rows["hours"].to_list(),
            name=priority,
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            marker={"size": 3, "opacity": 0.5, "color": BUDGET_COLOUR},
            line={"color": "#333333"},
            fillcolor="rgba(0, 114, 178, 0.12)",
            showlegend=False,
            hovertemplate=priority + ": %{y:.1f} h<extra></extra>",
        )
    targets = completed.group_by("priority", maintain_order=True).agg(pl.col("target_hours").max())
    targets = targets.filter(pl.col("target_hours").is_not_null())
    figure.add_scatter(
        x=targets["priority"].to_list(),
        y=targets["target_hours"].to_list(),
        mode="markers",
        marker={"symbol": "line-ew-open", "size": 44, "line": {"width": 3, "color": BAD_COLOUR}},
        name="target",
        text=[format_target(h * 3600, "duration") for h in targets["target_hours"]],
        hovertemplate="%{x}: target %{text}<extra></extra>",
    )
    figure.update_layout(
        template=CHART_TEMPLATE,
        title={"text": "Business resolution time per priority"},
        xaxis={"type": "category", "title": {"text": "priority"}},
        yaxis={"type": "log", "title": {"text": "hours (log scale)"}},
    )
    return figure


def exposure_figure(spans: pl.DataFrame, target: float, time_zone: str) -> go.Figure:
    """RPO exposure over time: from each good backup the exposure grows until the next one.

    ``spans``: one RPO objective's ``sla.outcomes`` rows (counted_at = a good backup's finish,
    value = seconds until the next one). Drawn as a saw-tooth in hours against the target.
    """
    local = spans.sort("counted_at").with_columns(
        _local("counted_at", time_zone).alias("from"),
        (_local("counted_at", time_zone) + pl.duration(microseconds=pl.col("value") * 1e6)).alias(
            "to"
        ),
        (pl.col("value") / 3600).alias("hours"),
    )
    x = [t for start, end in local.select("from", "to").rows() for t in (start, end, None)]
    y = [h for hours in local["hours"] for h in (0.0, hours, None)]
    figure = go.Figure()
    figure.add_scatter(
        x=x,
        y=y,
        mode="lines",
        line={"color": BUDGET_COLOUR, "width": 2},
        name="exposure",
        hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.1f} h since the last good backup<extra></extra>",
    )
    shape, annotation = _hline(
        target / 3600,
        {"color": BAD_COLOUR, "dash": "dash", "width": 2},
        f"target {format_target(target, 'duration')}",
    )
    figure.update_layout(
        shapes=[shape],
        annotations=[annotation],
        template=CHART_TEMPLATE,
        title={"text": "Data-loss exposure (time since the last good backup)"},
        xaxis={"title": {"text": f"time ({time_zone})"}},
        yaxis={"title": {"text": "hours"}, "rangemode": "tozero"},
    )
    return figure


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
        .collect()
    )


def budget_burndown_figure(
    burndown: pl.DataFrame,
    window_start: datetime,
    window_end: datetime,
    time_zone: str,
    cone: pl.DataFrame | None = None,
) -> go.Figure:
    """The current window's budget burn-down: budget remaining (share, with the exhaustion line at
    0) above, cumulative bad against the error budget (events or minutes) below.

    ``burndown``: the output of :func:`budget_burndown`; the x axis spans the whole window.
    ``cone``: the output of :func:`forecast_cone`, drawn on the top chart as the expected budget
    left (dotted) inside its 10–90 % band (shaded) to the window's end.
    """
    local = burndown.with_columns(_local("ts", time_zone).alias("local_ts"))
    times = local["local_ts"].to_list()
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12)
    figure.add_scatter(
        x=times,
        y=local["budget_remaining"].to_list(),
        name="budget remaining",
        line={"color": BUDGET_COLOUR, "width": 2},
        hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.1%} of the budget left<extra></extra>",
        xaxis="x",
        yaxis="y",
    )
    if cone is not None and not cone.is_empty():
        _add_cone(figure, cone, time_zone)
    figure.add_scatter(
        x=times,
        y=local["bad"].to_list(),
        name="bad (cumulative)",
        line={"color": BAD_COLOUR, "width": 2},
        hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:,.2f} bad<extra></extra>",
        xaxis="x2",
        yaxis="y2",
    )
    figure.add_scatter(
        x=times,
        y=local["error_budget"].to_list(),
        name="error budget",
        line={"color": BUDGET_COLOUR, "dash": "dash", "width": 2},
        hovertemplate="%{x|%Y-%m-%d %H:%M}: budget %{y:,.2f}<extra></extra>",
        xaxis="x2",
        yaxis="y2",
    )
    shape, annotation = _hline(
        0, {"color": BAD_COLOUR, "dash": "dash", "width": 2}, "budget exhausted"
    )
    annotation.update(yanchor="top")
    window = [_local_time(window_start, time_zone), _local_time(window_end, time_zone)]
    figure.update_layout(
        shapes=[shape],
        annotations=[annotation],
        template=CHART_TEMPLATE,
        title={"text": "Error budget of the current window"},
        height=460,
        hovermode="x unified",
        xaxis={"range": window},
        xaxis2={"range": window, "title": {"text": f"time ({time_zone})"}},
        yaxis={"title": {"text": "budget left"}, "tickformat": ".0%"},
        yaxis2={"title": {"text": "bad vs budget"}, "rangemode": "tozero"},
    )
    return figure


def _add_cone(figure: go.Figure, cone: pl.DataFrame, time_zone: str) -> None:
    """The forecast cone on the burn-down's top chart: band first (low, then high filled down to
    it), then the expected path."""
    local = cone.with_columns(_local("ts", time_zone).alias("local_ts"))
    times = local["local_ts"].to_list()
    if local["low"].is_not_null().all():
        for column, fill in (("low", None), ("high", "tonexty")):
            figure.add_scatter(
                x=times,
                y=local[column].to_list(),
                name="forecast 10–90 %",
                legendgroup="cone",
                showlegend=column == "high",
                mode="lines",
                line={"color": CONE_COLOUR, "width": 1},
                fill=fill,
                fillcolor=CONE_FILL,
                hovertemplate="%{x|%Y-%m-%d %H:%M}: "
                + ("10th" if column == "low" else "90th")
                + " percentile %{y:.1%}<extra></extra>",
                xaxis="x",
                yaxis="y",
            )
    figure.add_scatter(
        x=times,
        y=local["expected"].to_list(),
        name="forecast (expected)",
        mode="lines",
        line={"color": CONE_COLOUR, "width": 2, "dash": "dot"},
        hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.1%} expected left<extra></extra>",
        xaxis="x",
        yaxis="y",
    )


def hourly_burn_rates(burn_rates: pl.DataFrame, days: int = 14) -> pl.DataFrame:
    """The 1h and 6h burn rates of one objective over its last ``days`` days, one point per hour.

    ``burn_rates``: that objective's ``sla.burn_rates`` rows (ts, burn_1h, burn_6h, ...). Returns
    ``hour`` (UTC, start of the hour), ``burn_1h`` and ``burn_6h``: the highest value within the
    hour, so that no spike above an alert threshold is lost by the downsampling.
    """
    return (
        burn_rates.lazy()
        .filter(pl.col("ts") > pl.col("ts").max() - timedelta(days=days))
        .group_by(pl.col("ts").dt.truncate("1h").alias("hour"))
        .agg(pl.col("burn_1h").max(), pl.col("burn_6h").max())
        .sort("hour")
        .collect()
    )


def burn_rate_figure(
    hourly: pl.DataFrame,
    alerts: pl.DataFrame,
    thresholds: Sequence[tuple[str, float]],
    time_zone: str,
    anomalies: pl.DataFrame | None = None,
) -> go.Figure:
    """Burn rates over time with the alert thresholds, the alert episodes shaded and the
    anomalies of the objective's service marked at the foot of the axis.

    ``hourly``: the output of :func:`hourly_burn_rates`. ``alerts``: the objective's
    ``sla.alerts`` rows (severity, started_at, ended_at — null while firing). ``thresholds``:
    (label, burn rate) pairs, e.g. ``("page: 1h & 5m", 14.4)``, each drawn as a labelled line.
    ``anomalies``: ``predict.anomalies`` rows flagged anomalous (metric, ts, value, score); those
    from the first hour drawn on are marked, one marker trace per metric.
    """
    local = hourly.with_columns(_local("hour", time_zone).alias("local_hour"))
    times = local["local_hour"].to_list()
    figure = go.Figure()
    for column, label, colour, dash in (
        ("burn_6h", "6h burn rate (hourly max)", BURN_6H_COLOUR, "dash"),
        ("burn_1h", "1h burn rate (hourly max)", BURN_1H_COLOUR, "solid"),
    ):
        figure.add_scatter(
            x=times,
            y=local[column].to_list(),
            name=label,
            line={"color": colour, "dash": dash, "width": 2},
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.2f}×<extra>" + label + "</extra>",
        )
    if anomalies is not None and times:
        _add_anomaly_markers(
            figure, anomalies.filter(pl.col("ts") >= hourly["hour"].min()), time_zone
        )
    lines = [
        _hline(
            burn_rate, {"color": "#000000", "dash": dash, "width": 1}, f"{label} > {burn_rate:g}"
        )
        for (label, burn_rate), dash in zip(thresholds, THRESHOLD_DASHES, strict=False)
    ]
    shapes = [shape for shape, _ in lines]
    annotations = [annotation for _, annotation in lines]
    if times:
        last_hour = hourly["hour"].max() + timedelta(hours=1)
        shown = alerts.filter(
            pl.col("ended_at").fill_null(last_hour) >= hourly["hour"].min(),
            pl.col("started_at") < last_hour,
        ).with_columns(
            pl.max_horizontal("started_at", pl.lit(hourly["hour"].min())).alias("from"),
            pl.col("ended_at").fill_null(last_hour).alias("to"),
        )
        for episode in shown.with_columns(
            _local("from", time_zone), _local("to", time_zone)
        ).iter_rows(named=True):
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "x0": episode["from"],
                    "x1": episode["to"],
                    "yref": "y domain",
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": ALERT_FILL.get(episode["severity"], ALERT_FILL["ticket"]),
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            annotations.append(
                {
                    "xref": "x",
                    "x": episode["from"],
                    "xanchor": "left",
                    "yref": "y domain",
                    "y": 1,
                    "yanchor": "top",
                    "text": f"{episode['severity']} alert",
                    "showarrow": False,
                }
            )
    figure.update_layout(
        shapes=shapes,
        annotations=annotations,
        template=CHART_TEMPLATE,
        title={"text": "Burn rates (multiples of the sustainable rate)"},
        hovermode="x unified",
        legend={"y": -0.3},
        margin={"b": 80},
        xaxis={"title": {"text": f"time ({time_zone})"}},
        yaxis={"title": {"text": "burn rate"}, "rangemode": "tozero"},
    )
    return figure


def _add_anomaly_markers(figure: go.Figure, anomalies: pl.DataFrame, time_zone: str) -> None:
    """One trace of triangles at burn rate 0 per metric, hovering the value and the score."""
    local = anomalies.sort("ts").with_columns(_local("ts", time_zone).alias("local_ts"))
    for ((metric,), rows), colour in zip(
        local.partition_by("metric", as_dict=True, maintain_order=True).items(),
        OKABE_ITO[2:],
        strict=False,
    ):
        figure.add_scatter(
            x=rows["local_ts"].to_list(),
            y=[0.0] * rows.height,
            mode="markers",
            marker={"symbol": "triangle-up", "size": 10, "color": colour, "line": {"width": 1}},
            name=f"anomaly: {metric}",
            customdata=rows.select("value", "score").rows(),
            hovertemplate="%{x|%Y-%m-%d %H:%M}: "
            + metric
            + " %{customdata[0]:.4g} (score %{customdata[1]:.2f})<extra>anomaly</extra>",
        )


def figure_html(figure: go.Figure, div_id: str) -> str:
    """The figure as an HTML fragment for a page that loads plotly.js itself (no CDN)."""
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


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
    if good is None or total is None or target is None or target >= 1.0:
        return pl.DataFrame(schema=CONE_SCHEMA)
    volume = forecasts.filter(pl.col("series") == "volume").select(
        "hour", "weight", pl.col("mean").clip(0.0).alias("volume")
    )
    ratio = forecasts.filter(pl.col("series") == "bad_ratio").select(
        "hour", pl.col("mean").clip(0.0, 1.0).alias("bad_ratio")
    )
    steps = (
        volume.join(ratio, on="hour")
        .sort("hour")
        .with_columns(
            pl.min_horizontal(
                pl.col("hour") + timedelta(hours=1), pl.lit(current["window_end"])
            ).alias("ts"),
            (pl.col("weight") * pl.col("volume")).alias("added_total"),
        )
        .filter(pl.col("ts") > current["as_of"])
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


TIMELINE_SCHEMA = {
    "lane": pl.String,
    "started_at": pl.Datetime("us", "UTC"),
    "ended_at": pl.Datetime("us", "UTC"),
    "what": pl.String,
}
TIMELINE_LANES = {
    "Alert": ("#D55E00", "square"),
    "Security incident": ("#000000", "star"),
    "Breached ticket": ("#E69F00", "diamond"),
    "Anomaly": ("#009E73", "triangle-up"),
    "Maintenance": ("#0072B2", "circle"),
    "Correction": ("#CC79A7", "x"),
}
"""Timeline lanes, top to bottom, with their colour and marker (each lane is also named on the
axis, so no event is told by colour alone)."""


def timeline_events(
    alerts: pl.DataFrame,
    incidents: pl.DataFrame,
    tickets: pl.DataFrame,
    anomalies: pl.DataFrame,
    maintenance: pl.DataFrame,
    corrections: pl.DataFrame,
    start: datetime,
    end: datetime,
) -> pl.DataFrame:
    """The events of one objective overlapping ``[start, end)``: TIMELINE_SCHEMA (lane one of
    TIMELINE_LANES, ended_at null for a point or an alert still firing, what in words), sorted
    by start.

    Inputs, that objective's rows: ``sla.alerts`` (severity, started_at, ended_at,
    peak_burn_rate); security incidents as ``sla.outcomes`` (item_id, counted_at = detected or
    contained, value = seconds it took, detail), drawn over those seconds up to ``counted_at``;
    ``sla.ticket_timers`` (ticket_id, priority, started_at, stopped_at,
    breach_at, breached), breached ones drawn from their breach to their stop; ``predict.anomalies``
    flagged (metric, ts, value, score); maintenance periods (excluded_from, excluded_until,
    reason: ``sla.objectives.exclusion_intervals`` of its service); ``sla.corrections``
    (corrected_from, corrected_until, reason).
    """
    parts = [
        alerts.select(
            pl.lit("Alert").alias("lane"),
            "started_at",
            "ended_at",
            pl.format(
                "{} alert, peak burn rate {}×",
                "severity",
                pl.col("peak_burn_rate").round(2),
            ).alias("what"),
        ),
        incidents.select(
            pl.lit("Security incident").alias("lane"),
            pl.when(pl.col("value").is_finite())
            .then(pl.col("counted_at") - pl.duration(milliseconds=pl.col("value") * 1000))
            .otherwise("counted_at")
            .alias("started_at"),
            pl.col("counted_at").alias("ended_at"),
            pl.format("incident {}: {}", "item_id", pl.col("detail").fill_null("—")).alias("what"),
        ),
        tickets.filter(
            pl.col("breached").fill_null(False), pl.col("breach_at").is_not_null()
        ).select(
            pl.lit("Breached ticket").alias("lane"),
            pl.col("breach_at").alias("started_at"),
            pl.col("stopped_at").alias("ended_at"),
            pl.format(
                "ticket {} ({}) breached its target", "ticket_id", pl.col("priority").fill_null("—")
            ).alias("what"),
        ),
        anomalies.select(
            pl.lit("Anomaly").alias("lane"),
            pl.col("ts").alias("started_at"),
            pl.lit(None, TIMELINE_SCHEMA["ended_at"]).alias("ended_at"),
            pl.format(
                "{} anomalous: {} (score {})",
                "metric",
                pl.col("value").round_sig_figs(4),
                pl.col("score").round(2),
            ).alias("what"),
        ),
        maintenance.select(
            pl.lit("Maintenance").alias("lane"),
            pl.col("excluded_from").alias("started_at"),
            pl.col("excluded_until").alias("ended_at"),
            pl.format("planned maintenance: {}", "reason").alias("what"),
        ),
        corrections.select(
            pl.lit("Correction").alias("lane"),
            pl.col("corrected_from").alias("started_at"),
            pl.col("corrected_until").alias("ended_at"),
            pl.format("correction: {}", "reason").alias("what"),
        ),
    ]
    return (
        pl.concat([part.cast(TIMELINE_SCHEMA) for part in parts])  # type: ignore[arg-type]
        .unique(maintain_order=True)
        .filter(
            pl.col("started_at") < end,
            pl.coalesce("ended_at", "started_at") >= start,
        )
        .sort("started_at", "lane")
    )


def timeline_figure(
    events: pl.DataFrame, start: datetime, end: datetime, time_zone: str
) -> go.Figure:
    """The events of :func:`timeline_events` on one lane each over ``[start, end)``: periods as
    thick bars (an alert still firing runs to ``end``), points as markers; hover tells what."""
    local = events.with_columns(
        _local("started_at", time_zone).alias("from"),
        _local("ended_at", time_zone).alias("to"),
    ).with_columns(
        pl.concat_str(
            pl.col("from").dt.strftime("%Y-%m-%d %H:%M"),
            pl.when(pl.col("to").is_not_null())
            .then(pl.format(" → {}", pl.col("to").dt.strftime("%Y-%m-%d %H:%M")))
            .when(pl.col("lane") == "Alert")
            .then(pl.lit(" → still firing"))
            .otherwise(pl.lit("")),
        ).alias("when")
    )
    local_end = _local_time(end, time_zone)
    figure = go.Figure()
    lanes = [lane for lane in TIMELINE_LANES if lane in set(local["lane"])]
    for lane in lanes:
        colour, symbol = TIMELINE_LANES[lane]
        rows = local.filter(pl.col("lane") == lane)
        spans = rows.filter(pl.col("ended_at").is_not_null() | (pl.col("lane") == "Alert"))
        if not spans.is_empty():
            figure.add_scatter(
                x=[
                    t
                    for f, u in spans.select("from", "to").rows()
                    for t in (f, u or local_end, None)
                ],
                y=[lane] * (3 * spans.height),
                mode="lines",
                line={"color": colour, "width": 14},
                name=lane,
                legendgroup=lane,
                showlegend=False,
                hoverinfo="skip",
            )
        figure.add_scatter(
            x=rows["from"].to_list(),
            y=[lane] * rows.height,
            mode="markers",
            marker={
                "symbol": symbol,
                "size": 11,
                "color": colour,
                "line": {"width": 1, "color": "#000000"},
            },
            name=lane,
            legendgroup=lane,
            text=rows["what"].to_list(),
            customdata=rows["when"].to_list(),
            hovertemplate="%{customdata}<br>%{text}<extra>" + lane + "</extra>",
        )
    figure.update_layout(
        template=CHART_TEMPLATE,
        title={"text": "Timeline"},
        height=max(200, 90 + 45 * len(lanes)),
        showlegend=False,
        margin={"l": 130, "b": 50},
        xaxis={
            "title": {"text": f"time ({time_zone})"},
            "range": [_local_time(start, time_zone), local_end],
        },
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(lanes)),
        },
    )
    return figure


def budget_overview_figure(objectives: pl.DataFrame, label: str = "title") -> go.Figure:
    """Error budget left in each objective's current window, one bar per objective, most urgent
    at the top; bars coloured, patterned and labelled by status, with the breach risk. Objectives
    judged on a statistic (no error budget) or without a current window get a label and no bar.

    ``objectives``: rows of summary.objective_summary in the order to draw (title,
    objective_id, status, budget_remaining, p_breach, statistic); ``label``: the column naming
    each bar (unique).
    """
    rows = objectives.with_columns(
        pl.when(pl.col("budget_remaining").is_not_null())
        .then(pl.col("budget_remaining").clip(-1.0, 1.0))
        .alias("x")
    )
    names = rows[label].to_list()
    figure = go.Figure()
    for (status,), group in rows.partition_by("status", as_dict=True, maintain_order=True).items():
        style = status_style(status)
        texts = [
            f"{style.symbol} {style.label}: "
            + (
                f"{budget:.1%} of the budget left"
                if budget is not None
                else f"no error budget ({statistic or 'no current window'})"
            )
            + (f", breach risk {risk:.0%}" if risk is not None else "")
            for budget, risk, statistic in group.select(
                "budget_remaining", "p_breach", "statistic"
            ).rows()
        ]
        figure.add_bar(
            x=[0.0 if x is None else x for x in group["x"]],
            y=group[label].to_list(),
            orientation="h",
            name=f"{style.symbol} {style.label}",
            marker={
                "color": style.colour,
                "line": {"color": "#333333", "width": 1},
                "pattern": {"shape": style.pattern, "fgcolor": "#333333", "solidity": 0.25},
            },
            customdata=texts,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
        )
        figure.add_scatter(  # the label right of the bar, or of the 0 line for a negative one
            x=[max(x or 0.0, 0.0) + 0.02 for x in group["x"]],
            y=group[label].to_list(),
            mode="text",
            text=texts,
            textposition="middle right",
            textfont={"color": "#000000", "size": 11},
            cliponaxis=False,
            hoverinfo="skip",
        )
    figure.update_layout(
        template=CHART_TEMPLATE,
        title={"text": "Error budget left in the current window"},
        height=110 + 34 * len(names),
        barmode="overlay",
        showlegend=False,
        margin={"l": 20, "r": 20, "t": 50, "b": 40},
        shapes=[
            {
                "type": "line",
                "xref": "x",
                "x0": 0,
                "x1": 0,
                "yref": "y domain",
                "y0": 0,
                "y1": 1,
                "line": {"color": BAD_COLOUR, "dash": "dash", "width": 2},
            },
        ],  # fmt: skip
        xaxis={
            "range": [-1.05, 2.3],
            "tickformat": ".0%",
            "tickvals": [-1, -0.5, 0, 0.5, 1],
            "title": {"text": "budget left (exhausted at the dashed line; clipped at −100%)"},
        },
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(names)),
            "automargin": True,
        },
    )
    return figure
