"""What every chart shares: colours, the plotly template, zone-local times, labelled lines, the
HTML fragment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl

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
        "xaxis": {
            "gridcolor": "#E6E6E6",
            "linecolor": "#555555",
            "ticks": "outside",
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#E6E6E6",
            "linecolor": "#555555",
            "ticks": "outside",
            "automargin": True,
        },
        # The title sits below plotly's toolbar (at most 32 px tall, top right) and the legend at
        # the foot of the figure, under the axis title (plotly makes room for both).
        "title": {"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 34}},
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "margin": {"l": 85, "r": 20, "t": 75, "b": 40},
        "height": 360,
    }
)
"""A small template of our own: the stock ones add several kB to every chart."""


def local_wall_clock(column: str, time_zone: str) -> pl.Expr:
    """A UTC timestamp column as wall-clock time in ``time_zone`` (what the axis shows)."""
    return pl.col(column).dt.convert_time_zone(time_zone).dt.replace_time_zone(None)


def local_time(value: datetime, time_zone: str) -> datetime:
    return value.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


def hline(
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


def figure_html(figure: go.Figure, div_id: str) -> str:
    """The figure as an HTML fragment for a page that loads plotly.js itself (no CDN)."""
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
