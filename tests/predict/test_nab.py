"""NAB scoring rules on hand-computed cases (s(p) = 2 / (1 + e^(5p)) - 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipelines.predict.nab import (
    PROFILES,
    LabelledSeries,
    best_threshold,
    category,
    cross_validate,
    file_score,
    probation_rows,
    resample,
    scaled_sigmoid,
    source_file,
    window_rows,
)

STANDARD = PROFILES["standard"]
LOW_FN = PROFILES["reward_low_FN_rate"]


def _series(n: int, windows: list[tuple[int, int]], detections: dict[int, float]) -> LabelledSeries:
    scores = np.zeros(n)
    for row, score in detections.items():
        scores[row] = score
    return LabelledSeries("file.csv", scores, windows)


def test_scaled_sigmoid_values() -> None:
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(-1.0) == pytest.approx(0.9866143)
    assert scaled_sigmoid(3.0) == pytest.approx(2 / (1 + np.exp(15)) - 1)
    assert scaled_sigmoid(3.01) == -1.0


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert probation_rows(20) == 3
    assert probation_rows(4032) == 604
    assert probation_rows(10_000) == 750


def test_detection_at_window_start_scores_tp_weight() -> None:
    # n = 20, probation 3 rows, window [10, 14] of width 5
    assert file_score(_series(20, [(10, 14)], {10: 1.0}), 0.5, STANDARD) == pytest.approx(1.0)


def test_later_detection_scores_less_and_only_the_best_counts() -> None:
    # row 12: s(-3/5) / s(-1) = 0.905148 / 0.986614; the earlier row 10 wins when both fire
    later = _series(20, [(10, 14)], {12: 1.0})
    assert file_score(later, 0.5, STANDARD) == pytest.approx(0.9174287)
    both = _series(20, [(10, 14)], {10: 1.0, 12: 1.0})
    assert file_score(both, 0.5, STANDARD) == pytest.approx(1.0)


def test_miss_scores_minus_fn_weight() -> None:
    assert file_score(_series(20, [(10, 14)], {}), 0.5, STANDARD) == -1.0
    assert file_score(_series(20, [(10, 14)], {}), 0.5, LOW_FN) == -2.0


def test_false_positive_before_the_first_window_scores_minus_fp_weight() -> None:
    assert file_score(_series(20, [(10, 14)], {5: 1.0, 10: 1.0}), 0.5, STANDARD) == (
        pytest.approx(1.0 - 0.11)
    )


def test_false_positive_just_after_a_window_is_nearly_free() -> None:
    # window [100, 200], w = 101: row 201 scores 0.11 s(1/100) = -0.0027494
    series = _series(400, [(100, 200)], {100: 1.0, 201: 1.0})
    assert file_score(series, 0.5, STANDARD) == pytest.approx(1.0 - 0.0027494, abs=1e-7)
    # width-5 window [10, 14], row 15: 0.11 s(1/4) = -0.0610060
    near = _series(20, [(10, 14)], {15: 1.0})
    assert file_score(near, 0.5, STANDARD) == pytest.approx(-1.0 - 0.0610060)
    far = _series(400, [(100, 104)], {399: 1.0})  # |399 - 104| / 4 > 3
    assert file_score(far, 0.5, STANDARD) == pytest.approx(-1.0 - 0.11)


def test_probation_rows_are_ignored() -> None:
    # rows 0..2 are probation: a detection there is neither a false positive nor a hit
    assert file_score(_series(20, [(1, 14)], {1: 1.0}), 0.5, STANDARD) == -1.0
    assert file_score(_series(20, [], {2: 1.0, 3: 1.0}), 0.5, STANDARD) == pytest.approx(-0.11)


def test_best_threshold_maximises_the_corpus_score() -> None:
    labelled = _series(20, [(10, 14)], {12: 0.9, 5: 0.8})
    quiet = _series(20, [], {7: 0.95})
    # 0.95: miss -1 and FP -0.11; 0.9: hit 0.917429 and FP -0.11; 0.8: one more FP
    corpus = [labelled, quiet]
    result = best_threshold(corpus, "standard")
    assert result.threshold == 0.9
    assert result.raw == pytest.approx(0.9174287 - 0.11)
    assert result.normalised == pytest.approx(100 * (0.9174287 - 0.11 + 1) / 2)
    assert result.raw == pytest.approx(sum(file_score(s, 0.9, STANDARD) for s in corpus))


def test_best_threshold_never_fires_when_every_detection_costs() -> None:
    result = best_threshold([_series(20, [], {7: 0.95})], "reward_low_FP_rate")
    assert result.threshold == np.inf
    assert result.normalised == 0.0


def test_low_fn_profile_normalises_against_twice_the_misses() -> None:
    # threshold 0 would fire on the 25 unlabelled rows 15..39 before the first window (-2.75)
    result = best_threshold([_series(100, [(40, 44), (60, 62)], {40: 0.9})], "reward_low_FN_rate")
    # at 0.9: raw = 1 - 2 = -1; null = -4, perfect = 2
    assert result.raw == pytest.approx(-1.0)
    assert result.normalised == pytest.approx(50.0)


def test_window_rows_maps_timestamps_to_inclusive_row_indices() -> None:
    start = datetime(2014, 4, 1, tzinfo=UTC)
    timestamps = pl.Series([start + timedelta(minutes=5 * i) for i in range(10)])
    windows = [("2014-04-01 00:07:00.000000", "2014-04-01 00:20:00.000000")]
    assert window_rows(timestamps, windows) == [(2, 4)]


def test_sweep_agrees_with_scoring_every_candidate_threshold() -> None:
    rng = np.random.default_rng(2)
    corpus = [
        LabelledSeries("a.csv", rng.random(300).round(2), [(100, 130), (200, 240)]),
        LabelledSeries("b.csv", rng.random(200).round(2), []),
        LabelledSeries("c.csv", rng.random(250).round(2), [(60, 90)]),
    ]
    for name, profile in PROFILES.items():
        candidates = np.unique(np.concatenate([s.scores for s in corpus]))
        totals = [sum(file_score(s, t, profile) for s in corpus) for t in candidates]
        result = best_threshold(corpus, name)
        assert result.raw == pytest.approx(max(max(totals), -profile.fn * 3))
        assert result.threshold == candidates[int(np.argmax(totals))]


def test_cross_validation_scores_each_fold_with_the_threshold_of_the_others() -> None:
    # a/x and a/y hold a window each, b/z holds none; scores are chosen so that the threshold
    # differs between folds
    a_x = LabelledSeries("a/x.csv", np.r_[np.zeros(10), 0.9, np.zeros(9)], [(10, 14)])
    a_y = LabelledSeries(
        "a/y.csv", np.r_[np.zeros(5), 0.6, np.zeros(4), 0.7, np.zeros(9)], [(10, 14)]
    )
    b_z = LabelledSeries("b/z.csv", np.r_[np.zeros(7), 0.8, np.zeros(12)], [])
    result = cross_validate([a_x, a_y, b_z], category, "standard")
    held_out_a, held_out_b = result.folds
    # b/z alone: any threshold costs a false positive, so the training threshold is inf; a/x and
    # a/y then miss their windows: raw -2, normalised 0
    assert (held_out_a.fold, held_out_a.threshold, held_out_a.raw) == ("a", np.inf, -2.0)
    assert held_out_a.normalised == 0.0
    # a alone chooses 0.7 (a/y at 0.6 would add a false positive before its window): b/z's 0.8
    # fires, one false positive
    assert (held_out_b.fold, held_out_b.threshold) == ("b", 0.7)
    assert held_out_b.raw == pytest.approx(-0.11)
    assert held_out_b.normalised is None
    # pooled over the 2 windows: (-2.11 + 2) / 4; mean and worst over fold a only
    assert result.pooled == pytest.approx(100 * (-2.11 + 2) / 4)
    assert (result.mean, result.worst) == (0.0, 0.0)
    by_file = cross_validate([a_x, a_y, b_z], lambda series: series.name, "standard")
    # holding out a/x: a/y and b/z choose 0.7 (a hit; b/z's 0.8 costs 0.11 less than a miss),
    # a/x at 0.9 hits at its window start: 100; holding out a/y: a/x and b/z choose 0.9, which
    # misses a/y's 0.7: 0; holding out b/z: 0.7 as for fold b
    assert [fold.threshold for fold in by_file.folds] == [0.7, 0.9, 0.7]
    assert [fold.normalised for fold in by_file.folds] == [100.0, 0.0, None]
    assert by_file.pooled == pytest.approx(result.pooled + 100 * 2 / 4)
    assert (by_file.mean, by_file.worst) == (50.0, 0.0)


def test_periodic_copies_average_each_period_from_three_offsets() -> None:
    # two hours of 5-minute rows valued 0, 1, ..., 23 from midnight
    start = datetime(2014, 4, 1)
    timestamps = pl.datetime_range(start, start + timedelta(minutes=5 * 23), "5m", eager=True)
    frame = pl.DataFrame({"timestamp": timestamps, "value": np.arange(24, dtype=float)})
    on_the_hour, twenty_past, forty_past = resample(frame, "hourly")
    assert on_the_hour["value"].to_list() == [5.5, 17.5]
    # hours from 23:20: rows 0-3 (00:00-00:15), 4-15, 16-23
    assert twenty_past["value"].to_list() == [1.5, 9.5, 19.5]
    assert twenty_past["timestamp"][1] == datetime(2014, 4, 1, 0, 20)
    assert forty_past["value"].to_list() == [3.5, 13.5, 21.5]
    # quarter hours from :00: rows 0-2, 3-5, ...; the third copy starts them at :10
    quarter_hours = resample(frame, "15-minute")
    assert quarter_hours[0]["value"].to_list() == [1.0 + 3 * k for k in range(8)]
    assert quarter_hours[2]["timestamp"][1] == datetime(2014, 4, 1, 0, 10)
    assert resample(frame, "native") == [frame]


def test_irregular_copies_keep_about_thirty_percent_of_rows_in_order() -> None:
    start = datetime(2014, 4, 1)
    timestamps = pl.datetime_range(start, start + timedelta(minutes=5 * 1999), "5m", eager=True)
    frame = pl.DataFrame({"timestamp": timestamps, "value": np.arange(2000, dtype=float)})
    copies = resample(frame, "irregular")
    assert len(copies) == 3
    for copy in copies:
        assert 0.27 < copy.height / 2000 < 0.33
        assert copy["timestamp"].is_sorted()
        # every kept row is an original row, value and timestamp together
        assert copy.join(frame, on=["timestamp", "value"]).height == copy.height
    assert copies[0]["value"].to_list() != copies[1]["value"].to_list()
    with pytest.raises(ValueError, match="unknown sampling 'daily'"):
        resample(frame, "daily")


def test_source_file_groups_the_copies_of_a_file() -> None:
    copy = LabelledSeries("realAWSCloudwatch/a.csv#2", np.zeros(3), [])
    assert (source_file(copy), category(copy)) == ("realAWSCloudwatch/a.csv", "realAWSCloudwatch")
    assert source_file(LabelledSeries("b/c.csv", np.zeros(3), [])) == "b/c.csv"
