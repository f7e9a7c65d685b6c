"""Dagster assets of the prediction stage: forecasts and breach risk of every current window.
Thin wrappers: read the warehouse, call the pure functions, write back."""

from datetime import timedelta

import dagster as dg
import polars as pl

from pipelines.predict.capacity import capacity_forecast, daily_peaks, declared_capacities
from pipelines.predict.forecast import current_windows, hourly_history, windows_at
from pipelines.predict.items import ITEMS_KEPT, item_predictions
from pipelines.predict.kept import PREDICTIONS_KEPT, KeptPredictions, inputs_digest
from pipelines.predict.rca import (
    ROOT_CAUSES_KEPT,
    burn_episodes,
    latency_series,
    probe_series,
    request_series,
    root_causes,
    scored_series,
)
from pipelines.predict.risk import (
    MODELS_KEPT,
    PAST_DAYS,
    TRAFFIC_KEPT,
    measured_so_far_risk,
    traffic_breach_risk,
    unknown_without_enough_data,
)
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.sla.assets import STORED_SLICES_SQL, is_traffic
from pipelines.sla.objectives import KEYS
from pipelines.warehouse import query, replace_rows
from pipelines.workers import worker_count

AT_RISK_SQL = """
UPDATE sla.windows AS w SET status = 'at_risk'
FROM predict.breach_risk AS r, sla.objectives AS o
WHERE w.contract_id = r.contract_id AND w.objective_id = r.objective_id
  AND w.window_label = r.window_label AND NOT w.is_complete AND w.status = 'on_track'
  AND o.contract_id = r.contract_id AND o.objective_id = r.objective_id
  AND r.p_breach >= o.risk_threshold
"""
"""A current window still on track turns at_risk once its breach probability reaches the
objective's threshold (a firing burn-rate alert already made it at_risk in sla/windows)."""


@dg.asset(
    key=["predict", "breach_risk"],
    deps=[dg.AssetKey(["sla", "windows"])],
    pool=WAREHOUSE_POOL,
    group_name="predict",
)
def predict_breach_risk(pledge: PledgeHome) -> dg.MaterializeResult:
    """Breach risk of every objective's current window (predict.breach_risk) and the forecasts
    behind it (predict.forecasts): traffic objectives from hourly volume and bad-ratio forecasts
    (method 'forecast'), item-judged ones by simulating the items to come ('item_simulation'),
    either with too little history for that 'insufficient_history' (p_breach null), any other
    window from its figure so far ('measured_so_far'); a window whose status so far is
    insufficient_data gets an unknown risk ('insufficient_data', p_breach null); then at_risk
    statuses in sla.windows. Objectives whose inputs are those of the last run's take its
    predictions (kept.py, in the home's PREDICTIONS_KEPT folder)."""
    with pledge.connect() as con:
        windows = query(con, "SELECT * FROM sla.windows")
        as_of = windows["as_of"].max() if windows.height else None
        if as_of is None:
            return dg.MaterializeResult(metadata={"objectives": 0})
        objectives = query(con, "SELECT * FROM sla.objectives")
        items = objectives.filter(
            ~is_traffic(objectives) & (pl.col("sli_method") != "histogram")  # as sla_windows
        )
        traffic = objectives.filter(is_traffic(objectives)).select(KEYS)
        current = current_windows(windows.join(traffic, on=KEYS), as_of)
        stored = query(con, STORED_SLICES_SQL)
        folder = pledge.settings.home / PREDICTIONS_KEPT
        traffic_kept, models_kept, items_kept = (
            KeptPredictions(folder, *kind) for kind in (TRAFFIC_KEPT, MODELS_KEPT, ITEMS_KEPT)
        )
        traffic_risk, traffic_forecasts = traffic_breach_risk(
            hourly_history(stored, as_of),
            current,
            as_of,
            hourly_history(stored, as_of, PAST_DAYS),
            worker_count(),
            kept=traffic_kept,
            kept_models=models_kept,
        )
        open_windows = windows_at(windows, as_of)
        item_risk, item_forecasts = item_predictions(
            items,
            open_windows.join(items.select(KEYS), on=KEYS),
            # In a defined order: the items are drawn from by position, and the same rows give
            # the same digest (kept.py).
            query(
                con,
                "SELECT * FROM sla.outcomes "
                "ORDER BY contract_id, objective_id, counted_at, item_id, value",
            ),
            as_of,
            kept=items_kept,
            workers=worker_count(),
        )
        predicted = pl.concat([traffic_risk, item_risk])
        risk = unknown_without_enough_data(
            pl.concat(
                [
                    predicted,
                    measured_so_far_risk(
                        open_windows.join(predicted.select(KEYS), on=KEYS, how="anti"), as_of
                    ),
                ]
            ),
            open_windows,
        )
        replace_rows(
            con,
            [
                (
                    "predict.forecasts",
                    "TRUE",
                    [],
                    pl.concat([traffic_forecasts, item_forecasts]),
                ),
                ("predict.breach_risk", "TRUE", [], risk),
            ],
        )
        con.execute(AT_RISK_SQL)
    for kept in (traffic_kept, models_kept, items_kept):
        kept.save()
    methods = dict(risk.group_by("method").len().iter_rows())
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "objectives": risk.height,
            "predictions_kept": traffic_kept.taken + items_kept.taken,
            **{f"method_{method}": count for method, count in sorted(methods.items())},
            "p_breach_over_half": risk.filter(pl.col("p_breach") >= 0.5).height,
            "max_p_breach": float(risk["p_breach"].max() or 0.0),
        }
    )


