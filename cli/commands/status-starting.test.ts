// `cdrflow status` while the job on the ops port is still starting: the states it sends are shown escaped and cut.
import { afterEach, describe, expect, it, vi } from 'vitest';

// What answers on the ops port may be another program: a state holding escape sequences, a forged line, any length.
const hostile = `waiting: \u001b]0;owned\u0007\u001b[2J\nClickHouse: 0 CDRs\u202e${'x'.repeat(100_000)}`;
// A component's name is the answer's too.
const hostileName = `receiver\u001b[2J\nClickHouse: 0 CDRs\u202e${'y'.repeat(100_000)}`;

vi.mock('../../app/ops-client.ts', async (original) => ({
  ...(await original<typeof import('../../app/ops-client.ts')>()),
  findRunningJob: async () => 'http://127.0.0.1:1',
  opsStatus: async () => ({ starting: true, components: { sink: 'running', normalize: hostile, [hostileName]: 'running' } }),
}));
const { command } = await import('./status.ts');

afterEach(() => vi.restoreAllMocks());

describe('cdrflow status of a job still starting', () => {
  it("shows each component's state on the one line, escaped and cut as every reason a person reads is", async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await command.run([])).toBe(0);
    const printed = log.mock.calls.map((c) => String(c[0]));
    expect(printed).toHaveLength(1);
    expect(printed[0]!.split('\n')).toHaveLength(1);
    // eslint-disable-next-line no-control-regex
    expect(printed[0]).not.toMatch(/[\u0000-\u001f\u202e]/);
    expect(printed[0]).toMatch(/^cdrflow start is starting: sink running, normalize waiting: \\u001b\]0;owned\\u0007\\u001b\[2J\\nClickHouse: 0 CDRs\\u202ex+… \(reason cut, 100\d\d\d chars\), receiver\\u001b\[2J\\nClickHouse: 0 CDRs\\u202ey+… \(reason cut, 100\d\d\d chars\) running$/);
    expect(printed[0]!.length).toBeLessThan(800);
  });
});
