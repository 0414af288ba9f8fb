// `cdrflow infra status`: what the servers on the stack's ports answered is shown escaped and cut.
import { afterEach, describe, expect, it, vi } from 'vitest';

// A broker's metadata (its cluster id) and its client's error, the registry's answer: whatever holds those ports wrote them.
const hostile = `metadata request failed: \u001b]0;owned\u0007\u001b[2J\nregistry  healthy\u202e${'x'.repeat(100_000)}`;
vi.mock('../../infra/local/stack.ts', () => ({
  status: async () => [
    { name: 'kafka', pid: 4242, port: 19092, healthy: false, rssMiB: undefined, detail: hostile },
    { name: 'registry', pid: undefined, port: 19081, healthy: false, rssMiB: undefined, detail: 'not running' },
  ],
  up: async () => {
    throw new Error('not in this test');
  },
  down: async () => {
    throw new Error('not in this test');
  },
}));
const { command } = await import('./infra.ts');

afterEach(() => vi.restoreAllMocks());

describe('cdrflow infra status', () => {
  it("shows a server's words on its one line, escaped and cut as every reason a person reads is", async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await command.run(['status', '--port-base', '19000'])).toBe(1);
    const lines = log.mock.calls.map((c) => String(c[0]));
    expect(lines).toHaveLength(2);
    const kafka = lines[0]!;
    // eslint-disable-next-line no-control-regex
    expect(kafka).not.toMatch(/[\u0000-\u001f\u202e]/);
    expect(kafka).toMatch(/^kafka {5}UNHEALTHY {2}pid 4242 {5}port 19092 {2}metadata request failed: \\u001b\]0;owned\\u0007\\u001b\[2J\\nregistry {2}healthy\\u202ex+… \(reason cut, 100\d\d\d chars\)$/);
    expect(kafka.length).toBeLessThan(600);
    expect(lines[1]).toBe('registry  stopped    pid -        port 19081  not running');
  });
});
