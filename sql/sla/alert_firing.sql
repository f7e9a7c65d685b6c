-- The slice ends at which an alert rule fires: both its long and its short look-back burn rates
-- strictly above its burn_rate. alert_rules: one row per rule, objective_index, severity,
-- burn_rate, long_at, short_at (1-based positions of the rule's look-backs among the burn rate
-- columns burn_1, burn_2, ...: {burns}). Only the slices of partitions {partitions} are kept
-- (the ledger holds the slices their look-backs need before them).
-- Output: partition_date, contract_id, objective_id, severity, ts, slice_seconds, burn (the long
-- look-back burn rate).
WITH burns AS (
    SELECT partition_date, contract_id, objective_id, objective_index, ts, slice_seconds, {burns}
    FROM burn_ledger
    WHERE objective_index IN (SELECT objective_index FROM alert_rules)
    WINDOW {lookback_windows}
)
SELECT b.partition_date, b.contract_id, b.objective_id, r.severity, b.ts, b.slice_seconds,
       {long_burn} AS burn
FROM burns AS b
JOIN alert_rules AS r USING (objective_index)
WHERE ({partitions}) AND {long_burn} > r.burn_rate AND {short_burn} > r.burn_rate
