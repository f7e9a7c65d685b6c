from datetime import UTC, datetime, timedelta

import polars as pl

from pipelines.report.review import REVIEW_SCHEMA, review_recommendations

TS = pl.Datetime("us", "UTC")
DAY = timedelta(days=1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def objective(
    objective_id: str,
    judged_on: str = "share",
    judge: str | None = None,
    window_kind: str = "calendar",
    window_days: int | None = None,
) -> dict:
    return {
        "contract_id": "acme",
        "objective_id": objective_id,
        "judged_on": judged_on,
        "judge": judge,
        "window_kind": window_kind,
        "window_days": window_days,
    }


def daily_windows(
    objective_id: str,
    target: float,
    values: list[float | None],
    statuses: list[str] | None = None,
    missing_minutes: list[float] | None = None,
    judged_on: str = "share",
    interval_low: list[float | None] | None = None,
    step: timedelta = DAY,
    length: timedelta = DAY,
    current: str | None = "on_track",
) -> list[dict]:
    """One complete window per value (a day each, unless told), then an incomplete current one;
    the status follows the value unless ``statuses`` says otherwise."""
    rows = []
    for index, value in enumerate(values):
        misses = value is not None and (
            value > target if judged_on == "duration" else value < target
        )
        rows.append(
            {
                "contract_id": "acme",
                "objective_id": objective_id,
                "window_start": START + index * step,
                "window_end": START + index * step + length,
                "is_complete": True,
                "attainment": value if judged_on == "share" else None,
                "measured": value,
                "target": target,
                "status": statuses[index]
                if statuses
                else ("no_data" if value is None else "breached" if misses else "met"),
                "missing_minutes": missing_minutes[index] if missing_minutes else 0.0,
                "interval_low": interval_low[index] if interval_low else None,
            }
        )
    if current:  # an incomplete current window with that status, its figures never read
        rows.append({**rows[-1], "window_start": rows[-1]["window_end"], "is_complete": False,
                     "window_end": rows[-1]["window_end"] + length, "status": current,
                     "attainment": 0.0, "measured": 0.0})  # fmt: skip
    return rows


def review(objectives: list[dict], windows: list[dict]) -> list[tuple[str, str, str]]:
    frame = review_recommendations(
        pl.DataFrame(objectives),
        pl.DataFrame(
            windows,
            schema_overrides={"window_start": TS, "window_end": TS, "interval_low": pl.Float64},
        ),
    )
    assert frame.schema == pl.Schema(REVIEW_SCHEMA)
    return frame.select("objective_id", "recommendation", "reason").rows()


def test_a_share_objective_far_from_its_target_in_every_window_could_be_tightened():
    # Budget 0.1 %: the worst window (99.98 %) used (1 − 0.9998) / 0.001 = 20 % of it.
    windows = daily_windows("availability", 0.999, [0.9999, 0.9998, 1.0, 0.99995, 0.9999, 0.9999])
    assert review([objective("availability")], windows) == [
        (
            "availability",
            "tighten",
            "met 6 of 6 complete windows; worst 99.980% vs target ≥ 99.900% "
            "(20% of its error budget used): could be tightened",
        )
    ]


def test_a_current_window_breaching_or_at_risk_rules_out_tightening():
    values = [0.9999, 0.9998, 1.0]
    for status in ("breaching", "at_risk"):
        windows = daily_windows("availability", 0.999, values, current=status)
        assert review([objective("availability")], windows) == []
    # The current window's figures are not read otherwise: a bad on-track one changes nothing.
    windows = daily_windows("availability", 0.999, values, current="on_track")
    assert [row[1] for row in review([objective("availability")], windows)] == ["tighten"]


def test_half_the_budget_used_once_is_near_enough_not_to_tighten():
    # 99.94 % against 99.9 % leaves 40 % of the budget: used 60 % > 50 %.
    windows = daily_windows("availability", 0.999, [0.9999, 0.9994, 0.9999])
    assert review([objective("availability")], windows) == []
    # Exactly half used still counts as never near.
    windows = daily_windows("availability", 0.999, [0.9999, 0.9995, 0.9999])
    assert [row[1] for row in review([objective("availability")], windows)] == ["tighten"]


def test_too_few_complete_windows_give_no_verdict():
    windows = daily_windows("availability", 0.999, [1.0, 1.0])
    assert review([objective("availability")], windows) == []
    windows = daily_windows("availability", 0.999, [0.9, 0.9])
    assert review([objective("availability")], windows) == []


def test_an_objective_breached_in_most_windows_should_be_renegotiated_or_invested_in():
    windows = daily_windows("latency", 0.99, [0.985, 0.97, 0.995, 0.98])
    assert review([objective("latency")], windows) == [
        (
            "latency",
            "renegotiate_or_invest",
            "breached 3 of 4 judged complete windows; median 98.250% vs target ≥ 99.000%: "
            "renegotiate the target or invest in the service",
        )
    ]
    # Half is not most.
    windows = daily_windows("latency", 0.99, [0.985, 0.97, 0.995, 0.999])
    assert review([objective("latency")], windows) == []


def test_windows_without_data_or_missing_minutes_are_data_gaps_and_block_tightening():
    windows = daily_windows(
        "availability",
        0.999,
        [1.0, None, 1.0, 1.0, 1.0],
        missing_minutes=[0.0, 0.0, 14.4, 15.0, 0.0],
    )
    # 15 of 1,440 minutes is 1.04 % > 1 %; 14.4 minutes is exactly 1 %, allowed.
    assert review([objective("availability")], windows) == [
        (
            "availability",
            "data_gaps",
            "1 of 5 complete windows (1 no_data); 1 of 5 complete windows missing evidence for "
            "over 1% of their minutes (up to 1.0%): fix the evidence before judging the target",
        )
    ]


def test_data_gaps_come_with_renegotiation_when_the_rest_is_mostly_breached():
    windows = daily_windows(
        "nps",
        20.0,
        [5.0, 8.0, 30.0, 12.0, 3.0],
        statuses=["breached", "breached", "met", "breached", "insufficient_data"],
        judged_on="points",
    )
    assert review([objective("nps", judged_on="points")], windows) == [
        (
            "nps",
            "renegotiate_or_invest",
            "breached 3 of 4 judged complete windows; median NPS 10.0 vs target ≥ NPS 20: "
            "renegotiate the target or invest in the service",
        ),
        (
            "nps",
            "data_gaps",
            "1 of 5 complete windows (1 insufficient_data): "
            "fix the evidence before judging the target",
        ),
    ]


def test_duration_objectives_compare_the_worst_window_with_the_target():
    # MTTR target 8 h: the worst window took 3 h, 37.5 % of it.
    hours = [3600.0 * h for h in (1.5, 3.0, 2.0)]
    windows = daily_windows("mttr", 8 * 3600.0, hours, judged_on="duration")
    assert review([objective("mttr", judged_on="duration")], windows) == [
        (
            "mttr",
            "tighten",
            "met 3 of 3 complete windows; worst 3h 00m vs target ≤ 8h "
            "(38% of the target): could be tightened",
        )
    ]
    hours = [3600.0 * h for h in (1.5, 5.0, 2.0)]  # 62.5 % of the target: near
    windows = daily_windows("mttr", 8 * 3600.0, hours, judged_on="duration")
    assert review([objective("mttr", judged_on="duration")], windows) == []


def test_points_objectives_judged_on_the_lower_bound_read_the_interval():
    # Point estimates are 20+ points above the target, but the lower bounds only 5 to 15.
    windows = daily_windows(
        "nps", 20.0, [45.0, 50.0, 42.0], judged_on="points", interval_low=[25.0, 35.0, 30.0]
    )
    assert review([objective("nps", judged_on="points", judge="lower_bound")], windows) == []
    assert review([objective("nps", judged_on="points")], windows) == [
        (
            "nps",
            "tighten",
            "met 3 of 3 complete windows; worst NPS 42.0 vs target ≥ NPS 20 "
            "(22.0 points above it): could be tightened",
        )
    ]


def test_rolling_windows_count_only_the_non_overlapping_ones():
    # 7-day rolling windows listed daily for 15 days: the latest, 7 and 14 days before are read.
    # The one breach (day 3) falls between them and is not read twice over.
    values = [1.0] * 15
    values[3] = 0.5
    windows = daily_windows("rolling", 0.999, values, step=DAY, length=7 * DAY, current=None)
    rolling = objective("rolling", window_kind="rolling", window_days=7)
    assert review([rolling], windows) == [
        (
            "rolling",
            "tighten",
            "met 3 of 3 complete windows (non-overlapping); worst 100.000% vs target ≥ 99.900% "
            "(0% of its error budget used): could be tightened",
        )
    ]


def test_objectives_without_complete_windows_get_nothing():
    windows = daily_windows("availability", 0.999, [1.0])[1:]  # only the current window
    assert review([objective("availability")], windows) == []
