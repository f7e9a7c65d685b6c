-- The slice ends at which an alert rule fires: both its long and its short look-back burn rates
-- strictly above its burn_rate. alert_rules: one row per rule, objective_index, severity,
-- burn_rate, long_at, short_at (1-based positions of the rule's look-backs among the burn rate
-- columns burn_1, burn_2, ... of {{burns}}: partition_date, contract_id, objective_id,
-- objective_index, ts, slice_seconds and those columns at every slice end, computed from the burn
-- ledger or read from stored burn rates). Only the slices of partitions {partitions} are kept.
-- Output: partition_date, contract_id, objective_id, severity, ts, slice_seconds, burn (the long
-- look-back burn rate).
WITH burns AS ({burns})
SELECT b.partition_date, b.contract_id, b.objective_id, r.severity, b.ts, b.slice_seconds,
       {long_burn} AS burn
FROM burns AS b
JOIN alert_rules AS r USING (objective_index)
WHERE ({partitions}) AND {long_burn} > r.burn_rate AND {short_burn} > r.burn_rate
