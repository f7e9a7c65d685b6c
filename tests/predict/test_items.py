"""Breach risk of item-judged objectives: synthetic histories whose outcome is known."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.predict.forecast import windows_at
from pipelines.predict.item_paths import SIMULATED_SCHEMA, ItemForecast, final_windows
from pipelines.predict.items import (
    MIN_ITEM_SIMULATIONS,
    forecast_items,
    item_breach_risk,
    item_forecasts_frame,
    item_predictions,
)
from pipelines.predict.risk import measured_so_far_risk
from pipelines.sla.objectives import OBJECTIVES_SCHEMA
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, outcome_windows

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
NOVEMBER_END = datetime(2026, 12, 1, tzinfo=UTC)


def objective(objective_id: str, **fields) -> dict:
    """An objectives_frame row: a calendar month in UTC, effective all of 2026."""
    return {
        **dict.fromkeys(OBJECTIVES_SCHEMA),
        "contract_id": "c",
        "objective_id": objective_id,
        "time_zone": "UTC",
        "window_kind": "calendar",
        "window_period": "month",
        "effective_start": datetime(2026, 1, 1, tzinfo=UTC),
        "risk_threshold": 0.5,
        **fields,
    }


def items(objective_id: str, start: datetime, days: int, per_day: int, good, value=600.0):
    """``per_day`` items a day from ``start``, evenly spread; ``good`` a bool or a function of
    the item's time."""
    times = [
        start + timedelta(days=day, hours=24 * (n + 0.5) / per_day)
        for day in range(days)
        for n in range(per_day)
    ]
    return pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": objective_id,
            "item_id": [str(n) for n in range(len(times))],
            "counted_at": times,
            "value": value,
            "good": [good(t) if callable(good) else good for t in times],
            "detail": None,
        },
        schema=OUTCOMES_SCHEMA,
    )


def predict(objectives: list[dict], outcomes: pl.DataFrame) -> dict[str, dict]:
    frame = pl.DataFrame(objectives, schema=OBJECTIVES_SCHEMA)
    current = windows_at(outcome_windows(frame, outcomes, AS_OF), AS_OF)
    risk, forecasts = item_predictions(frame, current, outcomes, AS_OF, simulations=200)
    assert risk.height == len(objectives)
    assert set(forecasts["series"]) <= {"items", "measured"}
    return {row["objective_id"]: row for row in risk.iter_rows(named=True)}


def test_a_share_objective_whose_items_already_missed_breaches_and_a_clean_one_does_not():
    share = {"judged_on": "share", "statistic": "share_within", "target": 0.9}
    history_start = AS_OF - timedelta(days=30)
    outcomes = pl.concat(
        [
            # every item bad since the month began: 19 days × 10 misses, 0.1 × ~300 allowed
            items("missed", history_start, 30, 10, lambda t: t < datetime(2026, 11, 1, tzinfo=UTC)),
            items("clean", history_start, 30, 10, True),
        ]
    )
    risk = predict([objective("missed", **share), objective("clean", **share)], outcomes)
    missed, clean = risk["missed"], risk["clean"]
    assert missed["p_breach"] == 1.0 and clean["p_breach"] == 0.0
    assert missed["method"] == "item_simulation" and missed["unit"] == "ratio"
    # the budget was gone before as_of; the clean one never runs out
    assert missed["predicted_exhaustion_at"] == AS_OF
    assert clean["predicted_exhaustion_at"] is None
    assert clean["expected_attainment"] == clean["attainment_low"] == 1.0
    # the future items are all bad too (drawn from the last 28 days, 19 of them bad days)
    assert missed["expected_attainment"] < 0.2
    assert missed["volume_model"] in ("mean", "seasonal_naive_7", "holt_winters_7")
    assert missed["volume_holdout_mae"] == pytest.approx(0.0)  # 10 a day, every day


def test_a_mean_time_objective_is_judged_in_seconds_without_exhaustion():
    outcomes = pl.concat(
        [
            items("slow", AS_OF - timedelta(days=30), 30, 4, None, value=7_200.0),
            items("fast", AS_OF - timedelta(days=30), 30, 4, None, value=600.0),
        ]
    )
    mean = {"judged_on": "duration", "statistic": "mean", "target": 3_600.0}
    risk = predict([objective("slow", **mean), objective("fast", **mean)], outcomes)
    assert risk["slow"]["p_breach"] == 1.0 and risk["fast"]["p_breach"] == 0.0
    assert risk["slow"]["unit"] == "seconds"
    assert risk["slow"]["expected_measured"] == pytest.approx(7_200.0)
    assert risk["slow"]["expected_attainment"] is None
    assert risk["slow"]["predicted_exhaustion_at"] is None


