"""The drill-down page of one objective: the burn-down's forecast cone, the timeline, credits and
review recommendations; print styles and colour contrast of every page."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.report.figures.budget import forecast_cone
from pipelines.report.figures.overview import budget_overview_figure
from pipelines.report.figures.timeline import TIMELINE_SCHEMA, timeline_events, timeline_figure
from pipelines.report.formatting import STATUS_STYLES, UNKNOWN_STATUS
from pipelines.report.render import ReportSet, render_reports
from pipelines.report.summary import objective_summary

TS = pl.Datetime("us", "UTC")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# storage-uptime's current window (tests/report/conftest.py): 8 bad of 10,000 minutes, target
# 99.9% (budget 10 minutes, 20% left); forecasts: 60 minutes an hour at a 1% bad ratio.
CURRENT = {
    "good": 9_992.0,
    "total": 10_000.0,
    "target": 0.999,
    "as_of": utc(2026, 3, 10, 12),
    "window_end": utc(2026, 3, 31, 22),
}
PREDICTION = {"attainment_low": 0.9981, "attainment_high": 0.9993}


@pytest.fixture
def report(tmp_path: Path, contracts, tables) -> ReportSet:
    return render_reports(tmp_path / "reports", contracts, tables)


def _page(report: ReportSet, contract_id: str, objective_id: str) -> str:
    return report.objective_pages[(contract_id, objective_id)].read_text(encoding="utf-8")


def _figure(page: str, div_id: str) -> dict:
    """The data and layout a page hands to Plotly.newPlot for the chart ``div_id``."""
    call = page.split(f'Plotly.newPlot("{div_id}",')[1].lstrip()
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(call)
    layout, _ = decoder.raw_decode(call[end:].lstrip(", \n"))
    return {"data": data, "layout": layout}


def test_forecast_cone_adds_the_expected_bad_and_opens_to_the_simulated_percentiles(tables):
    cone = forecast_cone(tables["forecasts"], CURRENT, PREDICTION)
    assert cone["ts"].to_list() == [
        utc(2026, 3, 10, 12),
        utc(2026, 3, 10, 13),
        utc(2026, 3, 10, 14),
    ]
    # Budget left: 1 − 8 / 10, then 1 − 8.6 / 10.06, then 1 − 9.2 / 10.12.
    expected = [0.2, 1 - 8.6 / 10.06, 1 - 9.2 / 10.12]
    assert cone["expected"].to_list() == pytest.approx(expected)
    # At the end the band is the budget left at 99.81% and 99.93%: 1 − 1.9 = −0.9 and 0.3; half
    # the remaining volume is counted after the first hour, so the band is half open there.
    low_end, high_end = -0.9, 0.3
    assert cone["low"].to_list() == pytest.approx(
        [0.2, expected[1] - 0.5 * (expected[2] - low_end), low_end]
    )
    assert cone["high"].to_list() == pytest.approx(
        [0.2, expected[1] + 0.5 * (high_end - expected[2]), high_end]
    )


def test_forecast_cone_without_a_prediction_or_a_forecast(tables):
    without_band = forecast_cone(tables["forecasts"], CURRENT, None)
    assert without_band["expected"].len() == 3 and without_band["low"].is_null().all()
    # Only a volume forecast (e.g. series other than volume and bad_ratio): no cone at all.
    volume_only = tables["forecasts"].filter(pl.col("series") == "volume")
    assert forecast_cone(volume_only, CURRENT, PREDICTION).is_empty()
    assert forecast_cone(tables["forecasts"].clear(), CURRENT, PREDICTION).is_empty()
    # A window without an as-of time or an end (none measured yet): no cone either.
    for unknown in ("as_of", "window_end"):
        assert forecast_cone(tables["forecasts"], {**CURRENT, unknown: None}, None).is_empty()
    # Hours already over by the as-of time are left out.
    later = {**CURRENT, "as_of": utc(2026, 3, 10, 13, 30)}
    assert forecast_cone(tables["forecasts"], later, None)["ts"].to_list() == [
        utc(2026, 3, 10, 13, 30),
        utc(2026, 3, 10, 14),
    ]


def test_timeline_events_keep_what_overlaps_the_period_in_time_order():
    start, end = utc(2026, 3, 1), utc(2026, 3, 11)
    alerts = pl.DataFrame(
        {
            "severity": ["page", "ticket"],
            "started_at": [utc(2026, 3, 9, 20), utc(2026, 2, 1)],  # the second one ended before
            "ended_at": [None, utc(2026, 2, 2)],
            "peak_burn_rate": [18.5, 3.0],
        },
        schema_overrides={"started_at": TS, "ended_at": TS},
    )
    tickets = pl.DataFrame(
        {
            "ticket_id": ["INC1", "INC2"],
            "priority": ["P1", "P1"],
            "started_at": [utc(2026, 3, 2), utc(2026, 3, 3)],
            "stopped_at": [utc(2026, 3, 2, 6), utc(2026, 3, 3, 1)],
            "breach_at": [utc(2026, 3, 2, 4), utc(2026, 3, 3, 4)],
            "breached": [True, False],
        },
        schema_overrides={"started_at": TS, "stopped_at": TS, "breach_at": TS},
    )
    incidents = pl.DataFrame(
        {
            "item_id": ["SIR1", "SIR2"],
            "counted_at": [utc(2026, 3, 4, 1), utc(2026, 3, 6)],  # contained; the second is open
            "value": [3600.0, float("inf")],
            "detail": ["high, contain 1.0 h", "low, contain (open)"],
        },
        schema_overrides={"counted_at": TS},
    )
    anomalies = pl.DataFrame(
        {"metric": ["error_ratio"], "ts": [utc(2026, 3, 9, 19, 45)], "value": [0.05], "score": [0.97]},
        schema_overrides={"ts": TS},
    )  # fmt: skip
    maintenance = pl.DataFrame(
        {
            "excluded_from": [utc(2026, 3, 1, 2), utc(2026, 3, 15, 2)],  # the second one after
            "excluded_until": [utc(2026, 3, 1, 2, 30), utc(2026, 3, 15, 2, 30)],
            "reason": ["patch", "patch"],
        },
        schema_overrides={"excluded_from": TS, "excluded_until": TS},
    )
    corrections = pl.DataFrame(
        {
            "corrected_from": [utc(2026, 2, 28, 23)],  # began before the period, ends inside
            "corrected_until": [utc(2026, 3, 1, 1)],
            "reason": ["probe <misconfigured>"],
        },
        schema_overrides={"corrected_from": TS, "corrected_until": TS},
    )
    events = timeline_events(
        alerts, incidents, tickets, anomalies, maintenance, corrections, start, end
    )
    assert events.rows() == [
        ("Correction", utc(2026, 2, 28, 23), utc(2026, 3, 1, 1), "correction: probe <misconfigured>"),
        ("Maintenance", utc(2026, 3, 1, 2), utc(2026, 3, 1, 2, 30), "planned maintenance: patch"),
        ("Breached ticket", utc(2026, 3, 2, 4), utc(2026, 3, 2, 6), "ticket INC1 (P1) breached its target"),
        ("Security incident", utc(2026, 3, 4), utc(2026, 3, 4, 1), "incident SIR1: high, contain 1.0 h"),
        ("Security incident", utc(2026, 3, 6), utc(2026, 3, 6), "incident SIR2: low, contain (open)"),
        ("Anomaly", utc(2026, 3, 9, 19, 45), None, "error_ratio anomalous: 0.05 (score 0.97)"),
        ("Alert", utc(2026, 3, 9, 20), None, "page alert, peak burn rate 18.5×"),
    ]  # fmt: skip
    figure = timeline_figure(events, start, end, "UTC")
    lanes = [trace["name"] for trace in figure["data"] if trace["mode"] == "markers"]
    assert lanes == [
        "Alert", "Security incident", "Breached ticket", "Anomaly", "Maintenance", "Correction"
    ]  # fmt: skip
    firing = next(t for t in figure["data"] if t["name"] == "Alert" and t["mode"] == "lines")
    # Still firing: runs to the end.
    assert firing["x"] == [datetime(2026, 3, 9, 20), datetime(2026, 3, 11), None]


def test_timeline_events_alike_in_time_and_lane_keep_their_order_and_none_give_an_empty_frame():
    """Two anomalies at one time (two metrics of the service) in the order of the input, in
    either order; no events at all: an empty frame of the timeline's schema."""
    start, end = utc(2026, 3, 1), utc(2026, 3, 11)
    anomalies = pl.DataFrame(
        {"metric": ["request_rate", "latency_p99"], "ts": [utc(2026, 3, 9)] * 2,
         "value": [3.057, 0.2731], "score": [0.68, 0.67]},
        schema_overrides={"ts": TS},
    )  # fmt: skip
    before = (  # alerts, security incidents, tickets: none
        pl.DataFrame(schema={"severity": pl.String, "started_at": TS, "ended_at": TS,
                             "peak_burn_rate": pl.Float64}),
        pl.DataFrame(schema={"item_id": pl.String, "counted_at": TS, "value": pl.Float64,
                             "detail": pl.String}),
        pl.DataFrame(schema={"ticket_id": pl.String, "priority": pl.String, "started_at": TS,
                             "stopped_at": TS, "breach_at": TS, "breached": pl.Boolean}),
    )  # fmt: skip
    after = (  # maintenance, corrections: none
        pl.DataFrame(schema={"excluded_from": TS, "excluded_until": TS, "reason": pl.String}),
        pl.DataFrame(schema={"corrected_from": TS, "corrected_until": TS, "reason": pl.String}),
    )  # fmt: skip
    for ordered in (anomalies, anomalies.reverse()):
        events = timeline_events(*before, ordered, *after, start, end)
        assert [what.split(" ")[0] for what in events["what"]] == ordered["metric"].to_list()
    nothing = timeline_events(*before, anomalies.clear(), *after, start, end)
    assert nothing.is_empty() and nothing.schema == pl.Schema(TIMELINE_SCHEMA)


