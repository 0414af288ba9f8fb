-- Analytics views. Every one reads `cdr FINAL`, so a cdr_id counts once whatever re-sends, replays or retried
-- inserts happened and whether or not background merges have run yet. Buckets use call_time
-- (started_at, or received_at when the vendor gave no start), in UTC. avg_talk_seconds averages answered calls only; `answered` is cdr.is_answered.
CREATE VIEW IF NOT EXISTS {db}.cdr_daily AS
SELECT
    toDate(call_time)                                        AS day,
    vendor,
    tenant_id,
    ifNull(skill_group_id, '')                               AS skill_group_id,
    any(ifNull(skill_group_name, ''))                        AS skill_group_name,
    count()                                                  AS calls,
    countIf(is_answered)                                     AS answered,
    round(answered / calls, 4)                               AS answer_rate,
    sum(billable_minutes)                                    AS billable_minutes,
    sum(billable_seconds)                                    AS billable_seconds,
    sum(talk_seconds)                                        AS talk_seconds,
    round(if(answered = 0, 0, sumIf(c.talk_seconds, c.is_answered) / answered), 1) AS avg_talk_seconds
FROM {db}.cdr AS c FINAL
GROUP BY day, vendor, tenant_id, skill_group_id;

CREATE VIEW IF NOT EXISTS {db}.cdr_hourly AS
SELECT
    toStartOfHour(call_time)                                 AS hour,
    vendor,
    tenant_id,
    count()                                                  AS calls,
    countIf(is_answered)                                     AS answered,
    sum(billable_minutes)                                    AS billable_minutes
FROM {db}.cdr FINAL
GROUP BY hour, vendor, tenant_id;

CREATE VIEW IF NOT EXISTS {db}.cdr_end_status AS
SELECT
    toDate(call_time)                                        AS day,
    vendor,
    tenant_id,
    toString(end_status)                                     AS end_status,
    ifNull(vendor_status_code, '')                           AS vendor_status_code,
    count()                                                  AS calls,
    round(calls / sum(calls) OVER (PARTITION BY day, vendor, tenant_id), 4) AS share
FROM {db}.cdr FINAL
GROUP BY day, vendor, tenant_id, end_status, vendor_status_code;
