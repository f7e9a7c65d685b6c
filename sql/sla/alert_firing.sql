-- The slice ends at which an alert rule fires: both its long and its short look-back burn rates
-- strictly above its burn_rate. alert_rules: objective_index, rules (a list of structs severity,
-- burn_rate, long_at, short_at: 1-based positions of the rule's look-backs among {burns}).
-- Only the slices of partitions {partitions} are kept (the ledger holds the slices their
-- look-backs need before them).
-- Output: partition_date, contract_id, objective_id, severity, ts, slice_seconds, burn (the long
-- look-back burn rate).
WITH burns AS (
    SELECT
        l.partition_date,
        l.contract_id,
        l.objective_id,
        l.ts,
        l.slice_seconds,
        [{burns}] AS burns,
        r.rules
    FROM burn_ledger AS l
    JOIN alert_rules AS r USING (objective_index)
    WINDOW {lookback_windows}
),
fired AS (
    SELECT
        *,
        unnest(list_filter(
            rules,
            lambda rule: burns[rule.long_at] > rule.burn_rate
                AND burns[rule.short_at] > rule.burn_rate
        )) AS rule
    FROM burns
    WHERE {partitions}
)
SELECT partition_date, contract_id, objective_id, rule.severity, ts, slice_seconds,
       burns[rule.long_at] AS burn
FROM fired
