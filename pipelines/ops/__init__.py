"""Operations in Dagster: jobs, schedules, the landing sensor and asset checks."""
