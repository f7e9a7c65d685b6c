"""NAB scoring: probation, labelled windows, scaled sigmoid, profiles, the corpus threshold.

Implements the rules in ``datasets/README.md`` (Numenta Anomaly Benchmark). A corpus is a list of
:class:`LabelledSeries`: the detector's scores for every row of one file and its labelled anomaly
windows as inclusive row-index pairs. ``cross_validate`` scores held-out folds (a category or a
file) with the threshold that the rest of the corpus chooses. ``resample`` turns a file into
the hourly and irregularly sampled copies that test whether a detector keeps its score when the
sampling rate changes (many NAB files outside nab-dev are hourly or irregular).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 750
SAMPLINGS = ("native", "15-minute", "30-minute", "hourly", "irregular")
PERIOD_MINUTES = {"15-minute": 15, "30-minute": 30, "hourly": 60}
IRREGULAR_KEEP = 0.3
IRREGULAR_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Profile:
    """Weights of a true positive, a false positive and a false negative."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}


@dataclass(frozen=True)
class LabelledSeries:
    """One file: ``scores`` (one per row, in [0, 1]) and ``windows`` as inclusive row indices."""

    name: str
    scores: np.ndarray
    windows: list[tuple[int, int]]


@dataclass(frozen=True)
class CorpusScore:
    """The best corpus threshold for one profile with its raw and normalised (0-100) scores."""

    profile: str
    threshold: float
    raw: float
    normalised: float


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """s(p) = 2 / (1 + e^(5p)) - 1, and -1 for p > 3."""
    p = np.asarray(position, dtype=float)
    return np.where(p > 3, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(p, 3.0))) - 1.0)


def probation_rows(n_rows: int) -> int:
    """Rows at the start of a file that are not scored: min(floor(0.15 n), 750)."""
    return min(int(PROBATION_FRACTION * n_rows), PROBATION_MAX_ROWS)


