from datetime import UTC, datetime, timedelta

from pipelines.report.formatting import (
    format_amount,
    format_attainment,
    format_elapsed,
    format_local_time,
    format_measure,
    format_number,
    format_seconds,
    format_share,
    format_target,
    format_window_measure,
    status_style,
)


def test_shares_show_three_decimals_and_keep_the_sign():
    assert format_share(0.99953) == "99.953%"
    assert format_share(0.9994) == "99.940%"
    assert format_share(-0.5, 1) == "-50.0%"
    assert format_share(None) == "—"


def test_attainment_gets_more_decimals_when_rounding_would_land_on_the_target():
    assert format_attainment(0.9994, 0.9995) == "99.940%"
    assert format_attainment(0.99949996, 0.9995) == "99.949996%"
    assert format_attainment(0.9995, 0.9995) == "99.950%"
    assert format_attainment(None, 0.9995) == "—"


def test_numbers_amounts_and_durations():
    assert format_number(1_000_000.0) == "1,000,000"
    assert format_number(12.5) == "12.50"
    assert format_amount(4800.0, "EUR") == "4,800.00 EUR"
    assert format_elapsed(timedelta(days=1, hours=6, minutes=30)) == "1d 6h 30m"
    assert format_elapsed(timedelta(minutes=30)) == "30m"


def test_times_are_shown_in_the_contract_zone():
    moment = datetime(2026, 3, 9, 20, tzinfo=UTC)
    assert format_local_time(moment, "America/New_York") == "2026-03-09 16:00 EDT"
    assert format_local_time(moment, "Europe/Berlin") == "2026-03-09 21:00 CET"


def test_every_status_has_a_label_and_a_symbol_besides_its_colour():
    assert status_style("breaching").label == "Breaching"
    assert status_style(None).label == "No data"
    assert status_style("met").colour != status_style("breached").colour
    assert status_style("met").symbol != status_style("breached").symbol


def test_measures_and_targets_take_the_unit_the_objective_is_judged_on():
    assert format_seconds(259_200) == "3d 0h"
    assert format_seconds(15_120) == "4h 12m"
    assert format_seconds(2_220) == "37m"
    assert format_seconds(float("inf")) == "never"
    assert format_target(259_200, "duration") == "≤ 3d"
    assert format_target(0.8, "share") == "≥ 80.000%"
    assert format_target(20, "points") == "≥ NPS 20"
    assert format_measure(0.9994, "share", 0.9995) == "99.940%"
    nps = {"measured": 24.0, "interval_low": 8.4, "interval_high": 41.6}
    assert format_window_measure(nps, "points", 0.95) == "NPS 24.0 (95% CI 8.4 … 41.6)"
    csat = {"attainment": 0.85, "target": 0.8, "interval_low": 0.801, "interval_high": 0.892}
    assert format_window_measure(csat, "share", 0.9) == "85.000% (90% CI 80.1% … 89.2%)"
    assert format_window_measure({"measured": None}, "duration") == "—"


def test_insufficient_data_has_its_own_label_symbol_and_colour():
    style = status_style("insufficient_data")
    assert style.label == "Insufficient data"
    others = [status_style(status) for status in ("no_data", "met", "at_risk", "breaching")]
    assert style.colour not in {other.colour for other in others}
    assert style.symbol not in {other.symbol for other in others}
