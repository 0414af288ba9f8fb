import { describe, expect, it } from 'vitest';
import { checkpointRows, formatStatus, formatStatusLine, type StatusSnapshot } from './status.ts';

/** A snapshot computed without a job, nothing in it but what a test sets. */
function snapshot(overrides: Partial<StatusSnapshot>): StatusSnapshot {
  return {
    at: '2026-12-01T12:00:00.000Z',
    source: 'computed directly',
    pid: null,
    uptimeSec: null,
    demo: false,
    clickhouseTarget: 'embedded',
    components: {},
    intake: {},
    normalize: { in: null, out: null, deadLettered: null, lag: 0 },
    sink: { in: null, out: null, deadLettered: null, lag: 0 },
    clickhouse: { cdrs: 0, billableMinutes: 0, byVendor: [] },
    checkpoints: [],
    ...overrides,
  };
}

describe('formatStatus', () => {
  it('says how many pushes the demo network refused in a sentence that reads right for one', () => {
    const demoTraffic = (networkRefusals: number) => ({
      huawei: { recordsGenerated: 32, attempts: 13, retries: 0, duplicatesPushed: 0, failures: {}, gaveUpRecords: 0 },
      lvms: { sent: 31, accepted: 30, rejected: 0, retries: 1, failedAfterRetries: 0 },
      networkRefusals,
    });
    const refusals = (k: number) => formatStatus(snapshot({ demo: true, demoTraffic: demoTraffic(k) })).split('\n').filter((l) => l.startsWith('demo vendors:'));
    expect(refusals(1)).toEqual(['demo vendors: the network refused 1 push (vendors retried it)']);
    expect(refusals(3)).toEqual(['demo vendors: the network refused 3 pushes (vendors retried them)']);
  });

  it('widens the checkpoint column to the longest id (a backfill id carries its whole range)', () => {
    const long = 'tencent-ccc:1400000001:backfill:2026-12-01T09:30:00.000Z-2026-12-01T10:30:00.000Z';
    const s = snapshot({
      checkpoints: [
        { id: long, watermark: '2026-12-01T10:30:00.000Z', updatedAt: '2026-12-01T11:59:00.000Z', ageSec: 60, watermarkDelaySec: 5400 },
        { id: 'tencent-ccc:1400000001', watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z', ageSec: 30, watermarkDelaySec: 300 },
      ],
    });
    const lines = formatStatus(s).split('\n');
    const rows = lines.filter((l) => l.startsWith('  tencent-ccc:'));
    expect(rows).toHaveLength(2);
    // The watermark starts in the same column on every row, after at least two spaces.
    const column = rows.map((r) => r.indexOf('2026-12-01T1', r.startsWith(`  ${long}`) ? long.length + 2 : 0));
    expect(new Set(column).size).toBe(1);
    expect(rows[0]).toContain(`${long}  2026-12-01T10:30:00.000Z`);
    expect(lines.find((l) => l.startsWith('checkpoints'))!.indexOf('watermark')).toBe(column[0]);
  });

  it('lists every live checkpoint and only the most recently saved backfill ones, counting the rest', () => {
    const at = Date.parse('2026-12-01T12:00:00.000Z');
    const row = (id: string, ageSec: number) => ({ id, watermark: '2026-12-01T10:00:00.000Z', updatedAt: new Date(at - ageSec * 1000).toISOString(), ageSec, watermarkDelaySec: 7200 });
    // A year of daily backfills of two tenants, saved one a day; one of them, long ago, with a far longer id.
    const backfills = Array.from({ length: 730 }, (_, i) => row(`tencent-ccc:14000000${i % 2}:backfill:day-${String(i).padStart(3, '0')}${i === 700 ? 'x'.repeat(80) : ''}`, 86_400 * (730 - i)));
    const live = [row('tencent-ccc:140000000:live', 5), row('tencent-ccc:140000001:live', 9), row('tencent-trtc:1600000001:live', 86_400 * 400)];
    const checkpoints = [...backfills, ...live].sort((a, b) => a.id.localeCompare(b.id));
    const s = snapshot({ checkpoints });
    const lines = formatStatus(s).split('\n');
    const listed = lines.slice(lines.findIndex((l) => l.startsWith('checkpoints')) + 1);
    const ids = listed.map((l) => l.trim().split(/\s+/)[0]);
    // Every live one however old, and the five backfills saved last, in id order as the snapshot has them.
    expect(ids.slice(0, -1)).toEqual([...backfills.slice(-5).map((c) => c.id), ...live.map((c) => c.id)].sort((a, b) => a.localeCompare(b)));
    expect(listed.at(-1)).toBe('  … and 725 more saved earlier (backfill ranges; cdrflow status --json lists every checkpoint)');
    // A hidden id does not widen the column.
    expect(lines.find((l) => l.startsWith('checkpoints'))!.indexOf('watermark')).toBe(49);
    // The snapshot (--json, /status) keeps them all, in their order.
    expect(s.checkpoints).toEqual(checkpoints);
    // Few enough: each on its line, no count.
    expect(formatStatus(snapshot({ checkpoints: checkpoints.slice(0, 5) }))).not.toContain('more saved earlier');
  });

  it('shows a live checkpoint of a tenant the running job no longer polls apart from the polled ones, marked (not polled)', () => {
    const at = Date.parse('2026-12-01T12:00:00.000Z');
    const row = (id: string, ageSec: number) => ({ id, watermark: '2026-12-01T10:00:00.000Z', updatedAt: new Date(at - ageSec * 1000).toISOString(), ageSec, watermarkDelaySec: 7200 });
    // A tenant removed from the config 400 days ago: its live checkpoint stays in the topic for good.
    const removed = row('tencent-ccc:1400000009:live', 86_400 * 400);
    const polled = [row('tencent-ccc:1400000001:live', 5), row('tencent-trtc:1600000001:live', 9)];
    const backfills = Array.from({ length: 6 }, (_, i) => row(`tencent-ccc:1400000001:backfill:day-${i}`, 3_600 * (i + 1)));
    const checkpoints = [...backfills, removed, ...polled].sort((a, b) => a.id.localeCompare(b.id));
    const s = snapshot({ source: 'running job', checkpoints, polledCheckpoints: polled.map((c) => c.id) });
    const lines = formatStatus(s).split('\n');
    const listed = lines.slice(lines.findIndex((l) => l.startsWith('checkpoints')) + 1);
    // The polled ones all; of the others (backfills and the removed tenant's) the five saved last: not the removed one.
    expect(listed.map((l) => l.trim().split(/\s+/)[0])).toEqual([...backfills.slice(0, 5).map((c) => c.id), ...polled.map((c) => c.id), '…'].sort((a, b) => (a === '…' ? 1 : b === '…' ? -1 : a.localeCompare(b))));
    expect(listed.at(-1)).toBe('  … and 2 more saved earlier (backfill ranges, tenants no longer polled; cdrflow status --json lists every checkpoint)');
    // Saved recently enough to be among them, it is said not to be polled.
    const recent = { ...removed, ageSec: 1 };
    const shown = formatStatus({ ...s, checkpoints: [...backfills, recent, ...polled].sort((a, b) => a.id.localeCompare(b.id)) }).split('\n');
    expect(shown.find((l) => l.startsWith(`  ${removed.id}`))).toMatch(/ 1s ago \(not polled\)$/);
    for (const c of polled) expect(shown.find((l) => l.startsWith(`  ${c.id}`))).toMatch(/s ago$/);
    // A snapshot that does not say what is polled (an earlier cdrflow's): every live checkpoint is listed, none marked.
    const { polledCheckpoints: _polled, ...unknown } = s;
    const unknownLines = formatStatus(unknown).split('\n');
    expect(unknownLines.find((l) => l.startsWith(`  ${removed.id}`))).toMatch(/ago$/);
    expect(unknownLines.join('\n')).not.toContain('not polled');
  });

  it('says checkpoints it could not read are unknown, never "none"', () => {
    const s = snapshot({
      normalize: { in: null, out: null, deadLettered: null, lag: null },
      sink: { in: null, out: null, deadLettered: null, lag: null },
      clickhouse: { cdrs: 3, billableMinutes: 7, byVendor: [{ vendor: 'tencent-ccc', cdrs: 3, answered: 2, billableMinutes: 7 }] },
      checkpointsError: 'Kafka at 127.0.0.1:19092 is not reachable (ECONNREFUSED)',
    });
    const text = formatStatus(s);
    expect(text).toContain('checkpoints: could not be read: Kafka at 127.0.0.1:19092 is not reachable (ECONNREFUSED)');
    expect(text).not.toContain('checkpoints: none');
    expect(text).toContain('ClickHouse: 3 CDRs, 7 billable minutes');
    const { checkpointsError: _read, ...none } = s;
    expect(formatStatus(none)).toContain('checkpoints: none');
  });
});

describe('the dead-letter loader figures', () => {
  it('say how many dead letters read again were already stored, so in = out + skipped + already stored', () => {
    const s = snapshot({ source: 'running job', dlqLoader: { in: 10, out: 6, deadLettered: 0, skipped: 1, alreadyStored: 3, lag: 0 } });
    expect(formatStatusLine(s)).toContain('dlq-loader 10→6 skipped 1 already stored 3 lag 0');
    expect(formatStatus(s)).toContain('  of which 3 read again after a restart were in cdr_dead_letters already (committed, not loaded twice)');
    // None: the line stays as it always was.
    const none = snapshot({ source: 'running job', dlqLoader: { in: 4, out: 4, deadLettered: 0, skipped: 0, alreadyStored: 0, lag: 0 } });
    expect(formatStatusLine(none)).toContain('dlq-loader 4→4 skipped 0 lag 0');
    expect(formatStatus(none)).not.toContain('already');
  });
});

describe('a ClickHouse error in the status', () => {
  // A server's error text (CLICKHOUSE_URL) as the job stored it: escape sequences, a forged line, any length.
  const error = `Code: 1. \u001b]0;owned\u0007\u001b[2J\nok | clickhouse 0 CDRs\u202e${'x'.repeat(100_000)}`;
  const s = snapshot({ clickhouse: { error } });
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u001f\u202e]/;

  it('is shown on one line, its control characters escaped and its length cut', () => {
    const shown = formatStatus(s).split('\n').filter((l) => l.startsWith('ClickHouse: could not be read'));
    expect(shown).toHaveLength(1);
    expect(shown[0]).not.toMatch(unsafe);
    // Escaped as every reason a person reads (terminalReason): a line break as \n, not \u000a.
    expect(shown[0]).toContain('\\u001b]0;owned\\u0007\\u001b[2J\\nok | clickhouse');
    expect(shown[0]!.length).toBeLessThan(600);
    expect(formatStatus(s).split('\n')).not.toContain('ok | clickhouse 0 CDRs');
  });

  it('is shown escaped in the status line too', () => {
    expect(formatStatusLine(s)).not.toMatch(unsafe);
    expect(formatStatusLine(s)).toContain('clickhouse ? (Code: 1. \\u001b]0;owned\\u0007\\u001b[2J\\n… (reason cut');
  });
});