def test_budget_overview_draws_a_bar_per_objective_clipped_and_labelled(tables):
    summary = objective_summary(tables["objectives"], tables["windows"], tables["breach_risk"])
    figure = budget_overview_figure(summary, "objective_id")
    bars = {trace["name"]: trace for trace in figure["data"] if trace["type"] == "bar"}
    assert list(bars) == ["✖ Breaching", "▲ At risk", "? No data", "● On track"]
    assert bars["✖ Breaching"]["x"] == [-0.5] and bars["▲ At risk"]["x"] == [0.2]
    assert bars["? No data"]["x"] == [0.0]  # no bar length, only its label
    labels = [
        text for trace in figure["data"] if trace["type"] == "scatter" for text in trace["text"]
    ]
    assert labels == [
        "✖ Breaching: -50.0% of the budget left",
        "▲ At risk: 20.0% of the budget left, breach risk 62%",
        "? No data: no error budget (no current window)",
        "● On track: 40.0% of the budget left",
    ]
    assert figure["layout"]["yaxis"]["categoryarray"] == [
        "compute-availability", "api-availability", "storage-uptime", "payments-availability"
    ]  # fmt: skip
    below = summary.with_columns(budget_remaining=pl.lit(-3.0))
    clipped = budget_overview_figure(below, "objective_id")
    assert {x for trace in clipped["data"] if trace["type"] == "bar" for x in trace["x"]} == {-1.0}


