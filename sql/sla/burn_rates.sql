-- Burn rates at the end of every slice of burn_ledger over each look-back: one column per
-- look-back from the ledger's trailing sums (burn_sums.sql), null where the look-back holds no
-- events or minutes; partition_date is the slice's. Only the slices of the selected partitions
-- are kept (the ledger holds the slices their look-backs need before them).
SELECT partition_date, contract_id, objective_id, ts, {burn_columns}
FROM ({sums})
WHERE {partitions}
