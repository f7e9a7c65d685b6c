"""The burn-rate chart of an objective: hourly burn rates, alert thresholds and episodes,
anomalies of its service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import polars as pl

from pipelines.report.figures.style import (
    ALERT_FILL,
    BURN_1H_COLOUR,
    BURN_6H_COLOUR,
    CHART_TEMPLATE,
    OKABE_ITO,
    THRESHOLD_DASHES,
    Figure,
    local_iso_text,
    local_wall_clock,
)
from pipelines.sla.objectives import utc_literal


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
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def burn_rate_figure(
    hourly: pl.DataFrame,
    alerts: pl.DataFrame,
    thresholds: Sequence[tuple[str, float]],
    time_zone: str,
    anomalies: pl.DataFrame | None = None,
) -> Figure:
    """Burn rates over time with the alert thresholds, the alert episodes shaded and the
    anomalies of the objective's service marked at the foot of the axis.

    ``hourly``: the output of :func:`hourly_burn_rates`. ``alerts``: the objective's
    ``sla.alerts`` rows (severity, started_at, ended_at — null while firing). ``thresholds``:
    (label, burn rate) pairs, e.g. ``("page: 1h & 5m", 14.4)``, each drawn as a labelled line.
    ``anomalies``: ``predict.anomalies`` rows flagged anomalous (metric, ts, value, score); those
    from the first hour drawn on are marked, one marker trace per metric.
    """
    local = hourly.with_columns(local_iso_text("hour", time_zone).alias("local_hour"))
    times = local["local_hour"].to_list()
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": times,
            "y": local[column].to_list(),
            "name": label,
            "line": {"color": colour, "dash": dash, "width": 2},
            "hovertemplate": "%{x|%Y-%m-%d %H:%M}: %{y:.2f}×<extra>" + label + "</extra>",
        }
        for column, label, colour, dash in (
            ("burn_6h", "6h burn rate (hourly max)", BURN_6H_COLOUR, "dash"),
            ("burn_1h", "1h burn rate (hourly max)", BURN_1H_COLOUR, "solid"),
        )
    ]
    if anomalies is not None and times:
        traces += _anomaly_markers(
            anomalies.filter(pl.col("ts") >= utc_literal(hourly["hour"].min())), time_zone
        )
    # Thresholds and alert episodes are named in the legend, not on the plot: labels drawn at
    # thresholds close together, or on episodes close together, printed on top of each other.
    shapes: list[dict[str, Any]] = [
        {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": burn_rate,
         "y1": burn_rate, "line": {"color": "#000000", "dash": dash, "width": 1},
         "name": f"threshold {label} > {burn_rate:g}", "showlegend": True}
        for (label, burn_rate), dash in zip(thresholds, THRESHOLD_DASHES, strict=False)
    ]  # fmt: skip
    if times:
        first_hour = utc_literal(hourly["hour"].min())
        last_hour = utc_literal(hourly["hour"].max() + timedelta(hours=1))
        shown = (
            alerts.lazy()
            .filter(
                pl.col("ended_at").fill_null(last_hour) >= first_hour,
                pl.col("started_at") < last_hour,
            )
            .with_columns(
                pl.max_horizontal("started_at", first_hour).alias("from"),
                pl.col("ended_at").fill_null(last_hour).alias("to"),
            )
            .with_columns(local_wall_clock("from", time_zone), local_wall_clock("to", time_zone))
            .collect(engine="in-memory")  # the engine of eager steps: small frames
        )
        named: set[str] = set()
        for episode in shown.iter_rows(named=True):
            severity = episode["severity"]
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "x0": episode["from"],
                    "x1": episode["to"],
                    "yref": "y domain",
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": ALERT_FILL.get(severity, ALERT_FILL["ticket"]),
                    "line": {"width": 0},
                    "layer": "below",
                    "name": f"{severity} alert",
                    "legendgroup": f"{severity} alert",
                    "showlegend": severity not in named,
                }
            )
            named.add(severity)
    return {
        "data": traces,
        "layout": {
            "shapes": shapes,
            "template": CHART_TEMPLATE,
            "title": {"text": "Burn rates (multiples of the sustainable rate)"},
            # The legend names lines, anomalies, thresholds and alerts below the plot.
            "height": 460,
            "hovermode": "x unified",
            "xaxis": {"title": {"text": f"time ({time_zone})"}},
            "yaxis": {"title": {"text": "burn rate"}, "rangemode": "tozero"},
        },
    }


def _anomaly_markers(anomalies: pl.DataFrame, time_zone: str) -> list[dict[str, Any]]:
    """The traces of the anomalies: one of triangles at burn rate 0 per metric, hovering the value
    and the score."""
    local = (
        anomalies.lazy()
        .sort("ts")
        .with_columns(local_wall_clock("ts", time_zone).alias("local_ts"))
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )
    return [
        {
            "type": "scatter",
            "x": rows["local_ts"].to_list(),
            "y": [0.0] * rows.height,
            "mode": "markers",
            "marker": {"symbol": "triangle-up", "size": 10, "color": colour, "line": {"width": 1}},
            "name": f"anomaly: {metric}",
            "customdata": rows.select("value", "score").rows(),
            "hovertemplate": "%{x|%Y-%m-%d %H:%M}: "
            + metric
            + " %{customdata[0]:.4g} (score %{customdata[1]:.2f})<extra>anomaly</extra>",
        }
        for ((metric,), rows), colour in zip(
            local.partition_by("metric", as_dict=True, maintain_order=True).items(),
            OKABE_ITO[2:],
            strict=False,
        )
    ]
