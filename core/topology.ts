// The whole topology in one place: vendors, topics, consumer groups, schema subjects.
// Every component takes its names from here so a rename is one edit.

export const VENDORS = ['tencent-ccc', 'tencent-trtc', 'huawei-privatenumber', 'alibaba-lvms'] as const;
export type Vendor = (typeof VENDORS)[number];

export function isVendor(value: string): value is Vendor {
  return (VENDORS as readonly string[]).includes(value);
}

export const TOPICS = {
  raw: (vendor: Vendor) => `cdr.raw.${vendor}`,
  /** Huawei call events (callin/callout/alerting/answer/disconnect), kept raw; not CDRs, not normalized. */
  huaweiCallEvents: 'cdr.events.huawei-privatenumber',
  normalized: 'cdr.normalized',
  deadLetter: 'cdr.dlq',
  /** Compacted: key = checkpoint id, value = JSON checkpoint. */
  checkpoints: 'cdrflow.checkpoints',
} as const;

export const ALL_RAW_TOPICS = VENDORS.map((v) => TOPICS.raw(v));

export const CONSUMER_GROUPS = {
  normalize: 'cdrflow.normalize',
  clickhouseSink: 'cdrflow.sink.clickhouse',
  dlqLoader: 'cdrflow.dlq-loader',
} as const;

/** Confluent TopicNameStrategy: `<topic>-value`. */
export const subjectFor = (topic: string) => `${topic}-value`;

/** Record schema files in schemas/ per topic (the raw topics and the call-event topic share the envelope). */
export const SCHEMA_FILES = {
  rawEnvelope: 'raw-envelope.avsc',
  normalized: 'cdr-normalized.avsc',
  deadLetter: 'dead-letter.avsc',
} as const;

/** Default partition counts for the local single broker; production sizes them per volume. */
export const DEFAULT_PARTITIONS = 3;