def backups(objective_id: str, until: datetime) -> pl.DataFrame:
    """Exposure spans of daily good backups at 02:00 from October 1 to ``until``, the last
    one open to AS_OF (as sla.backups.rpo_exposures writes them)."""
    finished = pl.datetime_range(
        datetime(2026, 10, 1, 2, tzinfo=UTC), until, "1d", eager=True, time_zone="UTC"
    )
    ends = finished.shift(-1).fill_null(AS_OF)
    return pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": objective_id,
            "item_id": [str(n) for n in range(len(finished))],
            "counted_at": finished,
            "value": (ends - finished).dt.total_seconds().cast(pl.Float64),
            "good": None,
            "detail": None,
        },
        schema=OUTCOMES_SCHEMA,
    )


def test_rpo_breaches_once_the_last_good_backup_is_older_than_the_target():
    rpo = {"judged_on": "duration", "statistic": "max", "measure": "rpo", "target": 36 * 3600.0}
    outcomes = pl.concat(
        [
            backups("stopped", datetime(2026, 11, 10, 2, tzinfo=UTC)),
            backups("daily", datetime(2026, 11, 19, 2, tzinfo=UTC)),
        ]
    )
    risk = predict([objective("stopped", **rpo), objective("daily", **rpo)], outcomes)
    stopped, daily = risk["stopped"], risk["daily"]
    assert stopped["p_breach"] == 1.0
    assert stopped["predicted_exhaustion_at"] == AS_OF
    # overdue beyond every gap seen: the next backup comes one usual gap (24 h) from now
    overdue = (AS_OF - datetime(2026, 11, 10, 2, tzinfo=UTC)).total_seconds()
    assert stopped["measured_low"] == stopped["measured_high"] == overdue + 24 * 3600
    assert stopped["bad_ratio_model"] == "backup_gap_bootstrap"
    # backups every 24 h keep the largest exposure at 24 h, under the 36 h target
    assert daily["p_breach"] == 0.0
    assert daily["expected_measured"] == pytest.approx(24 * 3600.0)
    assert daily["predicted_exhaustion_at"] is None


def test_a_survey_that_cannot_reach_min_responses_is_not_a_breach():
    csat = {
        "judged_on": "share",
        "statistic": "csat",
        "measure": "csat",
        "target": 0.85,
        "judge": "point",
        "confidence": 0.95,
    }
    outcomes = pl.concat(
        [
            items("few", AS_OF - timedelta(days=30), 30, 1, False, value=2.0),
            items("many", AS_OF - timedelta(days=30), 30, 5, False, value=2.0),
        ]
    )
    risk = predict(
        [objective("few", min_responses=100, **csat), objective("many", min_responses=30, **csat)],
        outcomes,
    )
    # ~30 unhappy answers by the end of the month: insufficient_data, never breached
    assert risk["few"]["p_breach"] == 0.0
    assert risk["few"]["expected_attainment"] == 0.0
    # ~150 unhappy answers: enough to judge, and breached
    assert risk["many"]["p_breach"] == 1.0


def test_an_even_share_on_the_target_is_uncertain_and_reproducible():
    """Calibration in the middle: one item in ten missed, every day, against a 90% target: the
    month so far sits exactly on the target, so either outcome is about as likely."""
    outcomes = items("even", AS_OF - timedelta(days=30), 30, 10, True).with_columns(
        good=pl.int_range(pl.len()) % 10 != 0
    )
    share = {"judged_on": "share", "statistic": "share_within", "target": 0.9}
    first = predict([objective("even", **share)], outcomes)["even"]
    assert 0.2 < first["p_breach"] < 0.8
    assert first["attainment_low"] < 0.9 < first["attainment_high"]
    assert predict([objective("even", **share)], outcomes)["even"] == first


def test_a_rolling_window_in_a_local_zone_is_simulated_as_the_engine_lists_it():
    share = {"judged_on": "share", "statistic": "share_within", "target": 0.9}
    rolling = objective(
        "rolling", time_zone="Europe/Berlin", window_kind="rolling", window_days=28, **share
    )
    outcomes = items("rolling", AS_OF - timedelta(days=40), 40, 10, True)
    risk = predict([rolling], outcomes)["rolling"]
    # the window of the Berlin day holding AS_OF (01:00 local), ending at its local midnight
    assert risk["window_label"] == "rolling 28d to 2026-11-20"
    assert risk["window_end"] == datetime(2026, 11, 20, 23, tzinfo=UTC)
    assert risk["p_breach"] == 0.0 and risk["expected_attainment"] == 1.0


