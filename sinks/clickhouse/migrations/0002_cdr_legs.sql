-- Transfer / service legs, one row per (cdr_id, sequence), filled from cdr.legs by a materialized view so that a
-- batch is one insert (one dedup token) and legs can never exist without their call.
CREATE TABLE IF NOT EXISTS {db}.cdr_legs
(
    cdr_id            String,
    vendor            LowCardinality(String),
    tenant_id         LowCardinality(String),
    sequence          Int32,
    type              LowCardinality(Nullable(String)),
    agent             Nullable(String),
    agent_phone       Nullable(String),
    skill_group_id    Nullable(String),
    skill_group_name  Nullable(String),
    started_at        Nullable(DateTime64(3, 'UTC')),
    ringing_at        Nullable(DateTime64(3, 'UTC')),
    answered_at       Nullable(DateTime64(3, 'UTC')),
    ended_at          Nullable(DateTime64(3, 'UTC')),
    talk_seconds      Int32,
    end_status_text   Nullable(String),
    transfer_from     Nullable(String),
    transfer_to       Nullable(String),
    recording_url     Nullable(String),
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (cdr_id, sequence)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.cdr_legs_mv TO {db}.cdr_legs AS
SELECT
    cdr_id, vendor, tenant_id,
    leg.sequence AS sequence, leg.type AS type, leg.agent AS agent, leg.agent_phone AS agent_phone,
    leg.skill_group_id AS skill_group_id, leg.skill_group_name AS skill_group_name,
    leg.started_at AS started_at, leg.ringing_at AS ringing_at, leg.answered_at AS answered_at, leg.ended_at AS ended_at,
    leg.talk_seconds AS talk_seconds, leg.end_status_text AS end_status_text,
    leg.transfer_from AS transfer_from, leg.transfer_to AS transfer_to, leg.recording_url AS recording_url,
    version
FROM {db}.cdr
ARRAY JOIN legs AS leg;
