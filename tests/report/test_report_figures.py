import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pipelines.report.figures.budget import budget_burndown, budget_burndown_figure
from pipelines.report.figures.burn import burn_rate_figure, hourly_burn_rates
from pipelines.report.figures.style import figure_html
from pipelines.report.figures.windows import window_figure


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


SLICES = pl.DataFrame(
    {
        "slice_start": [utc(2026, 3, 1, 0), utc(2026, 3, 1, 0, 5), utc(2026, 3, 1, 1)],
        "good": [99.0, 100.0, 198.0],
        "total": [100.0, 100.0, 200.0],
    },
    schema={"slice_start": pl.Datetime("us", "UTC"), "good": pl.Float64, "total": pl.Float64},
)


def test_budget_burndown_accumulates_bad_against_the_growing_budget_per_hour():
    burndown = budget_burndown(SLICES, 0.99, timedelta(minutes=5))
    assert burndown["ts"].to_list() == [utc(2026, 3, 1, 0, 10), utc(2026, 3, 1, 1, 5)]
    assert burndown["bad"].to_list() == [1.0, 3.0]
    assert burndown["total"].to_list() == [200.0, 400.0]
    assert burndown["error_budget"].to_list() == pytest.approx([2.0, 4.0])
    assert burndown["budget_remaining"].to_list() == pytest.approx([0.5, 0.25])


def test_budget_remaining_is_null_while_there_is_no_budget():
    empty_hour = SLICES.head(1).with_columns(pl.lit(0.0).alias("good"), pl.lit(0.0).alias("total"))
    assert budget_burndown(empty_hour, 0.99, timedelta(minutes=5))[
        "budget_remaining"
    ].to_list() == [None]


def test_budget_burndown_figure_draws_the_exhaustion_line_in_local_time():
    burndown = budget_burndown(SLICES, 0.99, timedelta(minutes=5))
    figure = budget_burndown_figure(
        burndown, utc(2026, 2, 28, 23), utc(2026, 3, 31, 22), "Europe/Berlin"
    )
    remaining, bad, budget = figure["data"]
    assert remaining["x"][0] == "2026-03-01T01:10:00"  # 00:10 UTC is 01:10 CET
    assert remaining["y"] == pytest.approx([0.5, 0.25])
    assert bad["y"] == [1.0, 3.0]
    assert budget["y"] == pytest.approx([2.0, 4.0])
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [0]
    assert figure["layout"]["xaxis"]["range"] == [datetime(2026, 3, 1), datetime(2026, 4, 1)]


