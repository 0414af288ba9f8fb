-- Contract v2 of cdr.normalized adds `room_id` (the TRTC media room). A new nullable column: rows written before
-- read NULL (the Avro default), inserts that do not name it keep working, and the views, which list their columns,
-- are untouched. ADD COLUMN is a metadata-only change in ClickHouse (no rewrite of existing parts).
ALTER TABLE {db}.cdr ADD COLUMN IF NOT EXISTS room_id Nullable(String) AFTER mapping_version;
