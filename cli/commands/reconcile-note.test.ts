// `cdrflow reconcile` run in this process (no job on the ops port): its notes, which may quote a vendor API's error,
// reach stderr escaped and cut. Everything around the run is stubbed: no Kafka, ClickHouse or vendor is asked.
import { afterEach, describe, expect, it, vi } from 'vitest';

// A vendor's error text as the source layer notes it (reconcile/layers.ts): escape sequences, a forged line, any length.
const hostile = `source tencent-ccc 1400000001 unreachable after 3 attempt(s): \u001b]0;owned\u0007\u001b[2J\nreconcile: no drift\u202e${'x'.repeat(100_000)}`;

vi.mock('../../app/ops-client.ts', async (original) => ({ ...(await original<typeof import('../../app/ops-client.ts')>()), findRunningJob: async () => undefined }));
vi.mock('../../core/clickhouse.ts', async (original) => ({ ...(await original<typeof import('../../core/clickhouse.ts')>()), createClickHouse: async () => ({ close: async () => {} }) }));
vi.mock('../../sinks/clickhouse/index.ts', async (original) => ({ ...(await original<typeof import('../../sinks/clickhouse/index.ts')>()), migrate: async () => ({}) }));
vi.mock('../../core/kafka.ts', async (original) => ({ ...(await original<typeof import('../../core/kafka.ts')>()), ensureKafkaReachable: async () => {} }));
vi.mock('../kafka-access.ts', async (original) => ({ ...(await original<typeof import('../kafka-access.ts')>()), commandKafka: async () => ({}) }));
vi.mock('../../reconcile/reconcile.ts', async (original) => ({
  ...(await original<typeof import('../../reconcile/reconcile.ts')>()),
  runReconcile: async (deps: { log?: (msg: string) => void }) => {
    deps.log?.(hostile);
    throw new Error('stopped by the test after the note');
  },
}));
const { command } = await import('./reconcile.ts');

afterEach(() => vi.restoreAllMocks());

describe('cdrflow reconcile in this process', () => {
  it("writes a note quoting a vendor's error on one line, escaped and cut as every reason a person reads is", async () => {
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => written.push(String(chunk)) > 0);
    await expect(command.run(['--from', '2026-12-01', '--to', '2026-12-01'])).rejects.toThrow(/stopped by the test/);
    const notes = written.filter((w) => w.startsWith('cdrflow reconcile: source '));
    expect(notes).toHaveLength(1);
    const note = notes[0]!;
    // eslint-disable-next-line no-control-regex
    expect(note.slice(0, -1)).not.toMatch(/[\u0000-\u001f\u202e]/);
    expect(note).toMatch(/^cdrflow reconcile: source tencent-ccc 1400000001 unreachable after 3 attempt\(s\): \\u001b\]0;owned\\u0007\\u001b\[2J\\nreconcile: no drift\\u202ex+… \(reason cut, 100\d\d\d chars\)\n$/);
    expect(note.length).toBeLessThan(600);
  });
});