def test_hourly_burn_rates_keep_each_hours_peak_over_the_last_days():
    burn_rates = pl.DataFrame(
        {
            "ts": [
                utc(2026, 2, 20, 9),
                utc(2026, 3, 9, 20),
                utc(2026, 3, 9, 20, 30),
                utc(2026, 3, 9, 21),
            ],
            "burn_1h": [99.0, 0.5, 20.0, 0.5],
            "burn_6h": [99.0, 3.0, 2.0, 1.0],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    hourly = hourly_burn_rates(burn_rates, days=14)
    assert hourly["hour"].to_list() == [utc(2026, 3, 9, 20), utc(2026, 3, 9, 21)]
    assert hourly["burn_1h"].to_list() == [20.0, 0.5]
    assert hourly["burn_6h"].to_list() == [3.0, 1.0]


def test_burn_rate_figure_has_both_lines_the_thresholds_and_the_alert_episode(tables):
    paylane = pl.col("objective_id") == "payments-availability"
    burn_rates, alerts = tables["burn_rates"].filter(paylane), tables["alerts"].filter(paylane)
    thresholds = [("page: 1h & 5m", 14.4), ("page: 6h & 30m", 6.0), ("ticket: 3d & 6h", 1.0)]
    figure = burn_rate_figure(hourly_burn_rates(burn_rates), alerts, thresholds, "America/New_York")
    assert [trace["name"] for trace in figure["data"]] == [
        "6h burn rate (hourly max)",
        "1h burn rate (hourly max)",
    ]
    assert max(figure["data"][1]["y"]) == 20.0
    shapes = figure["layout"]["shapes"]
    lines = [shape for shape in shapes if shape["type"] == "line"]
    assert [line["y0"] for line in lines] == [14.4, 6.0, 1.0]
    (episode,) = [shape for shape in shapes if shape["type"] == "rect"]
    # Started 20:00 UTC = 16:00 EDT; still firing, so it runs to the end of the last hour drawn.
    assert episode["x0"] == datetime(2026, 3, 9, 16)
    assert episode["x1"] == datetime(2026, 3, 10, 9)
    # Named in the legend (labels on the plot printed over each other), each name once.
    assert [shape["name"] for shape in shapes if shape["showlegend"]] == [
        "threshold page: 1h & 5m > 14.4",
        "threshold page: 6h & 30m > 6",
        "threshold ticket: 3d & 6h > 1",
        "page alert",
    ]
    assert "annotations" not in figure["layout"]


def test_window_figure_tells_status_by_label_and_pattern_in_window_order(tables):
    windows = tables["windows"].filter(pl.col("objective_id") == "compute-availability")
    figure = window_figure(windows.reverse(), "Europe/Berlin")
    bars = [trace for trace in figure["data"] if trace["type"] == "bar"]
    assert [bar["name"] for bar in bars] == ["✔ Met", "✖ Breached", "● On track"]
    breached = bars[1]
    assert breached["x"] == ["2026-02"]
    assert breached["text"] == ["99.940%<br>Breached"]
    assert breached["marker"]["pattern"]["shape"] == "x"
    assert bars[0]["marker"]["pattern"]["shape"] != "x"
    layout = figure["layout"]
    assert layout["xaxis"]["categoryarray"] == ["2026-01", "2026-02", "2026-03"]
    target = figure["data"][-1]
    assert target["name"] == "target" and set(target["y"]) == {0.9995}
    assert layout["yaxis"]["range"][0] < 0.9994 < 0.9998 < layout["yaxis"]["range"][1]


def test_window_figure_marks_windows_without_data(tables):
    windows = (
        tables["windows"]
        .filter(pl.col("objective_id") == "compute-availability")
        .with_columns(
            pl.when(pl.col("window_label") == "2026-01")
            .then(pl.lit("no_data"))
            .otherwise("status")
            .alias("status"),
            pl.when(pl.col("window_label") == "2026-01")
            .then(None)
            .otherwise("attainment")
            .alias("attainment"),
        )
    )
    figure = window_figure(windows, "Europe/Berlin")
    (marker,) = [
        trace
        for trace in figure["data"]
        if trace["type"] == "scatter" and trace.get("mode") == "text"
    ]
    assert marker["x"] == ["2026-01"]
    assert marker["text"] == ["? No data"]


def test_figure_html_is_a_fragment_without_plotly_js(tables):
    figure = window_figure(tables["windows"].head(2), "UTC")
    html = figure_html(figure, "chart-x")
    assert 'id="chart-x"' in html
    assert "<html" not in html and "<script src" not in html
    assert len(html) < 20_000


def test_figure_html_keeps_text_inside_its_script_and_serialises_as_plotly_does():
    hostile = "</script><script>alert(1)</script><!-- \u2028\u2029 ✔"
    figure = {
        "data": [
            {
                "type": "scatter",
                "x": [datetime(2026, 3, 1, 1, 10), datetime(2026, 3, 1, 2, 0, 0, 500)],
                "y": [float("nan"), float("inf")],
                "text": [hostile, "NaN"],
            }
        ],
        "layout": {"title": {"text": hostile}, "height": 460},
    }
    html = figure_html(figure, "chart-x")
    script = html.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    # Nothing in the JSON closes the script, opens a comment or ends a line in JavaScript.
    for unsafe in ("<", ">", "/", "\u2028", "\u2029", "✔"):
        assert unsafe not in script
    assert html.startswith('<div style="height:460px; width:100%;">')
    assert script.startswith("Plotly.newPlot(") and script.endswith(");")
    div_id, data, layout, config = json.loads(f"[{script.removeprefix('Plotly.newPlot(')[:-2]}]")
    assert div_id == "chart-x"
    assert data == [
        {
            "type": "scatter",
            "x": ["2026-03-01T01:10:00", "2026-03-01T02:00:00.000500"],
            "y": [None, None],
            "text": [hostile, "NaN"],
        }
    ]
    assert layout["title"]["text"] == hostile
    assert config == {"displaylogo": False, "responsive": True}


def test_burn_rate_figure_marks_the_anomalies_from_the_first_hour_drawn(tables):
    paylane = pl.col("objective_id") == "payments-availability"
    burn_rates, alerts = tables["burn_rates"].filter(paylane), tables["alerts"].filter(paylane)
    anomalies = tables["anomalies"].filter(pl.col("member") == "payments-api")
    figure = burn_rate_figure(
        hourly_burn_rates(burn_rates), alerts, [], "America/New_York", anomalies
    )
    (markers,) = [trace for trace in figure["data"] if trace["name"] == "anomaly: error_ratio"]
    # 20:15 and 20:40 UTC in New York; the one of 2026-03-07 precedes the first hour drawn.
    assert markers["x"] == [datetime(2026, 3, 9, 16, 15), datetime(2026, 3, 9, 16, 40)]
    assert markers["y"] == [0.0, 0.0]
    assert [score for _value, score in markers["customdata"]] == [0.97, 0.81]
