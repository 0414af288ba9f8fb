// `cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N]`: a bounded,
// resumable re-poll in mode `backfill` with its own checkpoint; progress with ETA and a summary.
import { parseArgs } from 'node:util';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { buildConfig, connectorFor, parseVendor, shutdownSignal, COMMON_FLAG_SPEC, CONNECTION_FLAGS } from '../../connectors/poller/cli-support.ts';

const usage = `Usage: cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N] [--window-sec N]

Reads [from, to] in windows (default 3600 s) page by page, publishes every record to cdr.raw.<vendor> with
mode=backfill, and saves progress under its own checkpoint id (<vendor>:<tenant>:backfill:<from>-<to>): run the same
command again after a crash and it continues where it stopped. The live checkpoint is never touched. TRTC keeps
only 7 days: an older --from is reported as lost data (log + metric), never silently skipped.

${CONNECTION_FLAGS}`;

function isoArg(flag: string, value: string | undefined): Date {
  if (!value) throw new UsageError(`${flag} is required`);
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag} is not an ISO date-time: "${value}"`);
  return d;
}

export const command: Command = {
  name: 'backfill',
  summary: 'backfill a pull vendor over a time range (resumable, own checkpoint, progress + summary)',
  usage,
  async run(args) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        options: { ...COMMON_FLAG_SPEC, tenant: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'window-sec': { type: 'string' }, json: { type: 'boolean' } },
      });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const vendor = parseVendor(parsed.positionals[0]);
    const tenant = parsed.values.tenant;
    if (!tenant) throw new UsageError('--tenant is required');
    const from = isoArg('--from', parsed.values.from);
    const to = isoArg('--to', parsed.values.to);
    if (to <= from) throw new UsageError('--to must be after --from');
    const windowSec = parsed.values['window-sec'] === undefined ? 3600 : Number(parsed.values['window-sec']);
    if (!Number.isInteger(windowSec) || windowSec <= 0) throw new UsageError(`--window-sec needs a positive integer, got "${parsed.values['window-sec']}"`);
    const connector = connectorFor(vendor, buildConfig(vendor, parsed.values), `cdrflow-backfill-${vendor}`);
    try {
      const summary = await connector.backfill({ tenant, from, to, windowSec }, shutdownSignal());
      if (parsed.values.json) console.log(JSON.stringify({ vendor, tenant, ...summary }));
      return 0;
    } finally {
      await connector.close();
    }
  },
};
