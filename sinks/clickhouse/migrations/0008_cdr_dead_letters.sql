-- Every dead letter of cdr.dlq, loaded by the dlq-loader stage so analysts count and read them in SQL (the business
-- dashboard's "Dead letters per reason"). One row per message on cdr.dlq: its own position there (dlq_topic,
-- dlq_partition, dlq_offset) is the identity. That key is exact for every dead letter, also those that never were
-- Kafka messages (origin offset -1: a polled record that could not be keyed, a file line), and it counts what the
-- topic holds. Origin and component would not be: every -1 letter of a topic shares (origin_topic, -1, -1, component).
-- The loader stores each position once without FINAL (dedup token per offset range + the stored position per
-- partition, see sinks/clickhouse/batcher.ts); ReplacingMergeTree on the same key is the backstop.
CREATE TABLE IF NOT EXISTS {db}.cdr_dead_letters
(
    dlq_topic           LowCardinality(String),
    dlq_partition       Int32,
    dlq_offset          Int64,
    failed_at           DateTime64(3, 'UTC'),
    -- The reason: a CdrflowError kind (bad_record, rejected_by_sink, ...).
    error_kind          LowCardinality(String),
    error_message       String,
    -- The stage that dead-lettered it (normalize, sink.clickhouse, a poller, ...).
    component           LowCardinality(String),
    vendor              LowCardinality(Nullable(String)),
    cdr_id              Nullable(String),
    origin_topic        LowCardinality(String),
    origin_partition    Int32,
    origin_offset       Int64,
    -- The original message key and value, byte for byte (Avro, JSON or whatever arrived), cut at the loader's
    -- maxOriginalBytes; original_size is the full size, so a cut value is visible.
    original_key        Nullable(String),
    original_value      Nullable(String),
    original_size       UInt32,
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (dlq_topic, dlq_partition, dlq_offset)
SETTINGS non_replicated_deduplication_window = 10000;
