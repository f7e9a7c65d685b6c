-- Burn rates at the end of every slice of burn_ledger over each look-back: one column per
-- look-back ({burn_columns}), null where the look-back holds no events or minutes.
SELECT contract_id, objective_id, ts, {burn_columns}
FROM burn_ledger
WINDOW {lookback_windows}
