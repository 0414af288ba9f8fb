-- History of `cdrflow reconcile` runs: one row per run, pass (before / after a repair) and vendor × tenant × day,
-- with every layer's figures, the drift found and what the repair did, so a month's sign-off can point at the run
-- that proved it. Written by the reconcile command and by the scheduled reconcile of `cdrflow start`.
CREATE TABLE IF NOT EXISTS {db}.reconcile_runs
(
    run_id                  String,
    started_at              DateTime64(3, 'UTC'),
    finished_at             DateTime64(3, 'UTC'),
    trigger                 LowCardinality(String),
    pass                    LowCardinality(String),
    scope_from              Date,
    scope_to                Date,
    tz                      LowCardinality(String),
    cutoff                  DateTime64(3, 'UTC'),
    repair                  Bool,
    vendor                  LowCardinality(String),
    tenant_id               String,
    day                     Date,
    source_kind             LowCardinality(String),
    source_records          Nullable(Int64),
    source_minutes          Nullable(Int64),
    raw_records             Int64,
    normalized_records      Int64,
    dead_lettered           Int64,
    clickhouse_count        Int64,
    clickhouse_uniq         Int64,
    clickhouse_minutes      Int64,
    clickhouse_stored_rows  Int64,
    daily_calls             Nullable(Int64),
    daily_minutes           Nullable(Int64),
    hourly_calls            Int64,
    hourly_minutes          Int64,
    end_status_calls        Nullable(Int64),
    drift_records           Int64,
    drift                   Array(Tuple(kind LowCardinality(String), records Int64, detail String)),
    repaired                Array(Tuple(kind LowCardinality(String), records Int64, detail String))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (started_at, run_id, pass, vendor, tenant_id, day);
