"""The charts of an objective's windows and items: attainment (or the statistic) per window,
business time of every ticket per priority, RPO exposure of backups.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.report.figures.style import (
    BAD_COLOUR,
    BUDGET_COLOUR,
    CHART_TEMPLATE,
    Figure,
    hline,
    local_wall_clock,
)
from pipelines.report.formatting import format_measure, format_target, status_style


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
) -> Figure:
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
        windows.lazy()
        .sort("window_start")
        .with_columns(
            local_wall_clock(column, time_zone)
            .dt.strftime("%Y-%m-%d %H:%M")
            .alias(f"local_{column}")
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
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )
    if judged_on == "share":
        shares = ordered.select(pl.concat_list("y", "y_target").explode().drop_nulls())
        floor = shares.to_series().min() if shares.height else 0.99
        span = max(1.0 - floor, 0.0005)
        axis_low = max(0.0, floor - 0.6 * span)
        yaxis: dict[str, Any] = {
            "range": [axis_low, 1.0 + 0.05 * span],
            "tickformat": ".3%",
            "title": {"text": "attainment"},
        }
    else:
        axis_low = 0.0 if judged_on == "duration" else -100.0
        yaxis = {
            "rangemode": "tozero",
            "title": {"text": "hours" if judged_on == "duration" else "NPS (points)"},
        }
    traces: list[dict[str, Any]] = []
    for (status,), rows in ordered.partition_by(
        "status", as_dict=True, maintain_order=True
    ).items():
        style = status_style(status)
        has_value = rows["y"].is_not_null()
        bar: dict[str, Any] = {
            "type": "bar",
            "x": rows["window_label"].to_list(),
            "y": rows["y"].to_list(),
            "name": f"{style.symbol} {style.label}",
            "marker": {
                "color": style.colour,
                "line": {"color": "#333333", "width": 1},
                "pattern": {"shape": style.pattern, "fgcolor": "#333333", "solidity": 0.25},
            },
            "text": [
                f"{format_measure(v, judged_on, t)}<br>{style.label}"
                for v, t in zip(rows["value"], rows["target"], strict=True)
            ],
            "textposition": "inside",
            "insidetextanchor": "end",
            "textfont": {"color": style.text_colour},
            "customdata": rows.select("local_window_start", "local_window_end").rows(),
            "hovertemplate": "%{x}: %{text}<br>%{customdata[0]} → %{customdata[1]}<extra></extra>",
            "showlegend": True,
        }
        if rows["error_plus"].is_not_null().any():
            bar["error_y"] = {
                "type": "data",
                "array": rows["error_plus"].to_list(),
                "arrayminus": rows["error_minus"].to_list(),
                "color": "#000000",
                "thickness": 1.5,
            }
        traces.append(bar)
        if not has_value.all():
            empty = rows.filter(~has_value)
            traces.append(
                {
                    "type": "scatter",
                    "x": empty["window_label"].to_list(),
                    "y": [axis_low] * empty.height,
                    "mode": "text",
                    "text": [
                        f"{style.symbol} "
                        + (style.label if v is None else format_measure(v, judged_on))
                        for v in empty["value"]
                    ],
                    "textposition": "top center",
                    "showlegend": False,
                    "hoverinfo": "skip",
                }
            )
    traces.append(
        {
            "type": "scatter",
            "x": ordered["window_label"].to_list(),
            "y": ordered["y_target"].to_list(),
            "mode": "lines+markers",
            "line": {"color": "#000000", "dash": "dash", "shape": "hvh", "width": 2},
            "marker": {"symbol": "line-ew-open", "size": 14},
            "name": "target",
            "text": [format_target(t, judged_on) for t in ordered["target"]],
            "hovertemplate": "target %{text}<extra></extra>",
        }
    )
    title = {"share": "Attainment", "duration": "Measured time", "points": "NPS"}[judged_on]
    if judged_on == "duration" and statistic:
        title = statistic.capitalize()
    return {
        "data": traces,
        "layout": {
            "template": CHART_TEMPLATE,
            "title": {"text": f"{title} per window"},
            "barmode": "overlay",
            "uniformtext": {"minsize": 9, "mode": "hide"},
            "xaxis": {
                "tickangle": -45,
                "type": "category",
                "categoryorder": "array",
                "categoryarray": ordered["window_label"].to_list(),
                "title": {"text": f"window ({time_zone})"},
            },
            "yaxis": yaxis,
        },
    }


def ticket_times_figure(timers: pl.DataFrame, target: float | None) -> Figure:
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
    boxes = [
        {
            "type": "box",
            "x": [priority] * rows.height,
            "y": rows["hours"].to_list(),
            "name": priority,
            "boxpoints": "all",
            "jitter": 0.4,
            "pointpos": 0,
            "marker": {"size": 3, "opacity": 0.5, "color": BUDGET_COLOUR},
            "line": {"color": "#333333"},
            "fillcolor": "rgba(0, 114, 178, 0.12)",
            "showlegend": False,
            "hovertemplate": priority + ": %{y:.1f} h<extra></extra>",
        }
        for (priority,), rows in completed.partition_by(
            "priority", as_dict=True, maintain_order=True
        ).items()
    ]
    targets = completed.group_by("priority", maintain_order=True).agg(pl.col("target_hours").max())
    targets = targets.filter(pl.col("target_hours").is_not_null())
    marks = {
        "type": "scatter",
        "x": targets["priority"].to_list(),
        "y": targets["target_hours"].to_list(),
        "mode": "markers",
        "marker": {"symbol": "line-ew-open", "size": 44, "line": {"width": 3, "color": BAD_COLOUR}},
        "name": "target",
        "text": [format_target(h * 3600, "duration") for h in targets["target_hours"]],
        "hovertemplate": "%{x}: target %{text}<extra></extra>",
    }
    return {
        "data": [*boxes, marks],
        "layout": {
            "template": CHART_TEMPLATE,
            "title": {"text": "Business resolution time per priority"},
            "xaxis": {"type": "category", "title": {"text": "priority"}},
            "yaxis": {"type": "log", "title": {"text": "hours (log scale)"}},
        },
    }


def exposure_figure(spans: pl.DataFrame, target: float, time_zone: str) -> Figure:
    """RPO exposure over time: from each good backup the exposure grows until the next one.

    ``spans``: one RPO objective's ``sla.outcomes`` rows (counted_at = a good backup's finish,
    value = seconds until the next one). Drawn as a saw-tooth in hours against the target.
    """
    local = spans.sort("counted_at").with_columns(
        local_wall_clock("counted_at", time_zone).alias("from"),
        (
            local_wall_clock("counted_at", time_zone)
            + pl.duration(microseconds=pl.col("value") * 1e6)
        ).alias("to"),
        (pl.col("value") / 3600).alias("hours"),
    )
    x = [t for start, end in local.select("from", "to").rows() for t in (start, end, None)]
    y = [h for hours in local["hours"] for h in (0.0, hours, None)]
    shape, annotation = hline(
        target / 3600,
        {"color": BAD_COLOUR, "dash": "dash", "width": 2},
        f"target {format_target(target, 'duration')}",
    )
    return {
        "data": [
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "mode": "lines",
                "line": {"color": BUDGET_COLOUR, "width": 2},
                "name": "exposure",
                "hovertemplate": "%{x|%Y-%m-%d %H:%M}: %{y:.1f} h since the last good backup"
                "<extra></extra>",
            }
        ],
        "layout": {
            "shapes": [shape],
            "annotations": [annotation],
            "template": CHART_TEMPLATE,
            "title": {"text": "Data-loss exposure (time since the last good backup)"},
            "xaxis": {"title": {"text": f"time ({time_zone})"}},
            "yaxis": {"title": {"text": "hours"}, "rangemode": "tozero"},
        },
    }
