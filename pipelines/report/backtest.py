"""The backtest page (``reports/backtest.html``, written by ``pledge backtest``): the methods'
firing metrics, the reliability of their breach probabilities per decile with a reliability
plot, and their Brier scores. Inputs are the backtest's frames (``predict.backtest`` and
``predict.calibration``); nothing is read from the warehouse."""

from __future__ import annotations

from pathlib import Path

import plotly.offline
import polars as pl
from markupsafe import Markup

from pipelines.report.figures.style import CHART_TEMPLATE, Figure, figure_html
from pipelines.report.paths import BACKTEST_PAGE
from pipelines.report.render import PLOTLY_JS, template_environment


def reliability_figure(reliability: pl.DataFrame) -> Figure:
    """Observed breach frequency against mean predicted p_breach, one line per method (a point
    per decile, its size growing with the predictions in it), and the diagonal of perfect
    calibration. Input: calibration.RELIABILITY_SCHEMA rows."""
    diagonal = {
        "type": "scatter",
        "x": [0, 1],
        "y": [0, 1],
        "mode": "lines",
        "name": "perfectly calibrated",
        "line": {"color": "#999999", "dash": "dash"},
        "hoverinfo": "skip",
    }
    methods = [
        {
            "type": "scatter",
            "x": rows["mean_predicted"].to_list(),
            "y": rows["observed"].to_list(),
            "mode": "lines+markers",
            "name": str(method),
            "marker": {"size": [6 + 2 * n**0.25 for n in rows["predictions"].to_list()]},
            "customdata": rows.select("bin_low", "bin_high", "predictions", "windows").rows(),
            "hovertemplate": "p_breach %{customdata[0]:.1f}–%{customdata[1]:.1f}: mean %{x:.3f},"
            " observed %{y:.3f} (%{customdata[2]} predictions, %{customdata[3]} windows)"
            f"<extra>{method}</extra>",
        }
        for (method,), rows in reliability.group_by("method", maintain_order=True)
    ]
    return {
        "data": [diagonal, *methods],
        "layout": {
            "template": CHART_TEMPLATE,
            "xaxis": {
                "title": {"text": "predicted p_breach (mean per decile)"},
                "range": [-0.02, 1.02],
            },
            "yaxis": {"title": {"text": "observed breach frequency"}, "range": [-0.02, 1.02]},
            "height": 460,
        },
    }


def write_backtest_page(
    out_dir: Path,
    metrics: pl.DataFrame,
    reliability: pl.DataFrame,
    brier: pl.DataFrame,
    warehouse: str,
    every: str,
) -> Path:
    """Write BACKTEST_PAGE (and plotly.js when missing) into ``out_dir``. Inputs:
    backtest.METRICS_SCHEMA, calibration.RELIABILITY_SCHEMA and calibration.BRIER_SCHEMA rows;
    ``warehouse`` and ``every`` as the backtest ran."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plotly_js = out_dir / PLOTLY_JS
    if not plotly_js.exists():
        plotly_js.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    page = out_dir / BACKTEST_PAGE
    page.write_text(
        template_environment()
        .get_template("backtest.html.j2")
        .render(
            metrics=metrics.to_dicts(),
            reliability=reliability.to_dicts(),
            brier=brier.to_dicts(),
            reliability_chart=Markup(figure_html(reliability_figure(reliability), "reliability")),
            warehouse=warehouse,
            every=every,
            as_of=None,
        ),
        encoding="utf-8",
    )
    return page