ANOMALY_DAYS = 14
"""Days of evidence scored for anomalies (the detector looks back a week at most)."""

ANOMALY_THRESHOLD = 0.535
"""Score from which a point is an anomaly: the threshold the NAB corpus chose for the standard
profile (``pledge nab-eval``)."""


def _recent(con, table: str, columns: str, days: int) -> pl.DataFrame:
    """``columns`` of ``table`` over its last ``days`` days of ``ts``."""
    return query(
        con,
        f"SELECT {columns} FROM {table} WHERE ts >= (SELECT max(ts) FROM {table}) - to_days(?)",
        [days],
    )


@dg.asset(
    key=["predict", "anomalies"],
    deps=[dg.AssetKey(["raw", name]) for name in ("requests", "latency_buckets", "probes")],
    pool=WAREHOUSE_POOL,
    group_name="predict",
)
def predict_anomalies(pledge: PledgeHome) -> dg.MaterializeResult:
    """Causal anomaly scores of every service's 5-minute error ratio, request rate, latency and
    probe failures over the last ANOMALY_DAYS days (predict.anomalies)."""
    with pledge.connect() as con:
        series = pl.concat(
            [
                request_series(
                    _recent(con, "raw.requests", "ts, service, total, errors", ANOMALY_DAYS)
                ),
                latency_series(
                    _recent(
                        con, "raw.latency_buckets", "ts, service, le_seconds, count", ANOMALY_DAYS
                    )
                ),
                probe_series(_recent(con, "raw.probes", "ts, service, up", ANOMALY_DAYS)),
            ]
        )
        scored = (
            scored_series(series)
            .rename({"anomaly_score": "score"})
            .with_columns(is_anomaly=pl.col("score") >= ANOMALY_THRESHOLD)
        )
        replace_rows(con, [("predict.anomalies", "TRUE", [], scored)])
    return dg.MaterializeResult(
        metadata={
            "series": scored["series"].n_unique(),
            "points": scored.height,
            "anomalies": int(scored["is_anomaly"].sum()),
        }
    )


@dg.asset(
    key=["predict", "root_causes"],
    deps=[dg.AssetKey(["predict", "anomalies"]), dg.AssetKey(["sla", "windows"])],
    pool=WAREHOUSE_POOL,
    group_name="predict",
)
def predict_root_causes(pledge: PledgeHome) -> dg.MaterializeResult:
    """For every burn episode of the scored days, the series whose anomalies line up with it
    best (predict.root_causes); the last run's hints when its inputs were the same (kept.py)."""
    with pledge.connect() as con:
        # In a defined order (the lake's files are read in parallel), so that the same rows
        # give the same digest (kept.py).
        scored = query(
            con,
            "SELECT series, dimension, member, metric, ts, value, score AS anomaly_score "
            "FROM predict.anomalies ORDER BY series, ts",
        )
        since = scored["ts"].min()
        burn = query(
            con,
            "SELECT contract_id, objective_id, ts, burn_5m, burn_1h FROM sla.burn_rates "
            "WHERE ts >= ? ORDER BY contract_id, objective_id, ts",
            [since + timedelta(days=1) if since else None],
        )
        objectives = query(
            con, "SELECT contract_id, objective_id, service, sli_kind FROM sla.objectives"
        )
        episodes = burn_episodes(burn)
        kept = KeptPredictions(pledge.settings.home / PREDICTIONS_KEPT, *ROOT_CAUSES_KEPT)
        digest = inputs_digest("root_causes", episodes, burn, scored, objectives)
        known = kept.get(digest)
        hints = root_causes(episodes, burn, scored, objectives) if known is None else known[0]
        kept.put(digest, hints)
        replace_rows(con, [("predict.root_causes", "TRUE", [], hints)])
    kept.save()
    return dg.MaterializeResult(
        metadata={
            "episodes": hints.select("contract_id", "objective_id", "episode_start").n_unique(),
            "hints": hints.height,
            "significant_hints": int(hints["significant"].sum()),
            "hints_kept": known is not None,
        }
    )


@dg.asset(
    key=["predict", "capacity"],
    deps=[dg.AssetKey(["raw", "requests"]), dg.AssetKey(["sla", "objectives"])],
    pool=WAREHOUSE_POOL,
    group_name="predict",
)
def predict_capacity(pledge: PledgeHome) -> dg.MaterializeResult:
    """Demand forecasts against each declared service capacity and the day it runs out
    (predict.capacity)."""
    contracts, _ = pledge.contracts()
    capacities = declared_capacities(contracts)
    with pledge.connect() as con:
        requests = query(
            con,
            "SELECT ts, service, total FROM raw.requests WHERE service IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [capacities["service"].to_list()],
        )
        forecast = capacity_forecast(daily_peaks(requests), capacities)
        replace_rows(con, [("predict.capacity", "TRUE", [], forecast)])
    return dg.MaterializeResult(
        metadata={
            "services": forecast.height,
            "running_out_within_the_horizon": forecast.filter(
                pl.col("runs_out_earliest").is_not_null()
            ).height,
        }
    )


predict_assets = [predict_breach_risk, predict_anomalies, predict_root_causes, predict_capacity]
