"""Backtest on a hand-built history: one window burning steadily into a breach, one met window
with a short spike; the first firings, lead times, false alarms and metrics worked out by hand."""

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.cli import main
from pipelines.contracts.loader import load_contract
from pipelines.predict.backtest import (
    PREDICTIONS_SCHEMA,
    Predictor,
    as_of_times,
    backtest_metrics,
    burn_rate_predictor,
    first_firings,
    forecast_predictor,
    linear_extrapolation_predictor,
    metrics_table,
    replay,
    windows_to_score,
)
from pipelines.settings import REPO_ROOT
from pipelines.sla.objectives import UTC_US, objectives_frame
from pipelines.warehouse import connect, insert_frame

D0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
# Window A [D0, D0 + 10d): clean for 72 h, then 5 bad of 100 every hour. Budget 1% of 24,000 =
# 240 bad; after hour 72 + k the bad is 5k > 240 first at k = 49: breach at D0 + 121 h.
# Window B [D0 + 14d, D0 + 24d): clean but for 60 bad in its hour 200 (met: 60 ≤ 240).
# Days 10..14 are clean, so no 3-day look-back reaches from A into B.
A_START, A_END = D0, D0 + timedelta(days=10)
B_START, B_END = D0 + timedelta(days=14), D0 + timedelta(days=24)
BREACH_AT = D0 + 121 * HOUR
EXAMPLES = REPO_ROOT / "examples" / "contracts"


def history() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    hours = np.arange(24 * 24)
    bad = np.where((hours >= 72) & (hours < 240), 5.0, 0.0)
    bad[14 * 24 + 200] = 60.0
    slices = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "availability",
            "slice_start": [D0 + int(hour) * HOUR for hour in hours],
            "good": 100.0 - bad,
            "total": 100.0,
        }
    ).cast({"slice_start": UTC_US})
    objectives = pl.DataFrame(
        {
            "contract_id": ["acme", "acme"],
            "objective_id": ["availability", "p1-resolution"],
            "sli_kind": ["availability", "resolution_time"],
            "window_kind": ["calendar", "calendar"],
            "target": [0.99, 0.9],
            "slice_seconds": [3_600, 300],
        }
    )
    windows = pl.DataFrame(
        {
            "contract_id": ["acme", "acme", "acme", "acme"],
            "objective_id": ["availability", "availability", "availability", "p1-resolution"],
            "window_label": ["A", "B", "current", "A"],
            "window_start": [A_START, B_START, B_END, A_START],
            "window_end": [A_END, B_END, B_END + timedelta(days=10), A_END],
            "is_complete": [True, True, False, True],
            "total": [24_000.0, 24_000.0, 0.0, 10.0],
            "attainment": [1 - 840 / 24_000, 1 - 60 / 24_000, None, 0.5],
            "status": ["breached", "met", "no_data", "breached"],
        }
    ).cast({"window_start": UTC_US, "window_end": UTC_US})
    return objectives, windows, slices


def outcomes_of(predictors: dict[str, Predictor], every: timedelta = HOUR) -> pl.DataFrame:
    """The first firings of ``predictors`` replayed on ``history()``."""
    objectives, windows, slices = history()
    scored = windows_to_score(objectives, windows, slices)
    return first_firings(
        replay(objectives, scored, slices, predictors, every=every), objectives, scored
    )


RULES = pl.DataFrame(
    {
        "contract_id": "acme",
        "objective_id": "availability",
        "rule": [0, 1, 2],
        "severity": ["page", "page", "ticket"],
        "long_seconds": [3_600.0, 21_600.0, 259_200.0],
        "short_seconds": [300.0, 1_800.0, 21_600.0],
        "burn_rate": [14.4, 6.0, 1.0],
    }
)


def test_scored_windows_are_complete_traffic_windows_with_breach_times() -> None:
    objectives, windows, slices = history()
    scored = windows_to_score(objectives, windows, slices)
    assert scored["window_label"].to_list() == ["A", "B"]
    assert scored["breach_at"].to_list() == [BREACH_AT, None]


def test_as_of_times_lie_on_the_utc_grid_strictly_inside_the_window() -> None:
    start = datetime(2026, 2, 28, 23, tzinfo=UTC)
    end = datetime(2026, 3, 3, tzinfo=UTC)
    assert as_of_times(start, end, timedelta(days=1)) == [
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    ]


