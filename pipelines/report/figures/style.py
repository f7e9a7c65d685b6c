"""What every chart shares: the figure as plain data, colours, the plotly template, zone-local
times, labelled lines, the HTML fragment."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from markupsafe import escape

Figure = dict[str, Any]
"""A plotly figure as plain data, what ``Plotly.newPlot`` takes: ``{"data": [trace, ...],
"layout": {...}}``, each trace a dict naming its ``type`` ("scatter", "bar", "box"), times as
zone-local datetimes or their ISO text (:func:`local_iso_text`). Charts are built so rather than
as plotly's graph objects, which validate (and deep-copy) every property at several times the
cost of the whole page."""

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
BAD_COLOUR = "#D55E00"
BUDGET_COLOUR = "#0072B2"
CONE_COLOUR = "#CC79A7"
CONE_FILL = "rgba(204, 121, 167, 0.2)"
BURN_1H_COLOUR = "#0072B2"
BURN_6H_COLOUR = "#E69F00"
ALERT_FILL = {"page": "rgba(213, 94, 0, 0.15)", "ticket": "rgba(230, 159, 0, 0.12)"}
THRESHOLD_DASHES = ("dash", "dot", "dashdot", "longdash")

CHART_TEMPLATE: dict[str, Any] = {
    "layout": {
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
}
"""A small template of our own (every chart's ``layout.template``): the stock ones add several kB
to every chart."""


def local_wall_clock(column: str, time_zone: str) -> pl.Expr:
    """A UTC timestamp column as wall-clock time in ``time_zone`` (what the axis shows)."""
    return pl.col(column).dt.convert_time_zone(time_zone).dt.replace_time_zone(None)


def local_iso_text(column: str, time_zone: str) -> pl.Expr:
    """:func:`local_wall_clock` as ISO text, what :func:`script_json` makes of each datetime (the
    long time axes are converted at once: one by one they are most of a chart's serialising)."""
    return local_wall_clock(column, time_zone).dt.to_string("%Y-%m-%dT%H:%M:%S%.f")


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


PLOT_CONFIG = {"displaylogo": False, "responsive": True}
"""The config of every chart: no plotly logo in the toolbar, redrawn to its div's width."""


def figure_html(figure: Figure, div_id: str) -> str:
    """The figure as an HTML fragment for a page that loads plotly.js itself (no CDN): a box of
    the figure's height holding the chart's div and the script drawing it there (the fragment of
    ``plotly.io.to_html``, less its ``window.PLOTLYENV`` line and its check that the div exists)."""
    layout = figure["layout"]
    height = layout.get("height", CHART_TEMPLATE["layout"]["height"])
    return (
        f'<div style="height:{height}px; width:100%;">'
        f'<div id="{escape(div_id)}" class="plotly-graph-div" style="height:100%; width:100%;">'
        f"</div><script>Plotly.newPlot({script_json(div_id)}, {script_json(figure['data'])}, "
        f"{script_json(layout)}, {script_json(PLOT_CONFIG)});</script></div>"
    )


def script_json(value: Any) -> str:
    """``value`` as JSON to put in a ``<script>`` element, serialised as plotly.io does:
    datetimes and dates as ISO strings, NaN and infinities as null, ``<``, ``>`` and ``/``
    escaped (no text can close the script or open a comment) and every other non-ASCII
    character too (U+2028 and U+2029 among them)."""
    text = json.dumps(value, separators=(",", ":"), default=_iso_format)
    if "NaN" in text or "Infinity" in text:  # perhaps only inside a string: parsed to be sure
        text = json.dumps(json.loads(text, parse_constant=lambda _: None), separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")


def _iso_format(value: object) -> str:
    """A datetime or date as ISO text (json.dumps' ``default``); anything else is an error."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
