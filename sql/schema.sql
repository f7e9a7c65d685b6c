-- The warehouse contract (DESIGN §5). Idempotent: run at every connect by writers.
-- All timestamps are TIMESTAMPTZ in UTC.

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS sla;
CREATE SCHEMA IF NOT EXISTS predict;

-- raw.*: partition_date is the day named in the landing file's name (the unit that is replaced
-- on re-ingest), source the sources.yaml entry, file the path under the landing folder. A row's
-- ts may fall outside its partition_date (files cut at local midnight): select rows by ts.

-- Request counters, one row per (minute, service): total requests and the failed ones.
CREATE TABLE IF NOT EXISTS raw.requests (
    partition_date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    total BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Cumulative latency histogram buckets (Prometheus semantics): requests with latency <= le_seconds.
-- le_seconds = +inf is the bucket holding every request.
CREATE TABLE IF NOT EXISTS raw.latency_buckets (
    partition_date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    le_seconds DOUBLE NOT NULL,
    count BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Synthetic probe results, one row per (minute, service, location).
CREATE TABLE IF NOT EXISTS raw.probes (
    partition_date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    up BOOLEAN NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Every input row that was not loaded, and why (line is 1-based in the file, header = line 1).
CREATE TABLE IF NOT EXISTS raw.rejects (
    partition_date DATE,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    line BIGINT,
    reason VARCHAR NOT NULL,
    record VARCHAR
);

-- Every landing file seen (file: path under the landing folder). status is 'loaded', 'duplicate'
-- (same sha256 as a file already loaded under another name; duplicate_of names it; nothing loaded)
-- or 'failed' (could not be parsed at all; error says why). Files whose name holds no date have
-- partition_date NULL and status 'failed'; sha256 is NULL for files that were not read.
CREATE TABLE IF NOT EXISTS ops.ingested_files (
    file VARCHAR NOT NULL,
    sha256 VARCHAR,
    source VARCHAR NOT NULL,
    partition_date DATE,
    status VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    error VARCHAR,
    duplicate_of VARCHAR,
    ingested_at TIMESTAMPTZ NOT NULL
);

-- One row per objective of every valid contract. sli_method is the raw evidence read (requests,
-- probes, histogram); slice_seconds the slice length (300 for occurrences); unit 'events' or
-- 'minutes' (of good/total); effective_start/_end the UTC instants of the contract's local
-- first and after-last midnight.
CREATE TABLE IF NOT EXISTS sla.objectives (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    title VARCHAR,
    service VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    sli_kind VARCHAR NOT NULL,
    sli_method VARCHAR NOT NULL,
    target DOUBLE NOT NULL,
    "window" VARCHAR NOT NULL,
    time_zone VARCHAR NOT NULL,
    budgeting VARCHAR NOT NULL,
    slice_seconds BIGINT NOT NULL,
    missing_data VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,
    slice_target DOUBLE,
    threshold_seconds DOUBLE,
    percentile DOUBLE,
    window_kind VARCHAR NOT NULL,
    window_period VARCHAR,
    window_days BIGINT,
    effective_start TIMESTAMPTZ,
    effective_end TIMESTAMPTZ,
    monthly_fee DOUBLE NOT NULL,
    currency VARCHAR NOT NULL
);

-- Good/total per slice of an objective, after exclusions. unit: 'events' (occurrences) or
-- 'minutes' (timeslices: a good slice counts its length in good minutes).
CREATE TABLE IF NOT EXISTS sla.slices (
    partition_date DATE NOT NULL,
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    slice_start TIMESTAMPTZ NOT NULL,
    good DOUBLE NOT NULL,
    total DOUBLE NOT NULL,
    excluded_minutes DOUBLE NOT NULL,
    missing_minutes DOUBLE NOT NULL
);

-- One row per objective window up to as_of (the end of the latest evidence minute). attainment
-- is null and status 'no_data' when total is 0; measured repeats attainment (unit 'ratio').
CREATE TABLE IF NOT EXISTS sla.windows (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    window_label VARCHAR NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    is_complete BOOLEAN NOT NULL,
    good DOUBLE,
    total DOUBLE,
    attainment DOUBLE,
    target DOUBLE NOT NULL,
    error_budget DOUBLE,
    budget_consumed DOUBLE,
    budget_remaining DOUBLE,
    status VARCHAR NOT NULL,
    measured DOUBLE,
    unit VARCHAR NOT NULL,
    excluded_minutes DOUBLE,
    missing_minutes DOUBLE,
    as_of TIMESTAMPTZ NOT NULL
);

-- Burn rate per look-back at the end of every slice: (bad/total over look-back) / (1 - target).
CREATE TABLE IF NOT EXISTS sla.burn_rates (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    burn_5m DOUBLE,
    burn_30m DOUBLE,
    burn_1h DOUBLE,
    burn_6h DOUBLE,
    burn_1d DOUBLE,
    burn_3d DOUBLE
);

-- Multi-window burn-rate alert episodes (SRE workbook), severity 'page' or 'ticket'.
CREATE TABLE IF NOT EXISTS sla.alerts (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    peak_burn_rate DOUBLE NOT NULL
);

-- Credits per calendar window (complete ones and the current one) of objectives with credits;
-- credit_pct is a share of the monthly fee (0.1 = 10%).
CREATE TABLE IF NOT EXISTS sla.credits (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    window_label VARCHAR NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    is_complete BOOLEAN NOT NULL,
    attainment DOUBLE,
    credit_pct DOUBLE NOT NULL,
    credit_amount DOUBLE NOT NULL,
    currency VARCHAR NOT NULL
);
