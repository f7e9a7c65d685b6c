"""The report of item-judged objectives: tickets, a mean, a percentile, NPS and RPO (DESK)."""

import re
from pathlib import Path

import polars as pl
import pytest
from markupsafe import escape

from pipelines.predict.risk import BREACH_RISK_SCHEMA, unknown_without_enough_data
from pipelines.report.figures.windows import window_figure, windows_drawn
from pipelines.report.render import render_reports
from pipelines.report.summary import objective_summary, ticket_figures
from pipelines.sla.intervals import INTERVAL_METHOD
from pipelines.sla.outcomes import PERCENTILE_METHOD


@pytest.fixture
def page(tmp_path: Path, desk_contract, desk_tables) -> dict[str, str]:
    """The main part of each desk objective's page, by objective id."""
    report = render_reports(tmp_path, [desk_contract], desk_tables)
    return {
        objective_id: path.read_text(encoding="utf-8").split("<main>")[1].split("</main>")[0]
        for (_, objective_id), path in report.objective_pages.items()
    }


def _section(page: dict[str, str], objective_id: str) -> str:
    return page[objective_id]


WINDOWS_TABLE = '<section class="print-page" id="windows">'


def _cells(html: str, first: str) -> list[str]:
    row = re.search(rf"<tr>\s*<th scope=\"row\">{first}</th>.*?</tr>", html, re.DOTALL)
    assert row is not None, first
    return [cell.strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(0), re.S)]


def test_ticket_figures_per_priority(desk_tables):
    timers = desk_tables["ticket_timers"].filter(pl.col("objective_id") == "resolution")
    table = ticket_figures(timers)
    assert table["priority"].to_list() == ["P1", "P2"]
    assert table["tickets"].to_list() == [3, 2]
    assert table["within_target"].to_list() == pytest.approx([2 / 3, 0.5])
    assert table["median_seconds"].to_list() == [7200.0, 23400.0]
    assert table["mean_seconds"].to_list() == [9600.0, 23400.0]
    # p90 of [1h, 2h, 5h]: rank 1.8 → 2h + 0.8 × 3h = 4h 24m; of [3h, 10h]: 3h + 0.9 × 7h.
    assert table["p90_seconds"].to_list() == pytest.approx([15840.0, 33480.0])
    assert table["breached"].to_list() == [1, 1]
    assert table["open"].to_list() == [1, 0]
    mttr = ticket_figures(desk_tables["ticket_timers"].filter(pl.col("objective_id") == "mttr"))
    assert mttr["within_target"].to_list() == [None, None]
    assert mttr["breached"].to_list() == [None, None]


def test_ticket_objective_shows_the_figures_and_the_distribution_per_priority(page):
    section = _section(page, "resolution")
    assert _cells(section, "P1") == ["P1", "3", "66.7%", "2h 00m", "2h 40m", "4h 24m", "1", "1"]
    assert _cells(section, "P2") == ["P2", "2", "50.0%", "6h 30m", "6h 30m", "9h 18m", "1", "0"]
    assert 'id="resolution-windows"' in section and 'id="resolution-tickets"' in section
    assert "≥ 80.000%" in section and "60.000%" in section
    # No slices or burn rates: no burn-down, no burn-rate chart, no placeholder.
    assert "-budget" not in section and "-burn" not in section
    assert "No data yet" not in section


def test_mttr_reads_as_durations_against_an_upper_bound(page):
    section = _section(page, "mttr")
    assert "mean 3d 12h against a target of ≤ 3d over 2 items" in section
    windows = section.split(WINDOWS_TABLE)[1]
    # measured, coverage (none: judged on items, not time), target
    assert _cells(windows, "2026-02")[4:7] == ["2d 7h", "—", "≤ 3d"]
    assert "259200" not in section and "25920000" not in "".join(page.values())
    # The leading no-data window is in the table but not in the chart.
    assert "2026-01" in windows
    assert "left out of the chart (1; see the table below)" in section
    assert 'id="mttr-tickets"' in section


def test_percentile_and_interval_methods_are_printed_under_their_charts(page):
    assert f"Method: {escape(PERCENTILE_METHOD)}." in _section(page, "p90")
    assert f"Method: {escape(INTERVAL_METHOD)}." in _section(page, "nps")
    assert "Method:" not in _section(page, "mttr")


def test_nps_shows_its_interval_and_insufficient_data_is_styled(page):
    section = _section(page, "nps")
    windows = section.split(WINDOWS_TABLE)[1]
    assert "NPS 24.0 (95% CI 8.4 … 41.6)" in _cells(windows, "2026-02")
    assert "≥ NPS 20" in section
    badge = re.search(
        r'<span class="badge status-insufficient_data"[^>]*>(.*?)</span>\s*</td>', windows, re.S
    )
    assert badge is not None and "Insufficient data" in badge.group(1)
    assert "background: #56B4E9" in badge.group(0)


def test_rpo_draws_the_exposure(page):
    assert 'id="rpo-exposure"' in _section(page, "rpo")


