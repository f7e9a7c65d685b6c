-- Trailing sums of a burn ledger ({{ledger}}): at the end of every slice, bad and total summed
-- over the slices ending in (ts - w, ts] for each look-back w (whole seconds), as bad_1, total_1,
-- bad_2, total_2, ... in the order of the look-backs, beside the ledger's partition_date,
-- contract_id, objective_id, objective_index, target, slice_seconds and ts.
--
-- Two ways to the same sums. An objective with integral bad and total whose sums stay below 2^53
-- (so that every sum of them is exact, in any order), slices of a length among
-- ({{slice_lengths}}) and no gap between its slices takes them as differences of running totals:
-- such objectives' slices are streamed once in order of objective and second, and a look-back of
-- k slices subtracts the running total k rows back (the objective's opening total when that row
-- lies before its first slice). Every other objective (fractional counts, gaps) sums each
-- look-back in a RANGE window over its rows, which sorts them and builds a tree per look-back.
WITH
ledger AS MATERIALIZED (
    FROM {ledger}
),
-- The objectives with integral counts (their names kept aside: the stream below sorts less).
integral AS (
    SELECT objective_index, any_value(contract_id) AS contract_id,
           any_value(objective_id) AS objective_id
    FROM ledger
    GROUP BY objective_index
    HAVING bool_and(coalesce(bad = trunc(bad) AND total = trunc(total), false))
        AND any_value(slice_seconds) IN ({slice_lengths})
    QUALIFY sum(sum(abs(bad)) + sum(abs(total))) OVER () < 2 ** 53
),
-- Running totals along the integral objectives' slices in order (an empty OVER () keeps the
-- order of its input); opens: the row is an objective's first; step: seconds since the row before.
running AS (
    SELECT
        *,
        sum(bad) OVER (ROWS UNBOUNDED PRECEDING) AS run_bad,
        sum(total) OVER (ROWS UNBOUNDED PRECEDING) AS run_total,
        objective_index IS DISTINCT FROM lag(objective_index) OVER () AS opens,
        second - lag(second) OVER () AS step
    FROM (
        SELECT objective_index, second, bad, total, slice_seconds, target, ts, partition_date
        FROM ledger
        SEMI JOIN integral USING (objective_index)
        ORDER BY objective_index, second
    )
),
-- The running totals k rows back (run_bad_k, run_total_k) for every k a look-back spans.
lagged AS (
    SELECT *, {lags} FROM running
),
-- The objectives streamed as one run of rows, each one slice after the row before (a gap, or a
-- stream out of order, sends an objective to the windows), and their running totals before their
-- first slice.
exact AS (
    SELECT
        objective_index,
        min(second) AS first_second,
        arg_min(run_bad - bad, second) AS opening_bad,
        arg_min(run_total - total, second) AS opening_total
    FROM lagged
    GROUP BY objective_index
    HAVING count(*) FILTER (opens) = 1 AND bool_and(opens OR step = slice_seconds)
)
SELECT partition_date, contract_id, objective_id, objective_index, target, slice_seconds, ts,
       {differences}
FROM lagged
JOIN exact USING (objective_index)
JOIN integral USING (objective_index)
UNION ALL
SELECT partition_date, contract_id, objective_id, objective_index, target, slice_seconds, ts,
       {window_sums}
FROM (FROM ledger ANTI JOIN exact USING (objective_index))
WINDOW {windows}
