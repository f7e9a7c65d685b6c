"""The budget overview of the portfolio and contract pages: budget left per objective."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.report.figures.style import (
    BAD_COLOUR,
    CHART_TEMPLATE,
    Figure,
)
from pipelines.report.formatting import status_style


def budget_overview_figure(objectives: pl.DataFrame, label: str = "title") -> Figure:
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
    traces: list[dict[str, Any]] = []
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
        traces.append(
            {
                "type": "bar",
                "x": [0.0 if x is None else x for x in group["x"]],
                "y": group[label].to_list(),
                "orientation": "h",
                "name": f"{style.symbol} {style.label}",
                "marker": {
                    "color": style.colour,
                    "line": {"color": "#333333", "width": 1},
                    "pattern": {"shape": style.pattern, "fgcolor": "#333333", "solidity": 0.25},
                },
                "customdata": texts,
                "hovertemplate": "%{y}: %{customdata}<extra></extra>",
            }
        )
        traces.append(  # the label right of the bar, or of the 0 line for a negative one
            {
                "type": "scatter",
                "x": [max(x or 0.0, 0.0) + 0.02 for x in group["x"]],
                "y": group[label].to_list(),
                "mode": "text",
                "text": texts,
                "textposition": "middle right",
                "textfont": {"color": "#000000", "size": 11},
                "cliponaxis": False,
                "hoverinfo": "skip",
            }
        )
    return {
        "data": traces,
        "layout": {
            "template": CHART_TEMPLATE,
            "title": {"text": "Error budget left in the current window"},
            "height": 110 + 34 * len(names),
            "barmode": "overlay",
            "showlegend": False,
            "margin": {"l": 20, "r": 20, "t": 75, "b": 40},
            "shapes": [
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
            ],
            "xaxis": {
                "range": [-1.05, 2.3],
                "tickformat": ".0%",
                "tickvals": [-1, -0.5, 0, 0.5, 1],
                "title": {"text": "budget left (exhausted at the dashed line; clipped at −100%)"},
            },
            "yaxis": {
                "type": "category",
                "categoryorder": "array",
                "categoryarray": list(reversed(names)),
                "automargin": True,
            },
        },
    }