describe('the status line of a job not ready', () => {
  // A stage waiting out an outage is in the state supervise.ts gives it: the error's message, which a server or a
  // broker wrote and may quote a row of vendor data.
  const s = snapshot({ components: { sink: 'running', normalize: 'waiting: ECONNREFUSED (connect \u001b]0;owned\u0007\u001b[2J\nok | clickhouse 0 CDRs)' } });

  it('ends naming the stage and why it waits, its control characters escaped (README: "not ready: normalize waiting: ECONNREFUSED (…)")', () => {
    const line = formatStatusLine(s);
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line).toMatch(/ \| not ready: normalize waiting: ECONNREFUSED \(connect \\u001b\]0;owned\\u0007\\u001b\[2J\\nok \| clickhouse 0 CDRs\)$/);
  });
});

describe('an error read from a broker or a stage in cdrflow status', () => {
  // A broker's or a server's words, as the job or the direct read stored them: escape sequences, a forged line, any length.
  const hostile = `ECONNREFUSED \u001b]0;owned\u0007\u001b[2J\nok | checkpoints: none\u202e${'x'.repeat(100_000)}`;
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u001f\u202e]/;

  it('is one bounded line, escaped as every reason a person reads (terminalReason), when the checkpoints could not be read', () => {
    const lines = formatStatus(snapshot({ checkpointsError: hostile })).split('\n');
    const shown = lines.filter((l) => l.startsWith('checkpoints: could not be read: '));
    expect(shown).toHaveLength(1);
    expect(shown[0]).not.toMatch(unsafe);
    expect(shown[0]).toContain('ECONNREFUSED \\u001b]0;owned\\u0007\\u001b[2J\\nok | checkpoints: none\\u202e');
    expect(shown[0]).toMatch(/… \(reason cut, 100\d\d\d chars\)$/);
    expect(shown[0]!.length).toBeLessThan(600);
    expect(lines).not.toContain('ok | checkpoints: none');
  });

  it('is one bounded line on the components line, where a stage waiting out an outage says why', () => {
    const lines = formatStatus(snapshot({ components: { sink: 'running', normalize: `waiting: ${hostile}` } })).split('\n');
    const shown = lines.filter((l) => l.startsWith('components: '));
    expect(shown).toHaveLength(1);
    expect(shown[0]).not.toMatch(unsafe);
    expect(shown[0]).toMatch(/^components: sink running, normalize waiting: ECONNREFUSED \\u001b\]0;owned\\u0007\\u001b\[2J\\nok \| checkpoints: none\\u202ex+… \(reason cut, 100\d\d\d chars\)$/);
    expect(shown[0]!.length).toBeLessThan(600);
  });
});

