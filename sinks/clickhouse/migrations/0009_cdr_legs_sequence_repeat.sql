-- Two legs of one call may share a `sequence` (CCC writes them `1#2` in extras; a CCC leg without one takes its list
-- position, which may equal another's): keyed (cdr_id, sequence) alone, ClickHouse merged them into one row. The key
-- gains `sequence_repeat`: how many earlier legs of the call's `legs` have the same sequence (0 for the first, 1 for
-- the second, ...). Not the list position: a leg's repeat only moves when legs of its own sequence are reordered, so a
-- replay through a mapping that adds or drops a leg still lands every other leg on its old row.
--
-- Rows written before this migration read the column's default, 0: each is taken for the first leg of its sequence,
-- which is what every leg with a sequence of its own is, so a replay of such a call replaces them as before. A leg
-- already merged away is not restored by the migration; replaying its call brings it back (as repeat 1).
--
-- Added and put into the sorting key in one ALTER (ClickHouse allows appending a column to ORDER BY only in the ALTER
-- that adds it). Until the view below is changed, its rows get the default 0, as rows written before did.
ALTER TABLE {db}.cdr_legs ADD COLUMN IF NOT EXISTS sequence_repeat UInt32, MODIFY ORDER BY (cdr_id, sequence, sequence_repeat);

-- MODIFY QUERY swaps the view's query in one step: a sink inserting meanwhile has every batch's legs written by the
-- old query or by the new one, never by none (dropping and recreating the view would lose the legs of a batch
-- inserted between the two).
ALTER TABLE {db}.cdr_legs_mv MODIFY QUERY
SELECT
    cdr_id, vendor, tenant_id,
    leg.sequence AS sequence, toUInt32(repeat - 1) AS sequence_repeat,
    leg.type AS type, leg.agent AS agent, leg.agent_phone AS agent_phone,
    leg.skill_group_id AS skill_group_id, leg.skill_group_name AS skill_group_name,
    leg.started_at AS started_at, leg.ringing_at AS ringing_at, leg.answered_at AS answered_at, leg.ended_at AS ended_at,
    leg.talk_seconds AS talk_seconds, leg.end_status_text AS end_status_text,
    leg.transfer_from AS transfer_from, leg.transfer_to AS transfer_to, leg.recording_url AS recording_url,
    version
FROM {db}.cdr
ARRAY JOIN legs AS leg, arrayEnumerateUniq(arrayMap(l -> l.sequence, legs)) AS repeat;
