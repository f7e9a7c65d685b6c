-- The burn ledger: the slices of {slices} of the objectives in burn_objectives (contract_id,
-- objective_id, objective_index, target, slice_seconds), each at its end: ts (the slice's end),
-- second (epoch seconds of ts), bad = total - good, total, target, partition_date (the UTC day of
-- the slice's start: its partition of sla.slices; from a plain TIMESTAMP, as a TIMESTAMPTZ cast to
-- DATE goes through ICU's time zone calendar, many times slower).
SELECT
    s.contract_id,
    s.objective_id,
    o.objective_index,
    o.target,
    o.slice_seconds,
    s.slice_start + to_seconds(o.slice_seconds) AS ts,
    epoch_us(s.slice_start) // 1000000 + o.slice_seconds AS second,
    s.total - s.good AS bad,
    s.total,
    CAST(make_timestamp(epoch_us(s.slice_start)) AS DATE) AS partition_date
FROM {slices} AS s
JOIN burn_objectives AS o USING (contract_id, objective_id)
