"""Dagster assets of the prediction stage: forecasts and breach risk of every current window.
Thin wrappers: read the warehouse, call the pure functions, write back."""

import dagster as dg
import polars as pl

from pipelines.predict.forecast import (
    current_windows,
    forecast_objectives,
    forecasts_frame,
    hourly_history,
)
from pipelines.predict.risk import breach_risk
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.sla.assets import STORED_SLICES_SQL
from pipelines.warehouse import query, replace_rows

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
    """Forecasts of volume and bad ratio to each current window's end (predict.forecasts), the
    breach probability they imply (predict.breach_risk), and at_risk statuses in sla.windows."""
    with pledge.connect() as con:
        windows = query(con, "SELECT * FROM sla.windows")
        as_of = windows["as_of"].max() if windows.height else None
        if as_of is None:
            return dg.MaterializeResult(metadata={"objectives": 0})
        current = current_windows(windows, as_of)
        forecasts = forecast_objectives(
            hourly_history(query(con, STORED_SLICES_SQL), as_of), current, as_of
        )
        risk = breach_risk(current, forecasts, as_of)
        replace_rows(
            con,
            [
                ("predict.forecasts", "TRUE", [], forecasts_frame(forecasts)),
                ("predict.breach_risk", "TRUE", [], risk),
            ],
        )
        con.execute(AT_RISK_SQL)
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "objectives": risk.height,
            "p_breach_over_half": risk.filter(pl.col("p_breach") >= 0.5).height,
            "max_p_breach": float(risk["p_breach"].max() or 0.0),
        }
    )


predict_assets = [predict_breach_risk]