def test_insufficient_data_sorts_after_breaching_and_before_on_track(desk_tables):
    summary = objective_summary(desk_tables["objectives"], desk_tables["windows"])
    assert summary.select("objective_id", "status", "urgency").rows() == [
        ("mttr", "breaching", 0),
        ("resolution", "breaching", 0),
        ("nps", "insufficient_data", 3),
        ("p90", "on_track", 4),
        ("rpo", "on_track", 4),
    ]


def test_windows_drawn_skip_the_no_data_runs_around_the_data_but_keep_the_current_one():
    frame = pl.DataFrame(
        {
            "window_label": ["01", "02", "03", "04", "05", "06"],
            "window_start": [f"2026-{m:02d}-01" for m in range(1, 7)],
            "is_complete": [True, True, True, True, True, False],
            "status": ["no_data", "met", "no_data", "breached", "no_data", "no_data"],
        }
    ).with_columns(pl.col("window_start").str.to_datetime(time_zone="UTC"))
    assert windows_drawn(frame)["window_label"].to_list() == ["02", "03", "04", "06"]
    assert windows_drawn(frame.with_columns(status=pl.lit("no_data"))).is_empty()


def test_nps_chart_has_the_interval_as_error_bars_and_durations_in_hours(desk_tables):
    windows = desk_tables["windows"]
    nps = window_figure(windows.filter(pl.col("objective_id") == "nps"), "UTC", "points")
    met = next(trace for trace in nps["data"] if trace["name"] == "✔ Met")
    assert met["y"] == [24.0]
    assert met["error_y"]["array"] == pytest.approx([17.6])
    assert met["error_y"]["arrayminus"] == pytest.approx([15.6])
    mttr = window_figure(
        windows.filter(pl.col("objective_id") == "mttr"), "UTC", "duration", "mean"
    )
    target = next(trace for trace in mttr["data"] if trace.get("name") == "target")
    assert target["y"] == [72.0, 72.0, 72.0]
    assert mttr["layout"]["title"]["text"] == "Mean per window"


def test_an_item_prediction_is_told_in_the_objectives_unit(
    tmp_path: Path, desk_contract, desk_tables
):
    # mttr (a mean, target 3d), 2026-03: 70% likely to end above 3 days, at 3d 12h (3d … 4d).
    risk = pl.DataFrame(
        {
            "contract_id": ["desk"],
            "objective_id": ["mttr"],
            "window_label": ["2026-03"],
            "p_breach": [0.7],
            "expected_attainment": [None],
            "attainment_low": [None],
            "attainment_high": [None],
            "predicted_exhaustion_at": [None],
            "expected_measured": [302_400.0],
            "measured_low": [259_200.0],
            "measured_high": [345_600.0],
            "target": [259_200.0],
        },
        schema_overrides={
            "expected_attainment": pl.Float64,
            "attainment_low": pl.Float64,
            "attainment_high": pl.Float64,
            "predicted_exhaustion_at": pl.Datetime("us", "UTC"),
        },
    )
    report = render_reports(tmp_path, [desk_contract], {**desk_tables, "breach_risk": risk})
    page = report.objective_pages[("desk", "mttr")].read_text(encoding="utf-8")
    text = " ".join(page.split())
    assert "Breach risk 70%: expected to end at 3d 12h (3d 0h … 4d 0h)." in text
    summary = objective_summary(desk_tables["objectives"], desk_tables["windows"], risk)
    assert summary.filter(pl.col("objective_id") == "mttr")["urgency"].item() == 0  # breaching


def test_nps_without_enough_responses_shows_its_breach_risk_as_unknown(
    tmp_path: Path, desk_contract, desk_tables
):
    # The simulation says every path ends with enough responses and breaches (p 1.0), but the
    # window has 3 responses so far: its status is insufficient_data, so its risk is unknown.
    simulated = pl.DataFrame(
        [
            {
                "contract_id": "desk",
                "objective_id": "nps",
                "window_label": "2026-03",
                "p_breach": 1.0,
                "predicted_exhaustion_at": None,
                "target": 20.0,
                "method": "item_simulation",
                "unit": "points",
                "expected_measured": 5.0,
            }
        ],
        schema=BREACH_RISK_SCHEMA,
    )
    risk = unknown_without_enough_data(simulated, desk_tables["windows"])
    assert risk.select("p_breach", "method").rows() == [(None, "insufficient_data")]
    report = render_reports(tmp_path, [desk_contract], {**desk_tables, "breach_risk": risk})
    nps = report.objective_pages[("desk", "nps")].read_text(encoding="utf-8")
    now = nps.split('id="now"')[1].split("</section>")[0]
    assert "Breach risk unknown: too few items so far" in now and "100%" not in now
    index = report.index.read_text(encoding="utf-8")
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*?nps(?:(?!</tr>).)*</tr>", index, re.S)
    assert row is not None and ">unknown</span>" in row.group(0) and "100%" not in row.group(0)
