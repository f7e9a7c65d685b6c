-- Slices summed per local day of their objective: {slices} (contract_id, objective_id,
-- slice_start, good, total, excluded_minutes, corrected_minutes, missing_minutes) joined to
-- day_keys (contract_id, objective_id, zone_index) and to day_calendar (zone_index, block, day:
-- the local day of each 15-minute UTC block, numbered from the epoch). Slices of objectives
-- missing from day_keys are dropped. Output: contract_id, objective_id, day, first_block (UTC
-- start of the first block holding a slice), good, total, excluded_minutes, corrected_minutes,
-- missing_minutes.
SELECT
    k.contract_id,
    k.objective_id,
    c.day,
    make_timestamptz(min(s.block) * {block_seconds} * 1000000) AS first_block,
    sum(s.good) AS good,
    sum(s.total) AS total,
    sum(s.excluded_minutes) AS excluded_minutes,
    sum(s.corrected_minutes) AS corrected_minutes,
    sum(s.missing_minutes) AS missing_minutes
FROM (
    SELECT *, epoch_us(slice_start) // ({block_seconds} * 1000000) AS block FROM {slices}
) AS s
JOIN day_keys AS k USING (contract_id, objective_id)
JOIN day_calendar AS c ON c.zone_index = k.zone_index AND c.block = s.block
GROUP BY k.contract_id, k.objective_id, c.day
