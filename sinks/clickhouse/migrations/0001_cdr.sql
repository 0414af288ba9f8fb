-- The normalized CDR, one row per cdr_id once merged. ReplacingMergeTree(version) collapses vendor re-sends,
-- replays and sink retries to the newest row per cdr_id; queries that must not double count read it with FINAL
-- (the views below do). The insert-dedup window makes a retried insert with the same
-- insert_deduplication_token a no-op even though the table is not Replicated.
CREATE TABLE IF NOT EXISTS {db}.cdr
(
    cdr_id               String,
    vendor               LowCardinality(String),
    tenant_id            LowCardinality(String),
    natural_key          String,
    direction            Enum8('UNKNOWN' = 0, 'INBOUND' = 1, 'OUTBOUND' = 2, 'INTERNAL' = 3),
    channel              Enum8('UNKNOWN' = 0, 'PSTN' = 1, 'VOIP' = 2, 'VIDEO' = 3),
    call_type            LowCardinality(Nullable(String)),
    caller_type          Enum8('UNKNOWN' = 0, 'PHONE' = 1, 'APP_USER' = 2, 'PROTECTED' = 3),
    caller_value         Nullable(String),
    caller_e164          Bool,
    caller_hashed        Bool,
    caller_location      Nullable(String),
    callees              Array(Tuple(type LowCardinality(String), value String, e164 Bool, hashed Bool, location Nullable(String))),
    started_at           Nullable(DateTime64(3, 'UTC')),
    queued_at            Nullable(DateTime64(3, 'UTC')),
    ringing_at           Nullable(DateTime64(3, 'UTC')),
    answered_at          Nullable(DateTime64(3, 'UTC')),
    ended_at             Nullable(DateTime64(3, 'UTC')),
    ring_seconds         Nullable(Int32),
    queue_seconds        Nullable(Int32),
    ivr_seconds          Nullable(Int32),
    talk_seconds         Int32,
    total_seconds        Nullable(Int32),
    billable_seconds     Int32,
    billable_minutes     Int32,
    billing_rule         LowCardinality(String),
    end_status           Enum8('UNKNOWN' = 0, 'ANSWERED' = 1, 'NO_ANSWER' = 2, 'BUSY' = 3, 'REJECTED' = 4, 'CANCELLED' = 5,
                               'ABANDONED' = 6, 'UNREACHABLE' = 7, 'BLOCKED' = 8, 'FAILED' = 9, 'SYSTEM_ERROR' = 10),
    vendor_status_code   LowCardinality(Nullable(String)),
    vendor_status_text   Nullable(String),
    hangup_side          Nullable(Enum8('UNKNOWN' = 0, 'CALLER' = 1, 'CALLEE' = 2, 'AGENT' = 3, 'SYSTEM' = 4)),
    agent_id             Nullable(String),
    agent_name           Nullable(String),
    skill_group_id       Nullable(String),
    skill_group_name     Nullable(String),
    legs                 Array(Tuple(sequence Int32, type Nullable(String), agent Nullable(String), agent_phone Nullable(String),
                                     skill_group_id Nullable(String), skill_group_name Nullable(String),
                                     started_at Nullable(DateTime64(3, 'UTC')), ringing_at Nullable(DateTime64(3, 'UTC')),
                                     answered_at Nullable(DateTime64(3, 'UTC')), ended_at Nullable(DateTime64(3, 'UTC')),
                                     talk_seconds Int32, end_status_text Nullable(String), transfer_from Nullable(String),
                                     transfer_to Nullable(String), recording_url Nullable(String))),
    ivr_keys             Array(Tuple(phase LowCardinality(String), key String, label Nullable(String),
                                     at Nullable(DateTime64(3, 'UTC')), node_label Nullable(String))),
    recording_url        Nullable(String),
    recording_ref        Nullable(String),
    intent_level         LowCardinality(Nullable(String)),
    extras               Map(String, String),
    raw_topic            LowCardinality(Nullable(String)),
    raw_partition        Int32,
    raw_offset           Int64,
    received_at          DateTime64(3, 'UTC'),
    ingest_mode          LowCardinality(String),
    mapping_version      LowCardinality(String),
    -- Where the sink read the row (cdr.normalized) and the version that decides which row survives per cdr_id.
    source_topic         LowCardinality(String),
    source_partition     Int32,
    source_offset        Int64,
    version              UInt64,
    inserted_at          DateTime64(3, 'UTC') DEFAULT now64(3),
    -- The instant the analytics bucket a call into: when it started, or when we received it if the vendor gave no start.
    call_time            DateTime64(3, 'UTC') MATERIALIZED coalesce(started_at, received_at),
    -- Answered = the vendor said so, or the call has an answer time (a TRTC call interrupted after pickup ends
    -- FAILED but was connected and is billed). One definition for every view.
    is_answered          Bool MATERIALIZED end_status = 'ANSWERED' OR answered_at IS NOT NULL,
    -- Data-quality guards: a row breaking them is rejected by ClickHouse and dead-lettered by the sink.
    CONSTRAINT billable_not_negative CHECK billable_seconds >= 0 AND talk_seconds >= 0,
    CONSTRAINT minutes_from_seconds CHECK billable_minutes = intDiv(billable_seconds + 59, 60),
    CONSTRAINT unanswered_bills_nothing CHECK billable_seconds = 0 OR end_status = 'ANSWERED' OR answered_at IS NOT NULL
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(coalesce(started_at, received_at))
ORDER BY cdr_id
SETTINGS non_replicated_deduplication_window = 10000;
