-- Requests at or under threshold_seconds from cumulative histogram buckets, per {keys}.
-- Input {buckets}: {keys}, le_seconds, count (cumulative, monotone in le), threshold_seconds.
-- Output: {keys}, total (the +inf bucket's count, the largest), good: the count of the bucket
-- whose bound is the threshold; otherwise interpolated linearly between the enclosing bounds
-- (lower bound 0 with count 0 below the first bucket), as histogram_quantile interpolates; a
-- threshold above the largest finite bound gets that bound's count (the +inf bucket cannot be
-- interpolated into).
SELECT
    {keys},
    total,
    CASE
        WHEN upper IS NULL OR isinf(upper) THEN lower_count
        ELSE lower_count + (upper_count - lower_count) * (threshold - lower) / (upper - lower)
    END AS good
FROM (
    SELECT
        {keys},
        coalesce(max(le_seconds) FILTER (le_seconds <= threshold_seconds), 0.0) AS lower,
        coalesce(max(count) FILTER (le_seconds <= threshold_seconds), 0) AS lower_count,
        min(le_seconds) FILTER (le_seconds > threshold_seconds) AS upper,
        min(count) FILTER (le_seconds > threshold_seconds) AS upper_count,
        max(count) AS total,
        first(threshold_seconds) AS threshold
    FROM {buckets}
    GROUP BY {keys}
)
