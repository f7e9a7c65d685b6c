-- The quantile (0-1) per {keys} from cumulative histogram buckets, as Prometheus'
-- histogram_quantile: rank = quantile x total; the first bucket whose count reaches the rank
-- holds it, linearly interpolated between that bucket's lower bound (the previous bound, or 0)
-- and its upper bound; in the +inf bucket the result is the largest finite bound.
-- Input {buckets}: {keys}, le_seconds, count (cumulative, monotone), quantile.
-- Output: {keys}, latency_quantile (seconds); keys with no requests are absent.
SELECT
    {keys},
    CASE
        WHEN isinf(le_seconds) THEN previous_le
        WHEN previous_count = 0 AND previous_le = 0 AND le_seconds <= 0 THEN le_seconds
        ELSE previous_le
            + (le_seconds - previous_le) * (rank - previous_count) / (count - previous_count)
    END AS latency_quantile
FROM (
    SELECT
        {keys},
        le_seconds,
        count,
        quantile * max(count) OVER (PARTITION BY {keys}) AS rank,
        coalesce(lag(le_seconds) OVER ordered, 0.0) AS previous_le,
        coalesce(lag(count) OVER ordered, 0) AS previous_count
    FROM {buckets}
    WINDOW ordered AS (PARTITION BY {keys} ORDER BY le_seconds)
)
WHERE rank > 0 AND count >= rank
QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY le_seconds) = 1
