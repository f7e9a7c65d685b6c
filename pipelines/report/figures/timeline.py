"""An objective's timeline: alerts, security incidents, breached tickets, anomalies, maintenance
and corrections in lanes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from pipelines.report.figures.style import (
    CHART_TEMPLATE,
    Figure,
    local_time,
    local_wall_clock,
)
from pipelines.sla.objectives import utc_literal

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
    by start and lane (events alike in both in the order of the inputs).

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
        alerts.lazy().select(
            pl.lit("Alert").alias("lane"),
            "started_at",
            "ended_at",
            pl.format(
                "{} alert, peak burn rate {}×",
                "severity",
                pl.col("peak_burn_rate").round(2),
            ).alias("what"),
        ),
        incidents.lazy().select(
            pl.lit("Security incident").alias("lane"),
            pl.when(pl.col("value").is_finite())
            .then(pl.col("counted_at") - pl.duration(milliseconds=pl.col("value") * 1000))
            .otherwise("counted_at")
            .alias("started_at"),
            pl.col("counted_at").alias("ended_at"),
            pl.format("incident {}: {}", "item_id", pl.col("detail").fill_null("—")).alias("what"),
        ),
        tickets.lazy()
        .filter(pl.col("breached").fill_null(False), pl.col("breach_at").is_not_null())
        .select(
            pl.lit("Breached ticket").alias("lane"),
            pl.col("breach_at").alias("started_at"),
            pl.col("stopped_at").alias("ended_at"),
            pl.format(
                "ticket {} ({}) breached its target", "ticket_id", pl.col("priority").fill_null("—")
            ).alias("what"),
        ),
        anomalies.lazy().select(
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
        maintenance.lazy().select(
            pl.lit("Maintenance").alias("lane"),
            pl.col("excluded_from").alias("started_at"),
            pl.col("excluded_until").alias("ended_at"),
            pl.format("planned maintenance: {}", "reason").alias("what"),
        ),
        corrections.lazy().select(
            pl.lit("Correction").alias("lane"),
            pl.col("corrected_from").alias("started_at"),
            pl.col("corrected_until").alias("ended_at"),
            pl.format("correction: {}", "reason").alias("what"),
        ),
    ]
    sources = (alerts, incidents, tickets, anomalies, maintenance, corrections)
    # only the lanes with rows: most objectives have events in one or two, and every part of
    # the query costs time to plan
    events = [
        part.cast(TIMELINE_SCHEMA)  # type: ignore[arg-type]
        for source, part in zip(sources, parts, strict=True)
        if not source.is_empty()
    ]
    if not events:
        return pl.DataFrame(schema=TIMELINE_SCHEMA)
    return (
        pl.concat(events)
        .unique(maintain_order=True)
        .filter(
            pl.col("started_at") < utc_literal(end),
            pl.coalesce("ended_at", "started_at") >= utc_literal(start),
        )
        .sort("started_at", "lane", maintain_order=True)
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def timeline_figure(events: pl.DataFrame, start: datetime, end: datetime, time_zone: str) -> Figure:
    """The events of :func:`timeline_events` on one lane each over ``[start, end)``: periods as
    thick bars (an alert still firing runs to ``end``), points as markers; hover tells what."""
    local = (
        events.lazy()
        .with_columns(
            local_wall_clock("started_at", time_zone).alias("from"),
            local_wall_clock("ended_at", time_zone).alias("to"),
        )
        .with_columns(
            pl.concat_str(
                pl.col("from").dt.strftime("%Y-%m-%d %H:%M"),
                pl.when(pl.col("to").is_not_null())
                .then(pl.format(" → {}", pl.col("to").dt.strftime("%Y-%m-%d %H:%M")))
                .when(pl.col("lane") == "Alert")
                .then(pl.lit(" → still firing"))
                .otherwise(pl.lit("")),
            ).alias("when")
        )
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )
    local_end = local_time(end, time_zone)
    traces: list[dict[str, Any]] = []
    lanes = [lane for lane in TIMELINE_LANES if lane in set(local["lane"])]
    for lane in lanes:
        colour, symbol = TIMELINE_LANES[lane]
        rows = local.filter(pl.col("lane") == lane)
        spans = rows.filter(pl.col("ended_at").is_not_null() | (pl.col("lane") == "Alert"))
        if not spans.is_empty():
            traces.append(
                {
                    "type": "scatter",
                    "x": [
                        t
                        for f, u in spans.select("from", "to").rows()
                        for t in (f, u or local_end, None)
                    ],
                    "y": [lane] * (3 * spans.height),
                    "mode": "lines",
                    "line": {"color": colour, "width": 14},
                    "name": lane,
                    "legendgroup": lane,
                    "showlegend": False,
                    "hoverinfo": "skip",
                }
            )
        traces.append(
            {
                "type": "scatter",
                "x": rows["from"].to_list(),
                "y": [lane] * rows.height,
                "mode": "markers",
                "marker": {
                    "symbol": symbol,
                    "size": 11,
                    "color": colour,
                    "line": {"width": 1, "color": "#000000"},
                },
                "name": lane,
                "legendgroup": lane,
                "text": rows["what"].to_list(),
                "customdata": rows["when"].to_list(),
                "hovertemplate": "%{customdata}<br>%{text}<extra>" + lane + "</extra>",
            }
        )
    return {
        "data": traces,
        "layout": {
            "template": CHART_TEMPLATE,
            "title": {"text": "Timeline"},
            "height": max(200, 90 + 45 * len(lanes)),
            "showlegend": False,
            "margin": {"l": 130, "b": 50},
            "xaxis": {
                "title": {"text": f"time ({time_zone})"},
                "range": [local_time(start, time_zone), local_end],
            },
            "yaxis": {
                "type": "category",
                "categoryorder": "array",
                "categoryarray": list(reversed(lanes)),
            },
        },
    }
