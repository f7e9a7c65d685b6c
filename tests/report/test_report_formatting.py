from datetime import UTC, datetime, timedelta

from pipelines.report.formatting import (
    budget_sentence,
    coverage_warning,
    credit_forecast_sentence,
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


def test_the_budget_sentence_follows_the_state():
    december = {
        "window_end": datetime(2026, 12, 31, 23, tzinfo=UTC),
        "error_budget": 2_160.0,
        "total": 4_320_000.0,
    }
    # the issue's case: a budget already gone reads as exhausted, never "-358.7% left …
    # expected to run out"
    gone = {**december, "budget_remaining": -3.587,
            "predicted_exhaustion_at": datetime(2026, 12, 10, tzinfo=UTC)}  # fmt: skip
    since = datetime(2026, 12, 3, 14, tzinfo=UTC)
    assert budget_sentence(gone, "Europe/Berlin", since) == (
        "error budget exhausted since 2026-12-03 15:00 CET (458.7% of it used)"
    )
    assert budget_sentence(gone, "Europe/Berlin") == "error budget exhausted (458.7% of it used)"
    left = {**december, "budget_remaining": 0.4,
            "predicted_exhaustion_at": datetime(2026, 12, 10, 9, tzinfo=UTC)}  # fmt: skip
    assert budget_sentence(left, "UTC") == (
        "40.0% of the error budget left, expected to run out 2026-12-10 09:00 UTC"
    )
    assert budget_sentence({**left, "predicted_exhaustion_at": None}, "UTC") == (
        "40.0% of the error budget left"
    )
    # backups (a duration statistic) have no error budget, whatever the prediction says
    backup = {"budget_remaining": None, "error_budget": None, "total": 31.0,
              "predicted_exhaustion_at": datetime(2026, 12, 10, tzinfo=UTC)}  # fmt: skip
    assert budget_sentence(backup, "UTC") == "no error budget for this objective kind"
    perfect = {"budget_remaining": None, "error_budget": 0.0, "total": 12.0}
    assert budget_sentence(perfect, "UTC") == "no error budget (a 100% target allows no failure)"


def test_the_credit_forecast_is_labelled_as_one():
    forecast = {"tier_below": 0.9995, "tier_credit": 0.10, "credit_pct": 0.10,
                "credit_amount": 4800.0, "currency": "EUR", "probability": 0.62}  # fmt: skip
    assert credit_forecast_sentence(forecast) == (
        "Forecast, not owed: 10% tier expected (below 99.950%), 4,800.00 EUR; "
        "62% chance of this tier or a worse one"
    )
    capped = {**forecast, "tier_credit": 0.25, "credit_pct": 0.15, "credit_amount": 7200.0}
    assert credit_forecast_sentence(capped) == (
        "Forecast, not owed: 25% tier expected (below 99.950%), 7,200.00 EUR (capped to 15% of "
        "the fee); 62% chance of this tier or a worse one"
    )
    none = {**forecast, "tier_below": None, "tier_credit": None, "credit_amount": 0.0,
            "probability": 0.04}  # fmt: skip
    assert credit_forecast_sentence(none) == "Forecast: no credit expected; 4% chance of one"


def test_low_coverage_gets_a_warning():
    assert coverage_warning(0.25) == "Only 25.0% of this window's time has evidence"
    assert coverage_warning(0.9) is None
    assert coverage_warning(None) is None
