-- The warehouse contract (DESIGN §5). Idempotent: run at every connect by writers.
-- All timestamps are TIMESTAMPTZ in UTC.

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS sla;
CREATE SCHEMA IF NOT EXISTS predict;

-- The large per-day tables raw.requests, raw.latency_buckets, raw.probes and sla.slices are
-- Parquet partitions in the lake beside the warehouse, read through views of those names: their
-- columns are declared in pipelines/lake.py (TABLES), which creates the views.

-- raw.*: partition_date is the day named in the landing file's name (the unit that is replaced
-- on re-ingest), source the sources.yaml entry, file the path under the landing folder. A row's
-- ts may fall outside its partition_date (files cut at local midnight): select rows by ts.

-- Ticket state changes, one row per event. A 'log' source loads one row per update of its file
-- (ts: the update, state: the state after it); a 'snapshot' source one row per ticket becomes
-- events New at opened_at, Resolved at resolved_at, Closed at closed_at. seq orders the events of
-- one ticket at one instant (0, 1, ... in file order). opened_at .. category repeat the ticket's
-- fields as the row gave them (null when absent or the source's missing marker).
-- short_description: the ticket's text as typed, control characters removed, at most 500
-- characters (null when absent).
CREATE TABLE IF NOT EXISTS raw.ticket_events (
    partition_date DATE NOT NULL,
    ticket_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    seq BIGINT NOT NULL,
    state VARCHAR NOT NULL,
    priority VARCHAR,
    opened_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    reassignment_count BIGINT,
    reopen_count BIGINT,
    assignment_group VARCHAR,
    category VARCHAR,
    service VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    short_description VARCHAR
);
ALTER TABLE raw.ticket_events ADD COLUMN IF NOT EXISTS short_description VARCHAR;

-- Security incidents, one row per incident (contained_at null while not contained).
CREATE TABLE IF NOT EXISTS raw.security_incidents (
    partition_date DATE NOT NULL,
    incident_id VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    severity VARCHAR,
    occurred_at TIMESTAMPTZ NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    contained_at TIMESTAMPTZ,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Backup runs, one row per run; success false for a failed run.
CREATE TABLE IF NOT EXISTS raw.backup_runs (
    partition_date DATE NOT NULL,
    service VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    success BOOLEAN NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Restore tests, one row per test (the restore's duration is finished_at - started_at).
CREATE TABLE IF NOT EXISTS raw.restore_tests (
    partition_date DATE NOT NULL,
    service VARCHAR NOT NULL,
    test_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    success BOOLEAN NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Survey responses: survey 'csat' (score 1-5) or 'nps' (score 0-10), whole-number scores.
CREATE TABLE IF NOT EXISTS raw.survey_responses (
    partition_date DATE NOT NULL,
    service VARCHAR NOT NULL,
    response_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    survey VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Latency samples, one row per measured request or page load.
CREATE TABLE IF NOT EXISTS raw.latency_samples (
    partition_date DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    service VARCHAR NOT NULL,
    latency_seconds DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL
);

-- Re-exports: an exporter may send the same tickets, incidents, runs, tests or responses again
-- in later files (a daily full snapshot, an overlapping event log). raw.* keeps every file's rows
-- (a partition is what its files hold); the latest_* views keep one row per identity, from the
-- latest partition (then the last file name) that holds it: a later export supersedes an earlier
-- one, events already sent are not counted twice, and events only an earlier file had are kept.
-- Read item evidence through these views. Identities: a ticket event (source, ticket_id, ts,
-- seq); an incident (source, incident_id); a run, test or response (source, service, its id).
CREATE OR REPLACE VIEW raw.latest_ticket_events AS
SELECT * FROM raw.ticket_events
QUALIFY row_number() OVER (
    PARTITION BY source, ticket_id, ts, seq ORDER BY partition_date DESC, file DESC
) = 1;

CREATE OR REPLACE VIEW raw.latest_security_incidents AS
SELECT * FROM raw.security_incidents
QUALIFY row_number() OVER (
    PARTITION BY source, incident_id ORDER BY partition_date DESC, file DESC
) = 1;

CREATE OR REPLACE VIEW raw.latest_backup_runs AS
SELECT * FROM raw.backup_runs
QUALIFY row_number() OVER (
    PARTITION BY source, service, run_id ORDER BY partition_date DESC, file DESC
) = 1;

CREATE OR REPLACE VIEW raw.latest_restore_tests AS
SELECT * FROM raw.restore_tests
QUALIFY row_number() OVER (
    PARTITION BY source, service, test_id ORDER BY partition_date DESC, file DESC
) = 1;

CREATE OR REPLACE VIEW raw.latest_survey_responses AS
SELECT * FROM raw.survey_responses
QUALIFY row_number() OVER (
    PARTITION BY source, service, response_id ORDER BY partition_date DESC, file DESC
) = 1;

-- Every input row that was not loaded, and why (line is 1-based in the file, header = line 1).
-- record: the line's text when it could not be split into the header's fields (undecodable bytes
-- written \xNN), else the row's values as JSON; item_id: the ticket, incident, run, test or
-- response id of the row when its fields could be split (trimmed), else NULL.
CREATE TABLE IF NOT EXISTS raw.rejects (
    partition_date DATE,
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    line BIGINT,
    reason VARCHAR NOT NULL,
    record VARCHAR,
    item_id VARCHAR
);
ALTER TABLE raw.rejects ADD COLUMN IF NOT EXISTS item_id VARCHAR;

-- Every landing file seen (file: path under the landing folder). status is 'loaded', 'duplicate'
-- (same sha256 as a file already loaded under another name; duplicate_of names it; nothing loaded)
-- or 'failed' (could not be parsed at all; error says why). Files whose name holds no date have
-- partition_date NULL and status 'failed'; sha256 is NULL for files that were not read.
-- rows_in: the file's data rows (CSV records after the header, Parquet rows; 0 unless loaded,
-- NULL in rows recorded before the column existed) = rows_loaded + rows_rejected; a ticket row
-- counts once however many events it loads.
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
    ingested_at TIMESTAMPTZ NOT NULL,
    rows_in BIGINT
);
ALTER TABLE ops.ingested_files ADD COLUMN IF NOT EXISTS rows_in BIGINT;

-- One row per successful `pledge run` / `pledge demo`: the days it ran and the sha256 of the
-- definitions it ran with (contracts folder and sources.yaml); a plain `pledge run` reruns only
-- what changed since (pipelines/ops/changes.py).
CREATE TABLE IF NOT EXISTS ops.runs (
    finished_at TIMESTAMPTZ NOT NULL,
    first_day DATE NOT NULL,
    last_day DATE NOT NULL,
    definitions_sha256 VARCHAR NOT NULL
);

-- One row per Prometheus source: its evidence is pulled into landing files over
-- [pulled_from, pulled_until) (step-interval starts; pulled_until is the end of the last complete
-- interval pulled), as of pulled_at. Written after the files, so a killed pull only repeats work.
CREATE TABLE IF NOT EXISTS ops.pull_watermarks (
    source VARCHAR NOT NULL PRIMARY KEY,
    pulled_from TIMESTAMPTZ NOT NULL,
    pulled_until TIMESTAMPTZ NOT NULL,
    pulled_at TIMESTAMPTZ NOT NULL
);

-- What the latest run's evidence checks found over its days first_day..last_day (null: every
-- day), all replaced by every run (the asset ops/blocked_sources, pipelines/ops/evidence.py):
-- the sources blocked, with evidence up to as_of, one row per source and failing check
-- ('no_duplicate_rows', 'reject_ratio') with a reason naming the files; the objectives each
-- held back (they kept the slices, outcomes and windows stored before); and for the raw
-- assets' checks, the row identities found more than once in each raw table (the identity
-- columns of every table, null where not the table's: ROW_IDENTITY; raw.latency_samples: the
-- file loaded twice) and the reject-heavy days of each source with their one-line reason.
CREATE TABLE IF NOT EXISTS ops.blocked_sources (
    source VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    check_name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    first_day DATE,
    last_day DATE,
    as_of TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS ops.held_objectives (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.duplicate_rows (
    table_name VARCHAR NOT NULL,
    ts TIMESTAMPTZ,
    service VARCHAR,
    le_seconds DOUBLE,
    location VARCHAR,
    file VARCHAR,
    ticket_id VARCHAR,
    seq BIGINT,
    incident_id VARCHAR,
    run_id VARCHAR,
    test_id VARCHAR,
    response_id VARCHAR,
    copies BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.reject_heavy_days (
    source VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    reject_ratio DOUBLE NOT NULL,
    reason VARCHAR NOT NULL
);

-- One row per objective of every valid contract. sli_method is the raw evidence read (requests,
-- probes, histogram); slice_seconds the slice length (300 for occurrences); unit 'events',
-- 'minutes' or 'slices' (of good/total); effective_start/_end the UTC instants of the contract's local
-- first and after-last midnight; window_anchor the local wall-clock start of a calendar window's
-- periods (null: midnight on Monday, the 1st, the 1st of a quarter).
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
    window_anchor TIMESTAMP,
    effective_start TIMESTAMPTZ,
    effective_end TIMESTAMPTZ,
    monthly_fee DOUBLE NOT NULL,
    currency VARCHAR NOT NULL,
    judged_on VARCHAR NOT NULL,
    statistic VARCHAR,
    measure VARCHAR,
    severities VARCHAR[],
    judge VARCHAR,
    confidence DOUBLE,
    min_responses BIGINT,
    risk_threshold DOUBLE NOT NULL
);
ALTER TABLE sla.objectives ADD COLUMN IF NOT EXISTS window_anchor TIMESTAMP;

-- One row per objective window up to as_of (the end of the latest evidence minute). attainment
-- is null and status 'no_data' when total is 0; measured repeats attainment (unit 'ratio').
-- Item-judged objectives (outcomes): measured is the window statistic in its unit ('seconds',
-- 'points'), interval_low/interval_high its confidence interval (surveys; null otherwise).
-- Ticket timer objectives: unmatched / incomplete, the tickets in the window with a priority the
-- objective has no target for (not counted) / with a rejected update (null for other objectives).
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
    corrected_minutes DOUBLE,
    missing_minutes DOUBLE,
    as_of TIMESTAMPTZ NOT NULL,
    interval_low DOUBLE,
    interval_high DOUBLE,
    unmatched BIGINT,
    incomplete BIGINT,
    coverage DOUBLE
);
ALTER TABLE sla.windows ADD COLUMN IF NOT EXISTS unmatched BIGINT;
ALTER TABLE sla.windows ADD COLUMN IF NOT EXISTS incomplete BIGINT;
-- coverage: share of the window's measurable time (after exclusions) with evidence; null for
-- objectives judged on items.
ALTER TABLE sla.windows ADD COLUMN IF NOT EXISTS coverage DOUBLE;

-- sla.burn_rates and sla.alert_firing (burn rates and firing alert rules at every slice end)
-- live in the lake (pipelines/lake.py), read through views.

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
-- credit_pct is a share of the monthly fee (0.1 = 10%). contract_window: the local month
-- (YYYY-MM) holding window_start, over which the contract's credit_cap applies; tier_below /
-- tier_credit: the tier reached (null when none); capped: the objective's cap or the contract's
-- credit_cap reduced credit_pct below tier_credit.
CREATE TABLE IF NOT EXISTS sla.credits (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    window_label VARCHAR NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    is_complete BOOLEAN NOT NULL,
    contract_window VARCHAR NOT NULL,
    attainment DOUBLE,
    tier_below DOUBLE,
    tier_credit DOUBLE,
    credit_pct DOUBLE NOT NULL,
    credit_amount DOUBLE NOT NULL,
    currency VARCHAR NOT NULL,
    capped BOOLEAN NOT NULL
);

-- Corrections of the contracts, one row per correction and objective it applies to: the period
-- [corrected_from, corrected_until) removed from the objective after the fact. correction is the
-- correction's 1-based position in its contract; recorded the day it was recorded.
CREATE TABLE IF NOT EXISTS sla.corrections (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    correction BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    author VARCHAR NOT NULL,
    recorded DATE NOT NULL,
    corrected_from TIMESTAMPTZ NOT NULL,
    corrected_until TIMESTAMPTZ NOT NULL
);

-- One row per counted item of an item-judged objective (ticket, incident, restore test, survey
-- response, latency sample, RPO exposure span), after corrections: the evidence behind its
-- windows. value is in the objective's unit (seconds; CSAT score; NPS +1/0/-1).
CREATE TABLE IF NOT EXISTS sla.outcomes (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    counted_at TIMESTAMPTZ NOT NULL,
    value DOUBLE,
    good BOOLEAN,
    detail VARCHAR
);

-- ServiceNow-style task SLA timers, one row per (ticket objective, ticket) whose timer started:
-- business and actual elapsed time, pauses, target and (pause-shifted) breach time. unmatched:
-- a priority the objective has no target for (no target, not counted in its windows);
-- incomplete: raw.ticket_rejects holds a line of the ticket (a rejected update), so its timer
-- may be wrong.
CREATE TABLE IF NOT EXISTS sla.ticket_timers (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    ticket_id VARCHAR NOT NULL,
    priority VARCHAR,
    timer_state VARCHAR NOT NULL,
    started_at TIMESTAMPTZ,
    stopped_at TIMESTAMPTZ,
    business_seconds DOUBLE,
    actual_seconds DOUBLE,
    paused_seconds DOUBLE,
    pauses BIGINT,
    target_seconds DOUBLE,
    breach_at TIMESTAMPTZ,
    breached BOOLEAN,
    unmatched BOOLEAN,
    incomplete BOOLEAN
);
ALTER TABLE sla.ticket_timers ADD COLUMN IF NOT EXISTS unmatched BOOLEAN;
ALTER TABLE sla.ticket_timers ADD COLUMN IF NOT EXISTS incomplete BOOLEAN;

-- The rejected lines of ticket sources naming a ticket (item_id), with each service the source
-- loaded tickets of: a ticket of that service with this id has a rejected update.
CREATE OR REPLACE VIEW raw.ticket_rejects AS
SELECT s.service, r.*
FROM raw.rejects AS r
JOIN (SELECT DISTINCT source, service FROM raw.ticket_events) AS s USING (source)
WHERE r.item_id IS NOT NULL;

-- Forecasts to the end of each objective's current window. Traffic objectives, per UTC hour:
-- series 'volume' (events per hour) or 'bad_ratio'. Item-judged objectives: series 'items' (items
-- per UTC day; `hour` is the day's start) and 'measured' (the window's final figure in its unit,
-- one row at window_end, weight 1, model the per-item outcome model). The model is chosen by
-- holdout error; weight = share of the step inside [as_of, window_end); interval = 10th–90th
-- percentile of the simulated paths.
CREATE TABLE IF NOT EXISTS predict.forecasts (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    series VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    holdout_mae DOUBLE,
    hour TIMESTAMPTZ NOT NULL,
    weight DOUBLE NOT NULL,
    mean DOUBLE,
    interval_low DOUBLE,
    interval_high DOUBLE
);

-- The probability that each objective's current window ends breached, with the expected final
-- attainment (shares) and measured figure in the objective's unit (10th–90th percentile), and
-- when the budget is expected to run out; method: forecast, item_simulation, measured_so_far or
-- insufficient_history (too little history for any model: p_breach and the figures null).
CREATE TABLE IF NOT EXISTS predict.breach_risk (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    window_label VARCHAR NOT NULL,
    as_of TIMESTAMPTZ NOT NULL,
    p_breach DOUBLE,
    expected_attainment DOUBLE,
    attainment_low DOUBLE,
    attainment_high DOUBLE,
    predicted_exhaustion_at TIMESTAMPTZ,
    target DOUBLE NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    method VARCHAR NOT NULL,
    volume_model VARCHAR,
    volume_holdout_mae DOUBLE,
    bad_ratio_model VARCHAR,
    bad_ratio_holdout_mae DOUBLE,
    unit VARCHAR,
    expected_measured DOUBLE,
    measured_low DOUBLE,
    measured_high DOUBLE
);
-- Warehouses created before the measured columns (item-judged objectives) get them here.
ALTER TABLE predict.breach_risk ADD COLUMN IF NOT EXISTS unit VARCHAR;
ALTER TABLE predict.breach_risk ADD COLUMN IF NOT EXISTS expected_measured DOUBLE;
ALTER TABLE predict.breach_risk ADD COLUMN IF NOT EXISTS measured_low DOUBLE;
ALTER TABLE predict.breach_risk ADD COLUMN IF NOT EXISTS measured_high DOUBLE;
-- Warehouses created before insufficient_history rows had p_breach NOT NULL.
ALTER TABLE predict.breach_risk ALTER COLUMN p_breach DROP NOT NULL;

-- Kept by earlier versions for a live recalibration of p_breach, which the backtests showed to
-- worsen the Brier score (pipelines/predict/calibration.py): dropped from older warehouses.
DROP TABLE IF EXISTS predict.breach_risk_history;

-- Causal anomaly scores of the pipeline's own 5-minute series (per service: error_ratio,
-- request_rate, latency_mean, latency_p99, probe_failure) over the last days of evidence.
CREATE TABLE IF NOT EXISTS predict.anomalies (
    series VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    member VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    value DOUBLE,
    score DOUBLE NOT NULL,
    is_anomaly BOOLEAN NOT NULL
);

-- Root-cause hints: per burn episode of an objective, the series whose anomalies line up best.
CREATE TABLE IF NOT EXISTS predict.root_causes (
    contract_id VARCHAR NOT NULL,
    objective_id VARCHAR NOT NULL,
    episode_start TIMESTAMPTZ NOT NULL,
    episode_end TIMESTAMPTZ NOT NULL,
    peak_burn_rate DOUBLE,
    rank INTEGER NOT NULL,
    series VARCHAR NOT NULL,
    dimension VARCHAR,
    member VARCHAR,
    metric VARCHAR,
    score DOUBLE,
    anomaly_inside DOUBLE,
    anomaly_before DOUBLE,
    lead_minutes DOUBLE,
    correlation DOUBLE,
    evidence VARCHAR
);
ALTER TABLE predict.root_causes ADD COLUMN IF NOT EXISTS p_value DOUBLE;
ALTER TABLE predict.root_causes ADD COLUMN IF NOT EXISTS significant BOOLEAN;

-- Demand against declared capacity: the day the forecast (and its upper bound) reaches it.
CREATE TABLE IF NOT EXISTS predict.capacity (
    service VARCHAR NOT NULL,
    capacity DOUBLE NOT NULL,
    current_peak DOUBLE,
    growth_per_day DOUBLE,
    runs_out_at DATE,
    runs_out_earliest DATE,
    model VARCHAR NOT NULL
);
