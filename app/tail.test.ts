// What `cdrflow tail --format table` and `cdrflow dlq` print: a record's text never drives the terminal (a value with
// ESC ] 0 ; … BEL changed the window title, ESC [ 2 J cleared the screen: an operator walk).
import { describe, expect, it } from 'vitest';
import { formatDlqSummary, summarizeDeadLetters, tableLine, type TailRecord } from './tail.ts';

const ESCAPES = '\u001b]0;PWNED\u0007\u001b[2J\u001b[31m\r\u0085\u202e';
const at = { topic: 't', partition: 0, offset: 1, timestamp: '2026-12-05T10:00:00.000Z' };
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/;

describe('table lines', () => {
  it('show every kind of record with its control characters escaped', () => {
    const records: TailRecord[] = [
      { ...at, key: `k${ESCAPES}`, kind: 'text', value: `v${ESCAPES}` },
      { ...at, key: null, kind: 'raw', value: { vendor: `tencent-ccc${ESCAPES}`, natural_key: 'n', mode: 'live', payload: `{"a":"${ESCAPES}"}` } },
      { ...at, key: null, kind: 'normalized', value: { vendor: 'v', cdr_id: `c${ESCAPES}`, started_at: 's', end_status: 'e', talk_seconds: 1, billable_minutes: 1, tenant_id: 't' } },
      { ...at, key: null, kind: 'dead-letter', value: { reason: `bad_record${ESCAPES}`, stage: 'normalize', vendor: 'v', cdr_id: null, origin: { topic: 'o', partition: 0, offset: 2 }, error: `e${ESCAPES}` } },
    ];
    for (const r of records) {
      const line = tableLine(r);
      expect(line).not.toMatch(CONTROLS);
      expect(line).toContain('\\u001b]0;PWNED\\u0007');
    }
    const summary = formatDlqSummary('cdr.dlq', summarizeDeadLetters([records[3]!], 1));
    expect(summary.split('\n').every((l) => !CONTROLS.test(l))).toBe(true);
  });
});
