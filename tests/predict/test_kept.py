"""Predictions kept from run to run: a run with the same inputs takes the kept rows, which equal
the computed ones; an objective whose inputs changed is computed again."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import pipelines.predict.forecast as forecast_module
import pipelines.predict.items as items_module
import pipelines.predict.risk as risk_module
from pipelines import workers
from pipelines.predict.forecast import current_windows, hourly_history, windows_at
from pipelines.predict.items import ITEMS_KEPT, item_predictions
from pipelines.predict.kept import KeptPredictions
from pipelines.predict.risk import MODELS_KEPT, PAST_DAYS, TRAFFIC_KEPT, traffic_breach_risk
from pipelines.sla.objectives import OBJECTIVES_SCHEMA
from pipelines.sla.outcomes import outcome_windows
from tests.predict.test_items import AS_OF, items, objective
from tests.predict.test_risk import (
    WINDOW_END,
    WINDOW_START,
    noisy_hours,
    slices_frame,
    window_so_far,
)


def calls_of(monkeypatch, module, name: str, noted) -> list:
    """A list that gets ``noted(first argument)`` of every call to ``module.name`` (which still
    runs) from now on."""
    calls = []
    original = getattr(module, name)
    monkeypatch.setattr(
        module, name, lambda first, *args: calls.append(noted(first)) or original(first, *args)
    )
    return calls


def traffic_inputs(last_good: float):
    """Two objectives' slices (the second with ``last_good`` good events in its last hour),
    their current windows and the as-of time."""
    hours = 26 * 24
    start = WINDOW_START - timedelta(days=14)
    as_of = datetime(2026, 3, 13, tzinfo=UTC)
    frames = []
    for contract, seed in (("acme", 1), ("globex", 2)):
        good, total = noisy_hours(hours, np.full(hours, 0.001), seed)
        if contract == "globex":
            good = good.astype(float)
            good[hours - 24 * 2 - 1] = last_good
        frames.append(
            slices_frame(start, timedelta(hours=1), good, total).with_columns(
                contract_id=pl.lit(contract)
            )
        )
    slices = pl.concat(frames)
    windows = pl.concat(
        window_so_far(slices.filter(pl.col("contract_id") == contract), as_of, WINDOW_START,
                      WINDOW_END, 0.999).with_columns(contract_id=pl.lit(contract))
        for contract in ("acme", "globex")
    )  # fmt: skip
    return slices, current_windows(windows, as_of), as_of


def traffic(slices, current, as_of, kept=None, kept_models=None):
    return traffic_breach_risk(
        hourly_history(slices, as_of),
        current,
        as_of,
        hourly_history(slices, as_of, PAST_DAYS),
        simulations=50,
        kept=kept,
        kept_models=kept_models,
    )


def test_kept_traffic_predictions_equal_computed_ones_and_change_with_their_inputs(
    tmp_path, monkeypatch
):
    slices, current, as_of = traffic_inputs(last_good=0.0)
    computed = traffic(slices, current, as_of)
    kept = KeptPredictions(tmp_path, *TRAFFIC_KEPT)
    first = traffic(slices, current, as_of, kept)
    kept.save()
    assert all(a.equals(b) for a, b in zip(first, computed, strict=True))

    fitted = calls_of(
        monkeypatch, risk_module, "forecast_objective", lambda series: series.contract_id
    )
    again = traffic(slices, current, as_of, KeptPredictions(tmp_path, *TRAFFIC_KEPT))
    assert fitted == []  # every prediction kept
    assert all(a.equals(b) for a, b in zip(again, computed, strict=True))

    slices, current, as_of = traffic_inputs(last_good=5.0)
    changed = traffic(slices, current, as_of, KeptPredictions(tmp_path, *TRAFFIC_KEPT))
    assert fitted == ["globex"]  # only the objective whose evidence changed
    fitted.clear()
    assert all(a.equals(b) for a, b in zip(changed, traffic(slices, current, as_of), strict=True))


@pytest.mark.parametrize("garbage", [False, True])
def test_kept_item_predictions_equal_computed_ones(tmp_path, monkeypatch, garbage):
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
    computed = item_predictions(frame, current, outcomes, AS_OF, simulations=50)
    kept = KeptPredictions(tmp_path, *ITEMS_KEPT)
    item_predictions(frame, current, outcomes, AS_OF, simulations=50, kept=kept)
    kept.save()
    if garbage:  # an unreadable file is as none: everything is computed again
        (tmp_path / "items-risk.parquet").write_bytes(b"not parquet")
    simulated = calls_of(monkeypatch, items_module, "forecast_items", len)  # objectives
    again = item_predictions(
        frame, current, outcomes, AS_OF, simulations=50, kept=KeptPredictions(tmp_path, *ITEMS_KEPT)
    )
    assert sum(simulated) == (2 if garbage else 0)
    assert all(a.equals(b) for a, b in zip(again, computed, strict=True))


def test_the_weeks_models_are_kept_and_taken_by_the_next_run(tmp_path, monkeypatch):
    """A run keeps the models it chose on the week's anchor histories; a later run in the same
    week (here: no kept predictions, so every objective is predicted again) takes them instead
    of choosing again, with the same predictions."""
    slices, current, as_of = traffic_inputs(last_good=0.0)
    computed = traffic(slices, current, as_of)
    models = KeptPredictions(tmp_path / "first", *MODELS_KEPT)
    first = traffic(slices, current, as_of, kept_models=models)
    models.save()
    assert len(models._now) == 4  # volume and bad ratio of two objectives
    assert all(a.equals(b) for a, b in zip(first, computed, strict=True))

    chosen = calls_of(monkeypatch, forecast_module, "choose_model", len)
    again = KeptPredictions(tmp_path / "first", *MODELS_KEPT)
    taken = traffic(slices, current, as_of, kept_models=again)
    assert chosen == [] and again.taken == 4
    assert all(a.equals(b) for a, b in zip(taken, computed, strict=True))


def three_item_objectives():
    """Three share objectives over 30 days of items: (sla.objectives rows, current windows,
    outcomes)."""
    start = AS_OF - timedelta(days=30)
    outcomes = pl.concat(
        [
            items(name, start, 30, per_day, rule)
            for name, per_day, rule in (
                ("even", 10, lambda t: t.hour % 2 == 0),
                ("mostly", 6, lambda t: t.hour % 5 != 0),
                ("rarely", 4, lambda t: t.hour % 7 == 0),
            )
        ]
    )
    frame = pl.DataFrame(
        [
            objective(name, judged_on="share", statistic="share_within", target=target)
            for name, target in (("even", 0.6), ("mostly", 0.75), ("rarely", 0.2))
        ],
        schema=OBJECTIVES_SCHEMA,
    )
    return frame, windows_at(outcome_windows(frame, outcomes, AS_OF), AS_OF), outcomes


def test_item_predictions_shared_with_a_worker_process_equal_those_made_alone(monkeypatch):
    """Item objectives predicted by this process and a spawned one (one objective per batch)
    give the rows of this process alone, in the same order."""
    frame, current, outcomes = three_item_objectives()
    alone = item_predictions(frame, current, outcomes, AS_OF, simulations=50)
    monkeypatch.setattr(workers, "BATCH", 1)
    monkeypatch.setattr(workers, "MIN_SHARED", 1)
    shared = item_predictions(frame, current, outcomes, AS_OF, simulations=50, workers=2)
    assert alone[0]["objective_id"].to_list() == ["even", "mostly", "rarely"]
    assert all(a.equals(b) for a, b in zip(shared, alone, strict=True))


@pytest.mark.parametrize(("rows", "passes"), [(1_000_000, [3]), (5_000, [2, 1]), (1, [1, 1, 1])])
def test_item_objectives_share_a_pass_over_their_paths_within_the_row_budget(
    monkeypatch, rows, passes
):
    """Consecutive objectives' final windows are simulated in one pass while their simulated
    items stay within ITEM_ROWS_PER_OBJECTIVE (every pass has a cost of its own), in another
    beyond it (memory); the rows are those of each objective predicted on its own."""
    frame, current, outcomes = three_item_objectives()
    monkeypatch.setattr(items_module, "ITEM_ROWS_PER_OBJECTIVE", rows)
    each = [
        item_predictions(
            frame.filter(pl.col("objective_id") == name),
            current.filter(pl.col("objective_id") == name),
            outcomes.filter(pl.col("objective_id") == name),
            AS_OF,
            simulations=50,
        )
        for name in ("even", "mostly", "rarely")
    ]
    objectives_per_pass = calls_of(monkeypatch, items_module, "final_windows", len)
    together = item_predictions(frame, current, outcomes, AS_OF, simulations=50)
    assert objectives_per_pass == passes
    assert all(
        a.equals(pl.concat(b)) for a, b in zip(together, zip(*each, strict=True), strict=True)
    )
