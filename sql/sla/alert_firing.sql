-- The slice ends at which an alert rule fires: both its long and its short look-back burn rates
-- strictly above its burn_rate. alert_rules: objective_index, severity, burn_rate, long_at and
-- short_at (1-based positions of the rule's look-backs among {burns}).
-- Output: contract_id, objective_id, severity, ts, slice_seconds, burn (the long look-back burn
-- rate), last_ts (the objective's last slice end).
WITH burns AS (
    SELECT
        contract_id,
        objective_id,
        objective_index,
        ts,
        slice_seconds,
        max(ts) OVER (PARTITION BY objective_index) AS last_ts,
        [{burns}] AS burns
    FROM burn_ledger
    WHERE objective_index IN (SELECT objective_index FROM alert_rules)
    WINDOW {lookback_windows}
)
SELECT
    b.contract_id,
    b.objective_id,
    r.severity,
    b.ts,
    b.slice_seconds,
    b.burns[r.long_at] AS burn,
    b.last_ts
FROM burns AS b
JOIN alert_rules AS r USING (objective_index)
WHERE b.burns[r.long_at] > r.burn_rate AND b.burns[r.short_at] > r.burn_rate