def test_objective_page_draws_the_cone_and_lists_the_timeline_events(report: ReportSet):
    page = _page(report, "acme-cloud", "storage-uptime")
    budget = _figure(page, "storage-uptime-budget")
    cone = {trace["name"]: trace for trace in budget["data"] if "forecast" in trace["name"]}
    assert sorted(cone) == ["forecast (expected)", "forecast 10–90 %"]
    expected = cone["forecast (expected)"]
    # Drawn in Berlin time: 12:00 UTC is 13:00 CET.
    assert expected["x"] == ["2026-03-10T13:00:00", "2026-03-10T14:00:00", "2026-03-10T15:00:00"]
    assert expected["y"] == pytest.approx([0.2, 1 - 8.6 / 10.06, 1 - 9.2 / 10.12])
    band = [trace for trace in budget["data"] if trace["name"] == "forecast 10–90 %"]
    assert [trace["y"][-1] for trace in band] == pytest.approx([-0.9, 0.3])
    assert "shaded: its 10–90 % band" in page

    timeline = page.split('<section class="print-page" id="timeline">')[1].split("</section>")[0]
    rows = [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", timeline.split("<tbody>")[1], re.S)
    ]  # fmt: skip
    # The weekly patch window of object-storage (Sundays 03:00 Berlin), the ticket alert and the
    # probe-failure anomaly; from 14 days before the as-of time to the window's end.
    assert "From 2026-02-24 13:00 CET to 2026-04-01 00:00 CEST" in timeline
    assert rows[:3] == [
        ["2026-03-01 03:00 CET", "2026-03-01 03:30 CET", "Maintenance", "planned maintenance: weekly patch window"],
        ["2026-03-05 01:00 CET", "2026-03-06 07:30 CET", "Alert", "ticket alert, peak burn rate 2.25×"],
        ["2026-03-08 03:00 CET", "2026-03-08 03:30 CET", "Maintenance", "planned maintenance: weekly patch window"],
    ]  # fmt: skip
    assert [
        "2026-03-09 11:00 CET",
        "—",
        "Anomaly",
        "probe_failure anomalous: 0.5 (score 0.9)",
    ] in rows
    assert rows[-1][0] == "2026-03-29 03:00 CEST"  # maintenance ahead, after the switch to CEST
    timeline_chart = _figure(page, "storage-uptime-timeline")
    assert {trace["name"] for trace in timeline_chart["data"]} == {
        "Alert",
        "Anomaly",
        "Maintenance",
    }


