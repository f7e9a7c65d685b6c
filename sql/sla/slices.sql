-- Raw evidence -> slices of every objective starting in [start, end), evidence up to as_of
-- (the rules: pipelines/sla/slices.py's docstring). One statement over the whole period: the
-- raw tables are read by their qualified names, so a view over the lake replaces them unseen.
-- Inputs beside raw.*: slice_objectives (objectives_frame's traffic rows), first_evidence
-- (service, sli_method, first_ts), excluded_minutes (contract_id, service, minute) and
-- corrected_minutes (contract_id, objective_id, minute). Times are epoch microseconds inside.
-- Output: sla.slices' columns, one row per slice of each measurement period (gaps included).
WITH
-- Each objective's measurement period clipped to [start, end): from its service's first
-- evidence minute (not before the contract's start) to as_of (not after the contract's end).
scope AS (
    SELECT
        row_number() OVER (ORDER BY o.contract_id, o.objective_id) AS objective_index,
        o.*,
        o.slice_seconds * 1000000 AS slice_us,
        greatest(
            epoch_us(f.first_ts) - epoch_us(f.first_ts) % 60000000,
            epoch_us(o.effective_start),
            epoch_us({start})
        ) AS scope_start,
        least(
            epoch_us(o.effective_end), epoch_us({as_of}), epoch_us({end})
        ) AS scope_end
    FROM slice_objectives AS o
    JOIN first_evidence AS f USING (service, sli_method)
    QUALIFY scope_start < scope_end
),
-- The minutes removed from an objective's evidence: by exclusions of its service, and by
-- corrections of the objective; corrected is true for a correction's minute no exclusion removes.
removed AS (
    SELECT
        objective_index,
        minute,
        minute - minute % slice_us AS slice_start,
        minute >= scope_start AND minute < scope_end AS in_scope,
        bool_and(corrected) AS corrected
    FROM (
        SELECT s.objective_index, s.slice_us, s.scope_start, s.scope_end,
               epoch_us(e.minute) - epoch_us(e.minute) % 60000000 AS minute, false AS corrected
        FROM excluded_minutes AS e JOIN scope AS s USING (contract_id, service)
        UNION ALL
        SELECT s.objective_index, s.slice_us, s.scope_start, s.scope_end,
               epoch_us(c.minute) - epoch_us(c.minute) % 60000000 AS minute, true AS corrected
        FROM corrected_minutes AS c JOIN scope AS s USING (contract_id, objective_id)
    )
    GROUP BY ALL
),
-- Per slice: the excluded and corrected minutes within scope.
removed_per_slice AS (
    SELECT
        objective_index,
        slice_start,
        count(*) FILTER (in_scope AND NOT corrected) AS excluded_count,
        count(*) FILTER (in_scope AND corrected) AS corrected_count
    FROM removed
    GROUP BY ALL
),
-- Evidence minutes of each kind, per reading objective, within its scope and not removed:
-- requests good = total - errors; probes good = successful checks, total = checks.
request_minutes AS (
    SELECT s.objective_index, s.slice_us, m.minute, m.total - m.errors AS good, m.total
    FROM (
        SELECT service, epoch_us(ts) - epoch_us(ts) % 60000000 AS minute, total, errors
        FROM raw.requests
        WHERE ts >= {start} AND ts < {end}
    ) AS m
    JOIN scope AS s ON s.service = m.service AND s.sli_method = 'requests'
        AND m.minute >= s.scope_start AND m.minute < s.scope_end
    ANTI JOIN removed AS r ON r.objective_index = s.objective_index AND r.minute = m.minute
),
probe_minutes AS (
    SELECT s.objective_index, s.slice_us, m.minute, m.good, m.total
    FROM (
        SELECT service, epoch_us(ts) - epoch_us(ts) % 60000000 AS minute,
               count(*) FILTER (up) AS good, count(*) AS total
        FROM raw.probes
        WHERE ts >= {start} AND ts < {end}
        GROUP BY ALL
    ) AS m
    JOIN scope AS s ON s.service = m.service AND s.sli_method = 'probes'
        AND m.minute >= s.scope_start AND m.minute < s.scope_end
    ANTI JOIN removed AS r ON r.objective_index = s.objective_index AND r.minute = m.minute
),
ratio_evidence AS (
    SELECT objective_index, minute - minute % slice_us AS slice_start,
           sum(good) AS good, sum(total) AS total, count(*) AS evidence_minutes
    FROM (FROM request_minutes UNION ALL FROM probe_minutes)
    GROUP BY ALL
),
-- Latency buckets summed per slice and bound, made monotone in the bound.
bucket_minutes AS (
    SELECT s.objective_index, m.minute - m.minute % s.slice_us AS slice_start, m.minute,
           m.le_seconds, m.count, s.threshold_seconds, s.percentile
    FROM (
        SELECT service, epoch_us(ts) - epoch_us(ts) % 60000000 AS minute, le_seconds, count
        FROM raw.latency_buckets
        WHERE ts >= {start} AND ts < {end}
    ) AS m
    JOIN scope AS s ON s.service = m.service AND s.sli_method = 'histogram'
        AND m.minute >= s.scope_start AND m.minute < s.scope_end
    ANTI JOIN removed AS r ON r.objective_index = s.objective_index AND r.minute = m.minute
),
slice_buckets AS (
    SELECT objective_index, slice_start, le_seconds,
           max(sum(count)) OVER (
               PARTITION BY objective_index, slice_start ORDER BY le_seconds
               ROWS UNBOUNDED PRECEDING
           ) AS count,
           first(threshold_seconds) AS threshold_seconds,
           first(percentile) / 100 AS quantile
    FROM bucket_minutes
    GROUP BY objective_index, slice_start, le_seconds
),
histogram_evidence AS (
    SELECT objective_index, slice_start, share.good, share.total, q.latency_quantile,
           minutes.evidence_minutes
    FROM ({histogram_share_at}) AS share
    LEFT JOIN ({histogram_quantile}) AS q USING (objective_index, slice_start)
    LEFT JOIN (
        SELECT objective_index, slice_start, count(DISTINCT minute) AS evidence_minutes
        FROM bucket_minutes
        GROUP BY ALL
    ) AS minutes USING (objective_index, slice_start)
),
evidence AS (
    SELECT objective_index, slice_start, good, total, NULL::DOUBLE AS latency_quantile,
           evidence_minutes
    FROM ratio_evidence
    UNION ALL
    FROM histogram_evidence
),
-- Every slice of each measurement period, its evidence and removed minutes.
grid AS (
    SELECT s.*, slice_start,
           (least(slice_start + s.slice_us, s.scope_end) - greatest(slice_start, s.scope_start))
               / 60000000 AS in_scope_minutes
    FROM scope AS s,
         range(s.scope_start - s.scope_start % s.slice_us, s.scope_end, s.slice_us)
             AS slices(slice_start)
),
counted AS (
    SELECT
        g.*,
        coalesce(e.good, 0) AS good,
        coalesce(e.total, 0) AS total,
        e.latency_quantile,
        coalesce(e.evidence_minutes, 0) AS evidence_minutes,
        coalesce(r.excluded_count, 0) AS excluded_count,
        coalesce(r.corrected_count, 0) AS corrected_count,
        g.in_scope_minutes - coalesce(r.excluded_count, 0) - coalesce(r.corrected_count, 0)
            AS kept
    FROM grid AS g
    LEFT JOIN evidence AS e USING (objective_index, slice_start)
    LEFT JOIN removed_per_slice AS r USING (objective_index, slice_start)
),
-- The judgement: occurrences count their kept events; a timeslice weighs its kept minutes
-- (neither excluded nor corrected; none when wholly removed), a ratio timeslice weighs 1 (0 when
-- wholly removed). Without requests a slice counts its weight per missing_data; else a
-- timeslice is good when its SLI (the percentile under the threshold, or good / total at the
-- slice target) passes, and a ratio timeslice adds its good / total.
judged AS (
    SELECT
        *,
        CASE
            WHEN percentile IS NOT NULL THEN latency_quantile <= threshold_seconds
            ELSE good / total >= slice_target
        END AS passes,
        CASE WHEN budgeting = 'ratio_timeslices' THEN least(kept, 1) ELSE kept END AS weight
    FROM counted
)
SELECT
    -- the UTC day from a plain TIMESTAMP (a TIMESTAMPTZ cast goes through ICU's slow calendar)
    CAST(make_timestamp(slice_start) AS DATE) AS partition_date,
    contract_id,
    objective_id,
    make_timestamptz(slice_start) AS slice_start,
    CAST(CASE
        WHEN budgeting = 'occurrences' THEN good
        WHEN total <= 0 THEN CASE WHEN missing_data = 'good' THEN weight ELSE 0 END
        WHEN budgeting = 'ratio_timeslices' THEN good / total
        WHEN passes THEN weight
        ELSE 0
    END AS DOUBLE) AS good,
    CAST(CASE
        WHEN budgeting = 'occurrences' THEN total
        WHEN total <= 0 THEN CASE WHEN missing_data = 'excluded' THEN 0 ELSE weight END
        ELSE weight
    END AS DOUBLE) AS total,
    CAST(excluded_count AS DOUBLE) AS excluded_minutes,
    CAST(corrected_count AS DOUBLE) AS corrected_minutes,
    CAST(kept - evidence_minutes AS DOUBLE) AS missing_minutes
FROM judged