describe('a component name read from the ops port', () => {
  // The names are the snapshot's keys, sent by whatever answers on the ops port: escape sequences, a forged line, any length.
  const name = `sink\u001b]0;owned\u0007\u001b[2J\nok | clickhouse 0 CDRs\u202e${'x'.repeat(100_000)}`;
  const s = snapshot({ components: { [name]: 'waiting: ECONNREFUSED', normalize: 'running' } });
  // eslint-disable-next-line no-control-regex
  const unsafe = /[\u0000-\u001f\u202e]/;

  it('is one bounded line on the components line, escaped as the states are', () => {
    const lines = formatStatus(s).split('\n');
    const shown = lines.filter((l) => l.startsWith('components: '));
    expect(shown).toHaveLength(1);
    expect(shown[0]).not.toMatch(unsafe);
    expect(shown[0]).toMatch(/^components: sink\\u001b\]0;owned\\u0007\\u001b\[2J\\nok \| clickhouse 0 CDRs\\u202ex+… \(reason cut, 100\d\d\d chars\) waiting: ECONNREFUSED, normalize running$/);
    expect(shown[0]!.length).toBeLessThan(300);
    expect(lines).not.toContain('ok | clickhouse 0 CDRs');
  });

  it('is escaped and cut in the status line too', () => {
    const line = formatStatusLine(s);
    expect(line).not.toMatch(unsafe);
    expect(line).toMatch(/ \| not ready: sink\\u001b\]0;owned\\u0007\\u001b\[2J\\nok \| clickhouse 0 CDRs\\u202ex+… \(reason cut, 100\d\d\d chars\) waiting: ECONNREFUSED$/);
    expect(line.length).toBeLessThan(600);
  });
});

