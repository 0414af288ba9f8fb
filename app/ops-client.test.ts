// `cdrflow status` and `cdrflow sql` against an ops port that answers what the job never would (another version of
// cdrflow, a program faking the header, a job gone wrong): one clear line naming the address, never a JavaScript
// error about the answer's shape, never the whole of a huge answer in memory, never a terminal's control sequences.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { REPO_ROOT } from '../core/repo-root.ts';
import { MAX_STATUS_BYTES, OpsRequestError, opsQuery, opsStatus } from './ops-client.ts';
import { formatStatus, type StatusSnapshot } from './status.ts';

let server: Server | undefined;

async function opsPort(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(answer);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server!.close(r));
  server = undefined;
});

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

describe('opsStatus against a wrong answer', () => {
  for (const body of ['null', '{}', '[1, 2]', '"ok"', '{"components": {}}', '<html>not json</html>']) {
    it(`an answer of ${body} is said to be no status of cdrflow start, naming the address`, async () => {
      const base = await opsPort((_req, res) => res.end(body));
      const err = await opsStatus(base).then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(OpsRequestError);
      expect(err!.message).toContain(base);
      expect(err!.message).toMatch(/not a status of `cdrflow start`/);
    });
  }

  // Objects and arrays where the top level has them, a wrong type deeper in: each ended in a TypeError in formatStatus.
  const full: StatusSnapshot = {
    at: '2026-12-01T12:00:00.000Z', source: 'running job', pid: 42, uptimeSec: 60, demo: false, clickhouseTarget: 'embedded', components: { sink: 'running' },
    intake: { 'tencent-ccc': { kind: 'poll', records: 3, errors: { throttled: 1 } } },
    normalize: { in: 3, out: 3, deadLettered: 0, lag: 0 }, sink: { in: 3, out: 3, deadLettered: 0, lag: 0 },
    clickhouse: { cdrs: 3, billableMinutes: 5, byVendor: [{ vendor: 'tencent-ccc', cdrs: 3, answered: 2, billableMinutes: 5 }] },
    checkpoints: [{ id: 'tencent-ccc:1400000001:live', watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z', ageSec: 30, watermarkDelaySec: 300 }],
  };
  const deeper: [string, Record<string, unknown>][] = [
    ['an intake whose errors are not an object', { intake: { 'tencent-ccc': { kind: 'poll', records: 3, errors: null } } }],
    ['a checkpoint without id', { checkpoints: [{ watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z', ageSec: 30, watermarkDelaySec: 300 }] }],
    ['a ClickHouse row without vendor', { clickhouse: { cdrs: 3, billableMinutes: 5, byVendor: [{ cdrs: 3 }] } }],
    ['demo traffic without its vendors', { demoTraffic: { networkRefusals: 0 } }],
  ];
  for (const [name, wrong] of deeper) {
    it(`an answer with ${name} is said to be no status of cdrflow start, not a TypeError`, async () => {
      const base = await opsPort((_req, res) => res.end(JSON.stringify({ ...full, ...wrong })));
      const err = await opsStatus(base).then(() => undefined, (e: unknown) => e as Error);
      expect(err).toBeInstanceOf(OpsRequestError);
      expect(err!.message).toMatch(/not a status of `cdrflow start`/);
    });
  }

  it('takes the snapshot of a job still starting and the full one', async () => {
    const starting = { starting: true, components: { sink: 'starting' } };
    let answer: object = starting;
    const base = await opsPort((_req, res) => res.end(JSON.stringify(answer)));
    expect(await opsStatus(base)).toEqual(starting);
    answer = full;
    expect(formatStatus(await opsStatus(base))).toContain('tencent-ccc:1400000001:live');
  });

  it(`stops reading an answer past ${MAX_STATUS_BYTES} bytes (a 2 GB one took the command to 4 GB)`, async () => {
    let written = 0;
    const base = await opsPort((_req, res) => {
      const chunk = Buffer.alloc(1 << 20, 0x20);
      const more = () => {
        // Stops by itself well past the limit, so an old client that reads it all still ends.
        while (written < MAX_STATUS_BYTES * 4) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('{}');
      };
      more();
    });
    const err = await opsStatus(base).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(new RegExp(`${base}/status: answer longer than ${MAX_STATUS_BYTES} bytes`));
    expect(written).toBeLessThan(MAX_STATUS_BYTES * 4);
  });

  it('says which address did not answer in time', async () => {
    const base = await opsPort(() => undefined);
    const err = await opsStatus(base, 300).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe(`the ops port at ${base} did not answer /status within 0.3 s`);
  });
});

describe('an error answer of the ops port', () => {
  const hostile = `refused \x1b[2J\x1b]0;owned\x07 ${'x'.repeat(100_000)}`;

  it('is shown shortened and without control characters (/status)', async () => {
    const base = await opsPort((_req, res) => {
      res.writeHead(500);
      res.end(hostile);
    });
    const err = await opsStatus(base).then(() => undefined, (e: unknown) => e as OpsRequestError);
    expect(err).toBeInstanceOf(OpsRequestError);
    expect(err!.status).toBe(500);
    expect(err!.message).toMatch(/^refused /);
    expect(err!.message).not.toMatch(CONTROL);
    expect(err!.message.length).toBeLessThan(3_000);
  });

  it('is shown shortened and without control characters (/sql), its lines kept', async () => {
    const base = await opsPort((_req, res) => {
      res.writeHead(400);
      res.end(`Syntax error: failed at position 8\n${hostile}`);
    });
    const err = await opsQuery(base, 'SELECT 1', 'TSV', new Writable({ write: (_chunk, _encoding, done) => done() })).then(() => undefined, (e: unknown) => e as OpsRequestError);
    expect(err).toBeInstanceOf(OpsRequestError);
    expect(err!.message.split('\n')[0]).toBe('Syntax error: failed at position 8');
    expect(err!.message).not.toMatch(CONTROL);
    expect(err!.message.length).toBeLessThan(3_000);
  });
});

describe('opsQuery', () => {
  it('writes the result as it arrives, never holding the whole of it (a port answering gigabytes took cdrflow sql to twice that)', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const base = await opsPort((_req, res) => {
      const chunk = Buffer.alloc(1 << 20, 0x41);
      const more = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    let received = 0;
    let writtenAtFirstChunk: number | undefined;
    const out = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        writtenAtFirstChunk ??= written;
        received += chunk.length;
        done();
      },
    });
    await opsQuery(base, 'SELECT 1', 'TSV', out);
    expect(received).toBe(total);
    // The first bytes reached `out` while the port was still sending: the answer went through, it was not gathered.
    expect(writtenAtFirstChunk).toBeLessThan(total / 2);
  });

  it('counts its time while waiting on the port only: a reader that pauses past it still gets the whole result', async () => {
    const base = await opsPort((_req, res) => res.end(Buffer.alloc(4 << 20, 0x42)));
    let received = 0;
    let paused = false;
    const out = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        received += chunk.length;
        if (paused) return done();
        paused = true;
        // A reader such as `less` that waits for its user, here past the whole time allowed.
        setTimeout(done, 600);
      },
    });
    await opsQuery(base, 'SELECT 1', 'TSV', out, false, 300);
    expect(received).toBe(4 << 20);
  });

  it('a wall clock stepped forward a day while the result arrives does not cut it off', async () => {
    // The time allowed is a duration, counted on the monotonic clock: counted on the wall clock, a step forward (NTP,
    // a VM resumed) used up all of it at once, and nothing of the result was read.
    let stepped = 0;
    // The step comes while the port prepares its answer.
    const base = await opsPort((_req, res) => {
      stepped = 86_400_000;
      res.end(Buffer.alloc(4 << 20, 0x42));
    });
    const wall = Date.now.bind(Date);
    const now = vi.spyOn(Date, 'now').mockImplementation(() => wall() + stepped);
    try {
      let received = 0;
      const out = new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          received += chunk.length;
          done();
        },
      });
      await opsQuery(base, 'SELECT 1', 'TSV', out, false, 5_000);
      expect(received).toBe(4 << 20);
    } finally {
      now.mockRestore();
    }
  });

  it('says which address stopped sending within the time, what arrived before written', async () => {
    const base = await opsPort((_req, res) => void res.write('1\n'));
    const chunks: string[] = [];
    const out = new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk.toString()), done()) });
    const err = await opsQuery(base, 'SELECT 1', 'TSV', out, false, 300).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe(`the ops port at ${base} did not answer /sql within 0.3 s`);
    expect(chunks.join('')).toBe('1\n');
  });
});

