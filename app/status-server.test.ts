// The status figures read from a ClickHouse server (CLICKHOUSE_URL): what a broken or impostor server answers must
// neither hold the job's memory nor reach the snapshot as figures. A loopback HTTP server stands in for it.
import type { ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackClickHouse, type LoopbackClickHouse } from '../test/loopback-clickhouse.ts';
import { clickhouseFigures, MAX_FIGURES_ROWS } from './status.ts';

let stand: LoopbackClickHouse | undefined;

afterEach(async () => {
  await stand?.close();
  stand = undefined;
});

async function serverAnswering(answer: (res: ServerResponse) => void): Promise<ClickHouseClient> {
  stand = await loopbackClickHouse((res) => answer(res));
  return stand.client;
}

const row = (vendor: string) => `${JSON.stringify({ vendor, cdrs: '3', answered: '2', minutes: '7' })}\n`;

describe('clickhouseFigures from a server', () => {
  it('reads the rows a server answers', async () => {
    const c = await serverAnswering((res) => res.end(row('tencent-ccc') + row('alibaba-lvms')));
    expect(await clickhouseFigures(c, 'cdrflow')).toEqual([
      { vendor: 'tencent-ccc', cdrs: 3, answered: 2, billableMinutes: 7 },
      { vendor: 'alibaba-lvms', cdrs: 3, answered: 2, billableMinutes: 7 },
    ]);
  });

  it('refuses rows of another shape instead of passing NaN and non-strings on as figures', async () => {
    const c = await serverAnswering((res) => res.end(`${JSON.stringify({ vendor: { x: 1 }, cdrs: 'many', answered: null })}\n`));
    await expect(clickhouseFigures(c, 'cdrflow')).rejects.toThrow(/not the figures asked for/);
  });

  it('stops reading an answer with more rows than any table has vendors, though it never ends', async () => {
    const c = await serverAnswering((res) => {
      // More rows than the limit, and then the answer stays open for good.
      res.write(Array.from({ length: MAX_FIGURES_ROWS + 1 }, (_, i) => row(`v${i}`)).join(''));
    });
    await expect(clickhouseFigures(c, 'cdrflow')).rejects.toThrow(new RegExp(`more than ${MAX_FIGURES_ROWS} rows`));
  }, 10_000);
});
