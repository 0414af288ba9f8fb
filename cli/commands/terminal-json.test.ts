// What the commands print as JSON from outside (vendor answers, Kafka records, vendor files) goes to a terminal as often
// as to a pipe: JSON.stringify leaves DEL, the C1 controls and the bidirectional and other format characters as they
// are, so a record could drive the terminal or read differently from its bytes. They are printed as \uXXXX escapes
// (terminalJson, as `cdrflow status --json` does): still JSON, the same values once parsed. Kafka, the registry and
// the run are stand-ins; each command prints one hostile value.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const HOSTILE = vi.hoisted(() => 'a\u202eb\u0085c\u007fd\u200be\u2028f');
// The Kafka client's log, closed when the command ends (commandKafka).
const kafkaLog = vi.hoisted(() => ({ closed: 0 }));

vi.mock('../kafka-access.ts', async (actual) => ({ ...(await actual<typeof import('../kafka-access.ts')>()), oneShotKafka: () => Promise.resolve({}) }));
vi.mock('../../core/avro.ts', async (actual) => ({ ...(await actual<typeof import('../../core/avro.ts')>()), createRegistry: () => ({}) }));
vi.mock('../../app/tail.ts', async (actual) => ({
  ...(await actual<typeof import('../../app/tail.ts')>()),
  // One record on partition 0, as the topic held it.
  readTopic: async (_kafka: unknown, _topic: string, options: { onRecord: (r: unknown) => Promise<void> }) => {
    await options.onRecord({});
    return [{ partition: 0, records: 1, start: 0, low: 0, end: 1 }];
  },
  tailRecord: (_registry: unknown, topic: string) =>
    Promise.resolve({ topic, partition: 0, offset: 0, timestamp: '2026-12-01T00:00:00.000Z', key: HOSTILE, kind: 'dead-letter', value: { reason: HOSTILE, vendor: 'tencent-ccc', payload: HOSTILE } }),
}));
vi.mock('../../app/ops-client.ts', () => ({ findRunningJob: () => Promise.resolve(undefined) }));
vi.mock('../../core/clickhouse.ts', async (actual) => ({ ...(await actual<typeof import('../../core/clickhouse.ts')>()), createClickHouse: () => Promise.resolve({ close: () => Promise.resolve() }) }));
vi.mock('../../sinks/clickhouse/index.ts', () => ({ migrate: () => Promise.resolve() }));
vi.mock('../../app/reconcile-service.ts', async (actual) => ({ ...(await actual<typeof import('../../app/reconcile-service.ts')>()), reconcileDepsOf: () => ({}) }));
vi.mock('../../core/kafka.ts', async (actual) => ({ ...(await actual<typeof import('../../core/kafka.ts')>()), ensureKafkaReachable: () => Promise.resolve(), createKafka: () => ({ closeLog: () => void kafkaLog.closed++ }) }));
vi.mock('../../reconcile/reconcile.ts', async (actual) => ({
  ...(await actual<typeof import('../../reconcile/reconcile.ts')>()),
  // An outcome whose tenant and missing keys came from the vendor.
  runReconcile: () => Promise.resolve({ exitCode: 1, rows: [{ tenant: HOSTILE, notInClickhouse: { count: 1, ids: [HOSTILE] } }] }),
}));

const { runCommand } = await import('../command.ts');

let printed: string[];
beforeEach(() => {
  kafkaLog.closed = 0;
  printed = [];
  const out = (text: unknown) => void printed.push(String(text));
  vi.spyOn(console, 'log').mockImplementation(out);
  vi.spyOn(process.stdout, 'write').mockImplementation((text) => (out(text), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

/** The one JSON text printed: no character of HOSTILE's raw, each as its escape, and the same values parsed. */
function expectEscaped(): unknown {
  expect(printed).toHaveLength(1);
  const [text] = printed as [string];
  expect(text).not.toMatch(/[\u007f-\u009f\u200b\u2028\u202e]/u);
  expect(text).toContain('a\\u202eb\\u0085c\\u007fd\\u200be\\u2028f');
  return JSON.parse(text) as unknown;
}

describe('JSON printed from outside data is escaped for the terminal', () => {
  it('tail --format json', async () => {
    const { command } = await import('./tail.ts');
    expect(await runCommand(command, ['cdr.dlq', '--format', 'json'])).toBe(0);
    expect(expectEscaped()).toMatchObject({ key: HOSTILE, value: { reason: HOSTILE, payload: HOSTILE } });
  });

  it('dlq --json', async () => {
    const { command } = await import('./dlq.ts');
    expect(await runCommand(command, ['--json'])).toBe(0);
    expect(expectEscaped()).toMatchObject({ total: 1, byReason: [{ reason: HOSTILE }], latest: [{ key: HOSTILE }] });
  });

  it('reconcile --json', async () => {
    const { command } = await import('./reconcile.ts');
    expect(await runCommand(command, ['--from', 'yesterday', '--to', 'yesterday', '--json'])).toBe(1);
    expect(expectEscaped()).toEqual({ exitCode: 1, rows: [{ tenant: HOSTILE, notInClickhouse: { count: 1, sample: [HOSTILE] } }] });
    expect(kafkaLog.closed).toBe(1);
  });
});
