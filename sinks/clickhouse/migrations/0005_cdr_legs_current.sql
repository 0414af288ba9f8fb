-- The legs of each call's current row. `cdr_legs` is append-only through its materialized view: a replay through a
-- mapping that yields fewer legs for a call leaves the old extra legs there (same cdr_id, higher sequence). This
-- view unfolds the legs of `cdr FINAL` instead, so it always shows exactly the legs of the row the views count.
CREATE VIEW IF NOT EXISTS {db}.cdr_legs_current AS
SELECT
    cdr_id, vendor, tenant_id,
    leg.sequence AS sequence, leg.type AS type, leg.agent AS agent, leg.agent_phone AS agent_phone,
    leg.skill_group_id AS skill_group_id, leg.skill_group_name AS skill_group_name,
    leg.started_at AS started_at, leg.ringing_at AS ringing_at, leg.answered_at AS answered_at, leg.ended_at AS ended_at,
    leg.talk_seconds AS talk_seconds, leg.end_status_text AS end_status_text,
    leg.transfer_from AS transfer_from, leg.transfer_to AS transfer_to, leg.recording_url AS recording_url,
    version
FROM {db}.cdr FINAL
ARRAY JOIN legs AS leg;