describe('the limits README.md gives `cdrflow status` and `cdrflow sql`', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const [, mib, seconds] = /no status snapshot, more than (\d+) MiB, nothing within (\d+) s\)/.exec(readme) ?? [];
  const [, chars] = /error answer of\s+the ops port is shown cut to ([\d,]+) characters/.exec(readme) ?? [];
  const [, sqlSeconds] = /an\s+answer the port takes over (\d+) s to send/.exec(readme) ?? [];

  it('reads a /status answer up to the documented size', () => {
    expect(mib, 'README.md no longer says how large a status may be').toBeDefined();
    expect(MAX_STATUS_BYTES).toBe(Number(mib) * 1024 * 1024);
  });

  it('waits the documented time for /status by default, and not longer', async () => {
    expect(seconds, 'README.md no longer says how long status waits').toBeDefined();
    const base = await opsPort(() => undefined);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let outcome: Error | undefined;
      const status = opsStatus(base).then(() => undefined, (e: unknown) => void (outcome = e as Error));
      await vi.advanceTimersByTimeAsync(Number(seconds) * 1000 - 1);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await vi.waitFor(() => expect(outcome).toBeDefined());
      await status;
      expect(outcome?.message).toBe(`the ops port at ${base} did not answer /status within ${seconds} s`);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits the documented time for a /sql answer by default, and not longer, keeping what arrived', async () => {
    expect(sqlSeconds, 'README.md no longer says how long cdrflow sql waits on the ops port').toBeDefined();
    const base = await opsPort((_req, res) => void res.write('1\n'));
    const chunks: string[] = [];
    let arrived!: () => void;
    const first = new Promise<void>((resolve) => (arrived = resolve));
    const out = new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk.toString()), arrived(), done()) });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      let outcome: Error | undefined;
      const query = opsQuery(base, 'SELECT 1', 'TSV', out).then(() => undefined, (e: unknown) => void (outcome = e as Error));
      await first;
      await vi.advanceTimersByTimeAsync(Number(sqlSeconds) * 1000 - 1);
      expect(outcome).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await vi.waitFor(() => expect(outcome).toBeDefined());
      await query;
      expect(outcome?.message).toBe(`the ops port at ${base} did not answer /sql within ${sqlSeconds} s`);
      expect(chunks).toEqual(['1\n']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('shows an error answer cut to the documented number of characters', async () => {
    expect(chars, 'README.md no longer says where an error answer is cut').toBeDefined();
    const limit = Number(chars!.replace(/,/g, ''));
    let text = '';
    const base = await opsPort((_req, res) => {
      res.writeHead(500);
      res.end(text);
    });
    const shown = () => opsStatus(base).then(() => undefined, (e: unknown) => (e as Error).message);
    text = 'x'.repeat(limit);
    expect(await shown()).toBe(text);
    text = 'x'.repeat(limit + 1);
    expect(await shown()).toBe(`${'x'.repeat(limit)}… (cut)`);
  });
});