def test_objective_page_shows_its_credits_and_links_back(report: ReportSet):
    page = _page(report, "acme-cloud", "storage-uptime")
    credits = page.split('id="credits"')[1].split("</section>")[0]
    assert "7,200.00 EUR" in credits and "(capped from 25.00%)" in credits
    assert "4,800.00 EUR" not in credits  # compute-availability's credit
    assert 'href="contract-acme-cloud.html"' in page and 'href="index.html"' in page
    assert "No recommendation for this objective." in page


def test_review_recommendations_are_on_the_contract_and_the_objective_page(
    tmp_path: Path, contracts, tables
):
    # compute-availability breached 2025-11 and 2025-12 too: 3 of its 4 complete windows.
    windows = tables["windows"]
    february = windows.filter(
        pl.col("objective_id") == "compute-availability", pl.col("window_label") == "2026-02"
    )
    earlier = pl.concat(
        february.with_columns(
            window_label=pl.lit(label),
            window_start=pl.lit(start, TS),
            window_end=pl.lit(end, TS),
        )
        for label, start, end in (
            ("2025-11", utc(2025, 10, 31, 23), utc(2025, 11, 30, 23)),
            ("2025-12", utc(2025, 11, 30, 23), utc(2025, 12, 31, 23)),
        )
    )
    report = render_reports(
        tmp_path, contracts, {**tables, "windows": pl.concat([windows, earlier])}
    )
    contract = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    section = contract.split('id="recommendations"')[1].split("<h2")[0]
    row = re.search(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", section, re.S)
    assert row is not None
    assert (
        'href="objective-acme-cloud~compute-availability.html">Compute API answers</a>'
        in row.group(1)
    )
    assert "<strong>Renegotiate or invest</strong>" in row.group(1)
    assert "3 of" in row.group(1)  # the reason gives the figures
    page = _page(report, "acme-cloud", "compute-availability")
    recommendations = page.split('id="recommendations"')[1].split("</section>")[0]
    assert "<strong>Renegotiate or invest</strong>" in recommendations
    assert "No recommendation" in _page(report, "acme-cloud", "storage-uptime")


def test_objective_page_of_an_objective_without_windows(report: ReportSet):
    page = _page(report, "evil-corp", "api-availability")
    assert "No current window has been computed." in page
    assert "No window computed yet for this objective." in page
    assert 'id="timeline"' in page and "No alerts, security incidents, breached tickets" in page


def test_every_page_has_print_styles(report: ReportSet):
    pages = [report.index, *report.contract_pages.values(), *report.objective_pages.values()]
    for path in pages:
        html = path.read_text(encoding="utf-8")
        style = html.split("<style>")[1].split("</style>")[0]
        assert "@page { size: A4" in style, path.name
        printed = style.split("@media print {")[1]
        assert "nav.crumbs" in printed and "display: none" in printed
        assert "break-before: page" in printed and "color: #000 !important" in printed
        assert "max-width: 180mm" in printed  # charts fit the A4 text width
    objective = report.objective_pages[("acme-cloud", "storage-uptime")].read_text(encoding="utf-8")
    assert 'addEventListener("beforeprint"' in objective and "width: 680" in objective


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_have_a_contrast_of_at_least_4_5_to_1(report: ReportSet):
    assert _contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    for style in [*STATUS_STYLES.values(), UNKNOWN_STATUS]:
        assert _contrast(style.text_colour, style.colour) >= 4.5, style.label
    style = report.index.read_text(encoding="utf-8").split("<style>")[1]
    colours = dict(re.findall(r"--(ink|muted|link|band): (#[0-9a-fA-F]{3,6})", style))
    colours = {
        name: value if len(value) == 7 else "#" + "".join(c * 2 for c in value[1:])
        for name, value in colours.items()
    }
    for name in ("ink", "muted", "link"):
        assert _contrast(colours[name], "#FFFFFF") >= 4.5, name
        assert _contrast(colours[name], colours["band"]) >= 4.5, name  # on table headers
    negative = re.search(r"\.negative \{ color: (#[0-9a-fA-F]{6})", style)
    assert negative is not None and _contrast(negative.group(1), "#FFFFFF") >= 4.5