def test_linear_extrapolation_and_burn_rate_alerts_hourly() -> None:
    outcomes = outcomes_of(
        {
            "linear": linear_extrapolation_predictor(),
            "burn_rate": burn_rate_predictor(RULES, history()[2]),
        }
    ).sort("method", "window_start")
    # Linear: attainment so far 1 − 5k / (100 (72 + k)) < 0.99 first at k = 19 (hour 91).
    # Burn rate: the ticket rule's 3-day burn 5k / 7,200 / 0.01 > 1 first at k = 15 (hour 87);
    # in B the spike pages (1 h burn 60 > 14.4) at the spike's end, hour 201: a false alarm.
    assert outcomes.select(
        "method", "window_label", "fired_at", "predicted", "lead_hours", "false_alarm"
    ).rows() == [
        ("burn_rate", "A", D0 + 87 * HOUR, True, 34.0, False),
        ("burn_rate", "B", B_START + 201 * HOUR, False, None, True),
        ("linear", "A", D0 + 91 * HOUR, True, 30.0, False),
        ("linear", "B", None, False, None, False),
    ]
    metrics = backtest_metrics(outcomes).sort("method")
    assert metrics.rows() == [
        ("burn_rate", 2, 1, 1, 1, 0.5, 1.0, pytest.approx(2 / 3), 34.0, 0.5),
        ("linear", 2, 1, 1, 0, 1.0, 1.0, 1.0, 30.0, 0.0),
    ]


def test_firings_at_or_after_the_breach_are_misses_and_metrics_without_firings_are_null() -> None:
    def after_breach(objective, seen, window_start, window_end, as_of) -> bool:  # noqa: ANN001
        return as_of >= BREACH_AT

    outcomes = outcomes_of({"late": after_breach})
    assert outcomes.select("window_label", "fired_at", "predicted", "false_alarm").rows() == [
        ("A", None, False, False),
        ("B", B_START + HOUR, False, True),
    ]
    never = outcomes_of({"never": lambda *args: False})
    assert backtest_metrics(never).row(0) == ("never", 2, 1, 0, 0, None, 0.0, None, None, 0.0)


def test_predictors_only_ever_see_slices_ended_before_as_of() -> None:
    objectives, windows, slices = history()
    calls: list[tuple[datetime, datetime | None, int]] = []

    def recording(objective, seen, window_start, window_end, as_of) -> bool:  # noqa: ANN001
        calls.append((as_of, seen["slice_start"].max(), seen.height))
        return False

    scored = windows_to_score(objectives, windows, slices)
    predictions = replay(objectives, scored, slices, {"recording": recording}, every=6 * HOUR)
    assert predictions.schema == pl.Schema(PREDICTIONS_SCHEMA)
    assert predictions.height == len(calls) and predictions["p_breach"].sum() == 0
    assert len(calls) == (121 - 1) // 6 + (240 // 6 - 1)  # A up to its breach, all of B
    assert all(last is not None and last + HOUR <= as_of for as_of, last, _ in calls)
    # A's first as-of time, D0 + 6 h, sees the six hourly slices that ended by then.
    assert calls[0] == (D0 + 6 * HOUR, D0 + 5 * HOUR, 6)
    # B's first sees 28 days back at most: every slice since D0 (14 days and 6 hours).
    assert calls[20][0] == B_START + 6 * HOUR and calls[20][2] == 14 * 24 + 6


def test_forecast_predictor_predicts_the_steady_burn_and_not_the_spike() -> None:
    slices = history()[2]
    outcomes = outcomes_of({"forecast": forecast_predictor(slices)}, every=timedelta(days=1))
    a, b = outcomes.sort("window_start").rows(named=True)
    assert a["predicted"] and a["fired_at"] == D0 + timedelta(days=4)  # 25 h ahead
    # B's past holds A's week of burning at 5 times the budget's rate (days 3 to 10): such a
    # week may come back, and 2 days like it in B's last 9 (from its first as-of time, day 15)
    # would breach B. The new-incident draws make that more likely than not.
    assert b["fired_at"] == B_START + timedelta(days=1)
    # With a past that is clean but for B's own spike, the spike is not extrapolated.
    since_a = slices.filter(pl.col("slice_start") >= A_END)
    quiet = outcomes_of({"forecast": forecast_predictor(since_a)}, every=timedelta(days=1))
    assert quiet.filter(pl.col("window_label") == "B")["fired_at"].to_list() == [None]