def window_rows(timestamps: pl.Series, windows: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """Turn labelled ``[start, end]`` timestamp windows into inclusive row-index pairs.

    ``timestamps`` is the file's sorted timestamp column; a window covers the rows whose
    timestamp lies within [start, end].
    """
    ts = timestamps.cast(pl.Datetime("us")).to_numpy()
    rows = []
    for start, end in windows:
        first = int(np.searchsorted(ts, np.datetime64(start, "us"), side="left"))
        last = int(np.searchsorted(ts, np.datetime64(end, "us"), side="right")) - 1
        rows.append((first, last))
    return rows


def resample(frame: pl.DataFrame, sampling: str) -> list[pl.DataFrame]:
    """Copies of one ``timestamp``/``value`` series as sampled by ``sampling``.

    ``native``: the series itself; ``15-minute``, ``30-minute``, ``hourly``: the mean value of
    each period, with periods starting at 0, 1/3 and 2/3 of a period past the hour (three
    copies, e.g. hours from :00, :20 and :40); ``irregular``: each row kept with
    probability ``IRREGULAR_KEEP`` (gaps of 5 minutes to hours, as in NAB's traffic files), one
    copy per seed in ``IRREGULAR_SEEDS``.
    """
    if sampling == "native":
        return [frame]
    if sampling in PERIOD_MINUTES:
        minutes = PERIOD_MINUTES[sampling]
        return [
            frame.group_by_dynamic(
                "timestamp", every=f"{minutes}m", offset=f"{minutes * third // 3}m"
            ).agg(pl.col("value").mean())
            for third in range(3)
        ]
    if sampling == "irregular":
        return [
            frame.filter(np.random.default_rng(seed).random(frame.height) < IRREGULAR_KEEP)
            for seed in IRREGULAR_SEEDS
        ]
    raise ValueError(f"unknown sampling {sampling!r}; expected one of {', '.join(SAMPLINGS)}")


def _row_terms(series: LabelledSeries, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the term it would contribute as a detection, and its window id (-1 outside).

    Inside window [L, R] the term is the true-positive value s(-(R - i + 1) / w) tpW / s(-1);
    outside it is the false-positive value (negative); probation rows get window id -2.
    """
    n = len(series.scores)
    index = np.arange(n)
    term = np.full(n, -profile.fp)
    window_id = np.full(n, -1)
    for k, (left, right) in enumerate(sorted(series.windows)):
        width = right - left + 1
        inside = slice(left, right + 1)
        term[inside] = (
            scaled_sigmoid(-(right - index[inside] + 1) / width) * profile.tp / scaled_sigmoid(-1.0)
        )
        window_id[inside] = k
        after = index > right
        term[after] = profile.fp * scaled_sigmoid(np.abs(index[after] - right) / max(width - 1, 1))
    window_id[: probation_rows(n)] = -2
    return term, window_id


def file_score(series: LabelledSeries, threshold: float, profile: Profile) -> float:
    """Raw NAB score of one file when every row with score >= ``threshold`` is a detection."""
    term, window_id = _row_terms(series, profile)
    detected = series.scores >= threshold
    false_positives = term[detected & (window_id == -1)].sum()
    windows = 0.0
    for k in range(len(series.windows)):
        hits = term[detected & (window_id == k)]
        windows += hits.max() if hits.size else -profile.fn
    return float(false_positives + windows)


def best_threshold(corpus: list[LabelledSeries], profile_name: str) -> CorpusScore:
    """The threshold maximising the corpus raw score for one profile, found in one sweep.

    Rows are visited from the highest score down; each row adds its false-positive term, or the
    improvement it brings to its window's best true-positive term. The running total at each
    distinct score is the corpus raw score with that score as the threshold.
    """
    profile = PROFILES[profile_name]
    scores, deltas = [], []
    n_windows = 0
    for series in corpus:
        term, window_id = _row_terms(series, profile)
        outside = window_id == -1
        scores.append(series.scores[outside])
        deltas.append(term[outside])
        inside = window_id >= 0
        group, value, score = window_id[inside], term[inside], series.scores[inside]
        order = np.lexsort((-score, group))
        group, value, score = group[order], value[order], score[order]
        # running best per window: offset groups so one accumulate never crosses a window
        offset = group * 10.0 * max(profile.tp, 1.0)
        best = np.maximum.accumulate(value + offset) - offset
        previous = np.where(
            np.r_[True, group[1:] != group[:-1]], -profile.fn, np.r_[0.0, best[:-1]]
        )
        scores.append(score)
        deltas.append(best - previous)
        n_windows += len(series.windows)
    all_scores, all_deltas = np.concatenate(scores), np.concatenate(deltas)
    null = -profile.fn * n_windows
    order = np.argsort(-all_scores, kind="stable")
    ordered = all_scores[order]
    totals = null + np.cumsum(all_deltas[order])
    last_of_score = np.r_[ordered[1:] != ordered[:-1], True]
    candidates, candidate_totals = ordered[last_of_score], totals[last_of_score]
    threshold, raw = np.inf, null
    if candidate_totals.size and candidate_totals.max() > null:
        best = int(np.argmax(candidate_totals))
        threshold, raw = float(candidates[best]), float(candidate_totals[best])
    normalised = _normalised(raw, n_windows, profile)
    return CorpusScore(profile_name, threshold, raw, normalised if normalised is not None else 0.0)


@dataclass(frozen=True)
class FoldScore:
    """One cross-validation fold: the threshold chosen on the other files and the held-out score.

    ``normalised`` is None for a fold without labelled windows (nothing to find; ``raw`` is then
    the cost of its false positives, 0 or below).
    """

    fold: str
    files: int
    windows: int
    threshold: float
    raw: float
    normalised: float | None


@dataclass(frozen=True)
class CrossValidation:
    """Held-out scores of every fold, and their summary.

    ``pooled`` normalises the sum of every held-out file's raw score over all windows (each file
    is held out exactly once); ``mean`` and ``worst`` are over the folds that have windows.
    """

    profile: str
    folds: list[FoldScore]
    pooled: float
    mean: float
    worst: float


def category(series: LabelledSeries) -> str:
    """The folder of ``<category>/<name>.csv``."""
    return series.name.split("/", 1)[0]


def source_file(series: LabelledSeries) -> str:
    """``<category>/<name>.csv`` of a series named after it, or after a copy (``...csv#2``)."""
    return series.name.split("#", 1)[0]


def cross_validate(
    corpus: list[LabelledSeries], fold_of: Callable[[LabelledSeries], str], profile_name: str
) -> CrossValidation:
    """Score each fold with the threshold that the rest of the corpus chooses (``best_threshold``).

    ``fold_of`` names the fold of a file: ``category`` holds out one category at a time,
    ``source_file`` one file (with all its resampled copies) at a time.
    """
    profile = PROFILES[profile_name]
    names = sorted({fold_of(series) for series in corpus})
    folds = []
    for name in names:
        held_out = [series for series in corpus if fold_of(series) == name]
        training = [series for series in corpus if fold_of(series) != name]
        threshold = best_threshold(training, profile_name).threshold
        raw = sum(file_score(series, threshold, profile) for series in held_out)
        windows = sum(len(series.windows) for series in held_out)
        folds.append(
            FoldScore(
                name, len(held_out), windows, threshold, raw, _normalised(raw, windows, profile)
            )
        )
    all_windows = sum(fold.windows for fold in folds)
    pooled = _normalised(sum(fold.raw for fold in folds), all_windows, profile)
    scored = [fold.normalised for fold in folds if fold.normalised is not None]
    return CrossValidation(
        profile_name,
        folds,
        pooled if pooled is not None else 0.0,
        float(np.mean(scored)) if scored else 0.0,
        min(scored, default=0.0),
    )


def _normalised(raw: float, windows: int, profile: Profile) -> float | None:
    """100 (raw - null) / (perfect - null); None without windows."""
    if not windows:
        return None
    null, perfect = -profile.fn * windows, profile.tp * windows
    return 100.0 * (raw - null) / (perfect - null)
