// Shared helpers for tests: unique names (tests share one broker, registry and ClickHouse), condition polling
// (never fixed sleeps) and clients pointed at whatever test/global-setup.ts chose.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { createKafka } from '../core/kafka.ts';
import type { Kafka } from '../core/kafka.ts';
import { createRegistry } from '../core/avro.ts';
import { createClickHouse, quoteIdentifier } from '../core/clickhouse.ts';
import type { ClickHouseTarget } from '../core/clickhouse.ts';
import { CdrflowError } from '../core/errors.ts';
import { workerThreadTids } from '../core/worker-thread.ts';
import { pollUntil, StopPolling } from '../infra/local/processes.ts';
import { REPO_ROOT } from '../core/repo-root.ts';
import type { TestInfra } from '../infra/test-infra.ts';

/**
 * maxWaitTimeInMs for the tests' own reading consumers. kafkajs' default (5 s) is how long a fetch waits at the end of
 * a topic, and disconnect() waits for that fetch: every read-to-the-end of a test paid 5 s (0.2 s with this).
 */
export const TEST_FETCH_WAIT_MS = 100;

/**
 * A name no other test (or earlier run against the same long-lived servers) has used: `<prefix>_<time>_<random>`.
 * Only [a-z0-9_] so it is valid as a Kafka topic, consumer group, registry subject, ClickHouse database or table.
 */
export function uniqueName(prefix: string): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${safe}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is being awaited; the timeout error says it, plus the last error the condition threw. */
  message?: string;
  /**
   * More to say when the wait gives up, evaluated then (a child process's output so far: a message built before the
   * wait would show none of it). Not added to a StopPolling, which says its own.
   */
  details?: () => string;
}

/**
 * Polls `condition` until it returns something other than false/undefined (that value is returned) or throws once
 * the deadline passes. A condition that throws is retried; its last error is attached to the timeout.
 */
export function waitFor<T>(
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitForOptions = {},
): Promise<T> {
  const waiting = pollUntil(condition, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    intervalMs: opts.intervalMs ?? 100,
    message: opts.message ?? 'condition',
  });
  const { details } = opts;
  if (!details) return waiting;
  return waiting.catch((err: unknown) => {
    throw err instanceof StopPolling ? err : new Error(`${(err as Error).message}\n${details()}`, { cause: err });
  });
}

/**
 * OS thread ids of this process's running worker threads started with `role`, once `count` of them reported theirs
 * (core/worker-thread.ts; Linux only).
 */
export function workerTidsOf(role: string, count = 1): Promise<number[]> {
  return waitFor(
    () => {
      const tids = [...workerThreadTids()].filter(([, r]) => r === role).map(([tid]) => tid);
      return tids.length === count && tids;
    },
    { message: `${count} ${role} thread(s) reporting their ids` },
  );
}

/** The servers chosen by the global setup (integration tests only). */
export function testInfra(): TestInfra {
  return inject('infra');
}

export function testKafka(clientId = uniqueName('test')): Kafka {
  return createKafka({ clientId, brokers: testInfra().kafkaBrokers });
}

export function testRegistry() {
  return createRegistry(testInfra().schemaRegistryUrl);
}

let embeddedDir: string | undefined;

/**
 * A ClickHouse client plus a fresh database only this test uses (dropped by `cleanup`). Embedded mode opens one data
 * directory per test process under .data/test-clickhouse/ (the engine allows a single directory per process);
 * several clients in one process share it.
 */
export async function testClickHouse(
  prefix = 'test',
): Promise<{ client: ClickHouseClient; database: string; cleanup: () => Promise<void> }> {
  const database = uniqueName(prefix);
  const url = process.env['CLICKHOUSE_URL'];
  let target: ClickHouseTarget;
  if (url) {
    target = {
      kind: 'http',
      url,
      username: process.env['CLICKHOUSE_USER'] || 'default',
      password: process.env['CLICKHOUSE_PASSWORD'] ?? '',
      database: 'default',
    };
  } else {
    if (embeddedDir === undefined) {
      const root = join(REPO_ROOT, '.data', 'test-clickhouse');
      mkdirSync(root, { recursive: true });
      embeddedDir = mkdtempSync(join(root, `pid${process.pid}-`));
      const dir = embeddedDir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    target = { kind: 'embedded', dataDir: embeddedDir, database: 'default' };
  }
  const client = await createClickHouse(target);
  await client.command({ query: `CREATE DATABASE ${quoteIdentifier(database)}` });
  return {
    client,
    database,
    cleanup: async () => {
      try {
        await client.command({ query: `DROP DATABASE IF EXISTS ${quoteIdentifier(database)}` });
      } finally {
        await client.close();
      }
    },
  };
}

/**
 * An embedded ClickHouse on a fresh data directory of its own under the system temp dir (`cdrflow-<prefix>-…`), in the
 * `default` database, for a unit test file: open it in beforeAll, `close` it in afterAll (closes the client, removes
 * the directory). The engine takes one data directory per process: another client in the same file opens `dir`.
 */
export async function embeddedClickHouse(prefix: string): Promise<{ client: ClickHouseClient; dir: string; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `cdrflow-${prefix}-`));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let client: ClickHouseClient;
  try {
    client = await createClickHouse({ kind: 'embedded', dataDir: dir, database: 'default' });
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    client,
    dir,
    close: async () => {
      try {
        await client.close();
      } finally {
        removeDir();
      }
    },
  };
}

/** The CdrflowError `p` rejects with (any other outcome fails the test). */
export async function rejection(p: Promise<unknown>): Promise<CdrflowError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CdrflowError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}