@pytest.mark.parametrize("as_of", [D0 + 100 * HOUR, B_START + 202 * HOUR])
def test_predictors_prepared_on_all_slices_answer_as_if_given_only_the_past(
    as_of: datetime,
) -> None:
    # The forecast and burn-rate predictors sum or evaluate every slice once: at as_of they must
    # answer what predictors built on the slices ended by as_of answer (no look-ahead).
    objectives, _, slices = history()
    objective = objectives.row(0, named=True)
    past = slices.filter(pl.col("slice_start") + HOUR <= as_of)
    start, end = (A_START, A_END) if as_of < A_END else (B_START, B_END)
    for build in (forecast_predictor, lambda seen: burn_rate_predictor(RULES, seen)):
        answers = [build(given)(objective, past, start, end, as_of) for given in (slices, past)]
        assert answers[0] == answers[1]


def test_metrics_table_prints_one_line_per_method_and_dashes_for_undefined_figures() -> None:
    never = outcomes_of({"never": lambda *args: False})
    header, line = metrics_table(backtest_metrics(never)).splitlines()
    assert header.split()[:3] == ["method", "windows", "breached"]
    assert line.split() == ["never", "2", "1", "0", "0", "–", "0.00", "–", "–", "0.000"]


def test_pledge_backtest_reads_the_warehouse_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contract = load_contract(EXAMPLES / "platform-team.yaml")
    (tmp_path / "contracts").mkdir()
    shutil.copy(EXAMPLES / "platform-team.yaml", tmp_path / "contracts")
    objectives, windows, slices = history()
    # platform-team/registry-latency's target is 95%: with 10 bad an hour, A breaches; B is met.
    rename = {"contract_id": pl.lit("platform-team"), "objective_id": pl.lit("registry-latency")}
    slices = slices.with_columns(**rename)
    windows = windows.filter(pl.col("objective_id") == "availability").with_columns(
        **rename, target=0.95, unit=pl.lit("ratio"), as_of=B_END + timedelta(days=10)
    )
    slices = slices.with_columns(
        good=pl.when(pl.col("good") == 95).then(90.0).otherwise("good"),
        partition_date=pl.col("slice_start").dt.date(),
        excluded_minutes=0.0,
        corrected_minutes=0.0,
        missing_minutes=0.0,
    )
    with connect(tmp_path / "warehouse.duckdb") as con:
        insert_frame(con, "sla.objectives", objectives_frame([contract]))
        insert_frame(con, "sla.slices", slices)
        insert_frame(con, "sla.windows", windows)

    assert main(["backtest", "--home", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "platform-team/registry-latency: 2 windows (1 breached)" in printed
    written = json.loads((tmp_path / "backtest.json").read_text())
    assert [row["method"] for row in written["metrics"]] == [
        "breach_risk",
        "burn_rate_alerts",
        "linear_extrapolation",
        "breach_risk_calibrated",
    ]
    assert {row["windows"] for row in written["metrics"]} == {2}
    assert len(written["windows"]) == 8
    # Two windows are too little history to calibrate on: the calibrated method passes through.
    brier = {row["method"]: row["brier"] for row in written["brier"]}
    assert brier["breach_risk_calibrated"] == brier["breach_risk"]
    assert "Reliability of p_breach" in printed and "Brier score" in printed
    page = (tmp_path / "reports" / "backtest.html").read_text()
    assert 'id="reliability-table"' in page and 'id="reliability"' in page
    predictions = pl.read_csv(tmp_path / "backtest-predictions.csv")
    assert predictions.height == sum(row["predictions"] for row in written["brier"])
    # Linear: 1 − 10k / (100 (72 + k)) < 95% from k = 73 (hour 145): fires at the day-7 as-of
    # time. The budget (1,200 bad) is gone after the 121st bad slice, which starts at hour 192
    # and, the objective's slices being 5 minutes long, ends at 192 h 5 min: 24 h 5 min of lead.
    linear_a = next(
        row
        for row in written["windows"]
        if row["method"] == "linear_extrapolation" and row["window_label"] == "A"
    )
    assert (linear_a["fired_at"], linear_a["breach_at"], linear_a["lead_hours"]) == (
        "2026-03-09T00:00:00.000000+00:00",
        "2026-03-10T00:05:00.000000+00:00",
        pytest.approx(24 + 5 / 60),
    )