def test_windows_of_very_many_items_get_fewer_paths():
    share = {"judged_on": "share", "statistic": "share_within", "target": 0.9}
    frame = pl.DataFrame(
        [objective("samples", **share), objective("tickets", **share)], schema=OBJECTIVES_SCHEMA
    )
    outcomes = pl.concat(
        [
            items("samples", AS_OF - timedelta(days=30), 30, 2_000, True),  # ~80,000 by month end
            items("tickets", AS_OF - timedelta(days=30), 30, 10, True),
        ]
    )
    current = windows_at(outcome_windows(frame, outcomes, AS_OF), AS_OF)
    paths = {
        forecast.objective_id: (forecast.paths, forecast.items["simulation"].n_unique())
        for forecast in forecast_items(frame, current, outcomes, AS_OF, simulations=200)
    }
    # 1,000,000 rows / ~60,000 items → 16 paths, raised to the minimum
    assert paths["samples"] == (MIN_ITEM_SIMULATIONS, MIN_ITEM_SIMULATIONS)
    assert paths["tickets"] == (200, 200)


def test_windows_no_model_covers_keep_their_figure_so_far():
    """E.g. a p99 of histogram buckets: breached only if it already misses its target."""
    windows = pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": ["slow-p99", "fast-p99"],
            "window_label": "2026-11",
            "window_end": NOVEMBER_END,
            "target": 0.5,
            "attainment": None,
            "measured": [0.8, 0.2],
            "unit": "seconds",
            "status": ["breaching", "on_track"],
        }
    )
    risk = measured_so_far_risk(windows, AS_OF)
    assert risk["method"].to_list() == ["measured_so_far"] * 2
    assert risk["p_breach"].to_list() == [1.0, 0.0]
    assert risk["expected_measured"].to_list() == risk["measured_high"].to_list() == [0.8, 0.2]
    assert risk["expected_attainment"].is_null().all()


def test_items_of_less_than_a_week_are_insufficient_history():
    """History counts from the first item's day to the day of as_of (2026-11-20): from 11-14, 6
    days, too few; from 11-13, 7 days, simulated. An objective without items: too few as well."""
    share = {"judged_on": "share", "statistic": "share_within", "target": 0.9}
    outcomes = pl.concat(
        [
            items("six-days", datetime(2026, 11, 14, tzinfo=UTC), 6, 10, True),
            items("a-week", datetime(2026, 11, 13, tzinfo=UTC), 7, 10, True),
        ]
    )
    risk = predict(
        [objective(name, **share) for name in ("six-days", "a-week", "no-items")], outcomes
    )
    assert {name: row["method"] for name, row in risk.items()} == {
        "six-days": "insufficient_history",
        "a-week": "item_simulation",
        "no-items": "insufficient_history",
    }
    assert risk["a-week"]["volume_model"] == "mean"  # 7 days: the mean, without holdout
    for name in ("six-days", "no-items"):
        figures = [risk[name][column] for column in ("p_breach", "expected_measured")]
        assert figures == [None, None]
        assert (risk[name]["volume_model"], risk[name]["bad_ratio_model"]) == (None, None)


def test_objectives_predicted_one_at_a_time_give_what_all_at_once_gives():
    # item_predictions holds one objective's simulated items at a time; each objective's paths
    # are seeded from its keys, so the figures equal those of simulating all at once.
    start = AS_OF - timedelta(days=30)
    outcomes = pl.concat(
        [
            items("even", start, 30, 10, lambda t: t.hour % 2 == 0),
            items("mostly", start, 30, 6, lambda t: t.hour % 5 != 0),
        ]
    )
    frame = pl.DataFrame(
        [
            objective("even", judged_on="share", statistic="share_within", target=0.6),
            objective("mostly", judged_on="share", statistic="share_within", target=0.75),
        ],
        schema=OBJECTIVES_SCHEMA,
    )
    current = windows_at(outcome_windows(frame, outcomes, AS_OF), AS_OF)
    forecasts = forecast_items(frame, current, outcomes, AS_OF, simulations=50)
    finals = final_windows(frame, current, outcomes, forecasts, AS_OF)
    at_once = item_breach_risk(frame, current, forecasts, finals, AS_OF)
    risk, forecast_rows = item_predictions(frame, current, outcomes, AS_OF, simulations=50)
    assert risk.sort("objective_id").equals(at_once.sort("objective_id"))
    keys = ["objective_id", "series", "hour"]
    assert forecast_rows.sort(keys).equals(item_forecasts_frame(forecasts, at_once).sort(keys))
    p_breach = dict(risk.select("objective_id", "p_breach").iter_rows())
    assert 0.0 < p_breach["even"] < 1.0  # 6 good items in 10, on the target: uncertain