describe('a checkpoint whose watermark is ahead of the clock', () => {
  // Saved by a clock running ahead (or read after this clock stepped back): a delay of 0 read as a poller fully caught up.
  const now = Date.parse('2026-12-01T12:00:00.000Z');
  const rows = checkpointRows(
    [
      ['tencent-ccc:1400000001:live', { watermark: '2026-12-01T12:10:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z' }],
      ['tencent-ccc:1400000002:live', { watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z' }],
    ],
    now,
  );

  it('has a delay below 0, by how far it is ahead; one behind keeps its delay', () => {
    expect(rows.map((r) => r.watermarkDelaySec)).toEqual([-600, 300]);
  });

  it('is said to be ahead of the clock in cdrflow status', () => {
    const lines = formatStatus(snapshot({ checkpoints: rows })).split('\n');
    expect(lines.find((l) => l.includes(':1400000001:live'))).toMatch(/30s ago \(watermark 10m ahead of the clock\)$/);
    expect(lines.find((l) => l.includes(':1400000002:live'))).toMatch(/30s ago$/);
  });
});

describe('a checkpoint saved ahead of the clock', () => {
  // Saved by a clock running ahead, or read after this clock stepped back: an age of 0 read as a checkpoint saved just
  // now, for as long as the clock stays behind, however long the poller has not saved since.
  const now = Date.parse('2026-12-01T12:00:00.000Z');
  const rows = checkpointRows(
    [
      ['tencent-ccc:1400000001:live', { watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T12:10:00.000Z' }],
      ['tencent-ccc:1400000002:live', { watermark: '2026-12-01T11:55:00.000Z', updatedAt: '2026-12-01T11:59:30.000Z' }],
    ],
    now,
  );

  it('has an age below 0, by how far ahead it was saved, as the watermark delay; one saved before keeps its age', () => {
    expect(rows.map((r) => r.ageSec)).toEqual([-600, 30]);
  });

  it('is said to be saved ahead of the clock in cdrflow status, not "0s ago"', () => {
    const lines = formatStatus(snapshot({ checkpoints: rows })).split('\n');
    expect(lines.find((l) => l.includes(':1400000001:live'))).toMatch(/ {2}10m ahead of the clock$/);
    expect(lines.find((l) => l.includes(':1400000002:live'))).toMatch(/ {2}30s ago$/);
  });
});
