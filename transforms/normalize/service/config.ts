// Configuration of the Kafka-wired normalize service (zod, strict: an unknown key is a startup error with its path).
import { hostname } from 'node:os';
import { z } from 'zod';
import { ALL_RAW_TOPICS, CONSUMER_GROUPS, TOPICS } from '../../../core/topology.ts';
import { normalizeOptionsSchema } from '../config.ts';
import { kafkaName } from '../../../core/zod-issues.ts';

const name = kafkaName;

/** normalize's consumer group id; `replay --group` is held to it too. 249: Kafka's bound on a topic name. */
export const groupIdSchema = name.max(249, 'at most 249 characters');

export const normalizeServiceConfigSchema = z.strictObject({
  groupId: groupIdSchema.default(CONSUMER_GROUPS.normalize),
  inputTopics: z.array(name).min(1).default([...ALL_RAW_TOPICS]),
  outputTopic: name.default(TOPICS.normalized),
  deadLetterTopic: name.default(TOPICS.deadLetter),
  /**
   * Stable identity of this process: the transactional.id is `<groupId>.<instanceId>`, so a restarted instance fences
   * its crashed predecessor and aborts its open transaction. Two live processes must never share it.
   */
  instanceId: name.default(() => hostname().replace(/[^A-Za-z0-9._-]/g, '-') || 'normalize-0'),
  maxMessagesPerTransaction: z.int().min(1).max(100_000).default(2_000),
  /**
   * Sample records the stage runs through its own transform at start-up, before it joins the group, so that V8 has
   * optimized the mapping and the codecs before live records arrive (warm-up.ts); 0 skips it. Off by default for now:
   * in one of the two CI runs with 8,000 as the default, the crash test with two workers
   * (sinks/clickhouse/pipeline-crash.int.test.ts) found one 20-record chunk committed twice; whether the warm-up
   * causes that or only shifts the members' join times onto an older race is not known yet (docs/performance.md).
   */
  warmUpRecords: z.int().min(0).max(100_000).default(8000),
  /** A chunk of at least this many records in which every record threw at the same stage stops the stage (systemic). */
  systemicFailureThreshold: z.int().min(2).default(50),
  /** Create missing topics at start-up (local and test stacks); production usually provisions them. */
  /**
   * Kafka session timeout: how long the group waits for a member that went silent (a killed process) before giving
   * its partitions to the others or to its restarted successor. The broker's minimum (6 s) makes restarts fast; the
   * stage heartbeats every sixth of it, also during long inserts. A clean stop leaves the group at once.
   */
  sessionTimeoutMs: z.int().min(6_000).max(300_000).default(6_000),
  createTopics: z.boolean().default(true),
  partitions: z.int().min(1).default(3),
  mapping: normalizeOptionsSchema.default(normalizeOptionsSchema.parse({})),
});

export type NormalizeServiceConfig = z.output<typeof normalizeServiceConfigSchema>;
export type NormalizeServiceConfigInput = z.input<typeof normalizeServiceConfigSchema>;

export function parseNormalizeServiceConfig(input: unknown): NormalizeServiceConfig {
  return normalizeServiceConfigSchema.parse(input ?? {});
}

export const transactionalIdOf = (config: NormalizeServiceConfig) => `${config.groupId}.${config.instanceId}`;