def test_each_paths_final_window_is_what_the_engine_computes_from_its_items():
    """final_windows aggregates every path at once; each path's figure and status must be
    outcome_windows' at the window's end over the items so far plus the path's items."""
    start = AS_OF - timedelta(days=30)
    survey = {"confidence": 0.9, "min_responses": 5}
    statistics = {
        "share": {"judged_on": "share", "statistic": "share_within", "target": 0.8},
        "mean": {"judged_on": "duration", "statistic": "mean", "target": 700.0},
        "median": {"judged_on": "duration", "statistic": "median", "target": 650.0},
        "max": {"judged_on": "duration", "statistic": "max", "target": 1_500.0},
        "p90": {"judged_on": "duration", "statistic": "p90", "target": 1_000.0},
        "nps": {"judged_on": "points", "statistic": "nps", "measure": "nps", "target": 10.0}
        | survey,
        "csat": {
            "judged_on": "share",
            "statistic": "csat",
            "measure": "csat",
            "target": 0.6,
            "judge": "lower_bound",
        }
        | survey,
        "rpo": {"judged_on": "duration", "statistic": "max", "measure": "rpo", "target": 1e5},
    }
    frame = pl.DataFrame(
        [objective(name, **fields) for name, fields in statistics.items()],
        schema=OBJECTIVES_SCHEMA,
    )
    so_far = pl.concat(
        [
            items(name, start, 30, 2, lambda t: t.hour < 12).with_columns(
                value=(pl.int_range(pl.len()) % 7 * 250).cast(pl.Float64)
            )
            for name in ("share", "mean", "median", "max", "p90")
        ]
        + [
            items(name, start, 30, 1, lambda t: t.day % 3 != 0).with_columns(
                value=(pl.int_range(pl.len()) % 3 - 1).cast(pl.Float64)
            )
            for name in ("nps", "csat")
        ]
        + [backups("rpo", datetime(2026, 11, 19, 2, tzinfo=UTC))]
    )
    current = windows_at(outcome_windows(frame, so_far, AS_OF), AS_OF)
    paths = 3
    rng = np.random.default_rng(7)

    def to_come(name: str) -> pl.DataFrame:
        """Per path a different number of items after AS_OF (RPO: the open span and spans after
        it, of a different length per path)."""
        if name == "rpo":
            open_start = datetime(2026, 11, 19, 2, tzinfo=UTC)
            starts, lengths, path = [], [], []
            for simulation, gap in enumerate((30_000.0, 90_000.0, 200_000.0)):
                at = open_start
                while at < NOVEMBER_END:
                    starts.append(at)
                    lengths.append(gap)
                    path.append(simulation)
                    at += timedelta(seconds=gap)
            good = [None] * len(path)
        else:
            path = np.repeat(np.arange(paths), [5 + 20 * n for n in range(paths)]).tolist()
            starts = [AS_OF + timedelta(hours=float(rng.uniform(0, 240))) for _ in path]
            lengths = (
                rng.choice([-1.0, 0.0, 1.0], len(path))
                if name in ("nps", "csat")
                # whole seconds: sums exact in any order, so means are comparable bit for bit
                else rng.integers(0, 3_000, len(path)).astype(float)
            ).tolist()
            good = (rng.random(len(path)) < 0.5).tolist()
        return pl.DataFrame(
            {
                "contract_id": "c",
                "objective_id": name,
                "item_id": None,
                "counted_at": starts,
                "value": lengths,
                "good": good,
                "detail": None,
                "simulation": path,
            },
            schema=SIMULATED_SCHEMA,
        )

    forecasts = [
        ItemForecast(
            "c", name, "2026-11", paths, np.array([]), np.array([]), None, "test", to_come(name)
        )
        for name in statistics
    ]
    finals = final_windows(frame, current, so_far, forecasts, AS_OF)
    assert finals.height == len(statistics) * paths
    open_span = so_far["objective_id"].eq("rpo") & so_far["counted_at"].eq(
        so_far.filter(pl.col("objective_id") == "rpo")["counted_at"].max()
    )
    for forecast in forecasts:
        for simulation in range(paths):
            path_items = forecast.items.filter(pl.col("simulation") == simulation).drop(
                "simulation"
            )
            outcomes = pl.concat(
                [so_far.filter(~open_span, pl.col("objective_id") == forecast.objective_id)]
                + [path_items]
            )
            engine = outcome_windows(
                frame.filter(pl.col("objective_id") == forecast.objective_id),
                outcomes,
                NOVEMBER_END,
            ).filter(pl.col("window_label") == "2026-11")
            final = finals.filter(
                pl.col("objective_id") == forecast.objective_id,
                pl.col("simulation") == simulation,
            )
            assert final.select("measured", "status").equals(engine.select("measured", "status"))
    # the paths differ: the test sees each statistic move
    moving = finals.group_by("objective_id").agg(pl.col("measured").n_unique() > 1)
    assert moving["measured"].all()
    assert set(finals.filter(pl.col("objective_id") == "csat")["status"]) <= {
        "met",
        "breached",
        "insufficient_data",
    }
