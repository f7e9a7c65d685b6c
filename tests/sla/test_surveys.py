"""CSAT and NPS: intervals against hand computations, judging, insufficient data."""

from __future__ import annotations

import polars as pl
import pytest
from sla_support import make_contract, utc

from pipelines.sla.intervals import nps_interval, wilson_interval, z_scores
from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import outcome_windows
from pipelines.sla.surveys import survey_outcomes

UTC_US = pl.Datetime("us", "UTC")


def responses(survey: str, scores: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "response_id": [f"r{n}" for n in range(len(scores))],
            "service": "api",
            "responded_at": [utc(2026, 3, 2, 12)] * len(scores),
            "survey": survey,
            "score": scores,
        },
        schema_overrides={"responded_at": UTC_US},
    )


def test_wilson_interval_for_45_of_50_at_95_percent() -> None:
    z = z_scores(pl.Series([0.95]))
    assert z[0] == pytest.approx(1.959964, abs=1e-6)
    low, high = wilson_interval(pl.lit(45.0), pl.lit(50.0), pl.lit(z[0]))
    assert pl.select(low).item() == pytest.approx(0.78640, abs=1e-5)
    assert pl.select(high).item() == pytest.approx(0.95652, abs=1e-5)


def test_nps_interval_by_hand() -> None:
    # 25 promoters, 10 detractors of 50: NPS 30; variance 0.5 + 0.2 − 0.3² = 0.61;
    # se = sqrt(0.61/50) = 0.110454; margin = 1.959964 × 11.0454 = 21.6486.
    score, low, high = nps_interval(pl.lit(0.5), pl.lit(0.2), pl.lit(50.0), pl.lit(1.959964))
    assert pl.select(score).item() == pytest.approx(30.0)
    assert pl.select(low).item() == pytest.approx(8.3514, abs=1e-3)
    assert pl.select(high).item() == pytest.approx(51.6486, abs=1e-3)


def satisfaction(measure: str, target: float, **sli: object) -> pl.DataFrame:
    contract = make_contract(
        [
            {
                "id": measure,
                "sli": {"kind": "satisfaction", "measure": measure, **sli},
                "target": target,
            }
        ],
        time_zone="UTC",
    )
    return objectives_frame([contract])


def test_csat_judged_on_point_or_lower_bound() -> None:
    scores = [5] * 30 + [4] * 15 + [3] * 3 + [1] * 2  # 45 satisfied of 50
    as_of = utc(2026, 4, 1)
    point = outcome_windows(
        objectives := satisfaction("csat", 0.85),
        survey_outcomes(objectives, responses("csat", scores)),
        as_of,
    ).row(0, named=True)
    assert (point["good"], point["total"], point["measured"]) == (45, 50, 0.9)
    assert point["unit"] == "ratio" and point["status"] == "met"
    assert point["interval_low"] == pytest.approx(0.78640, abs=1e-5)
    lower = satisfaction("csat", 0.85, judge="lower_bound")
    judged = outcome_windows(lower, survey_outcomes(lower, responses("csat", scores)), as_of)
    assert judged["status"].to_list() == ["breached", "no_data"]  # April has just begun


def test_nps_window_and_insufficient_data() -> None:
    scores = [10] * 20 + [9] * 5 + [8] * 10 + [7] * 5 + [3] * 10  # 25 pro, 10 det of 50
    objectives = satisfaction("nps", 20)
    window = outcome_windows(
        objectives, survey_outcomes(objectives, responses("nps", scores)), utc(2026, 3, 31)
    ).row(0, named=True)
    assert window["measured"] == pytest.approx(30.0) and window["unit"] == "points"
    assert window["interval_low"] == pytest.approx(8.3514, abs=1e-3)
    assert window["status"] == "on_track" and window["attainment"] is None
    few = satisfaction("nps", 20, min_responses=60)
    status = outcome_windows(few, survey_outcomes(few, responses("nps", scores)), utc(2026, 3, 31))
    assert status["status"].to_list() == ["insufficient_data"]
