-- The vendor code tables the normalize mapping uses (vendor raw code -> unified end status), so analysts can
-- join a raw code to its meaning. `cdrflow migrate` refreshes the rows from transforms/normalize/codes on every run;
-- ReplacingMergeTree keeps one row per code, the newest refresh winning.
CREATE TABLE IF NOT EXISTS {db}.end_status_codes
(
    vendor        LowCardinality(String),
    code_field    LowCardinality(String),
    code          String,
    end_status    LowCardinality(String),
    description   String,
    refreshed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY (vendor, code_field, code);

CREATE TABLE IF NOT EXISTS {db}.end_statuses
(
    end_status   LowCardinality(String),
    description  String,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY end_status;
