// `cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N]`: a bounded,
// resumable re-poll in mode `backfill` with its own checkpoint; progress with ETA and a summary.
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { integer, isoDateTime, parseFlags, required } from '../args.ts';
import { rethrowUnreachable } from '../kafka-access.ts';
import { pullConnector, parseVendor, shutdownSignal, COMMON_FLAG_SPEC, CONNECTION_FLAGS } from '../pull-connector.ts';

const usage = `Usage: cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N] [--window-sec N]

Reads [from, to] in windows (default 3600 s) page by page, publishes every record to cdr.raw.<vendor> with
mode=backfill, and saves progress under its own checkpoint id (<vendor>:<tenant>:backfill:<from>-<to>): run the same
command again after a crash and it continues where it stopped. The live checkpoint is never touched. TRTC keeps
only 7 days: an older --from is reported as lost data (log + metric), never silently skipped.

${CONNECTION_FLAGS}`;

export const command: Command = {
  name: 'backfill',
  summary: 'backfill a pull vendor over a time range (resumable, own checkpoint, progress + summary)',
  usage,
  async run(args) {
    const parsed = parseFlags(
      args,
      { ...COMMON_FLAG_SPEC, tenant: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'window-sec': { type: 'string' }, json: { type: 'boolean' } },
      { maxPositionals: 1 },
    );
    const vendor = parseVendor(parsed.positionals[0]);
    const tenant = required('--tenant', parsed.values.tenant);
    const from = isoDateTime('--from', parsed.values.from);
    const to = isoDateTime('--to', parsed.values.to);
    if (to <= from) throw new UsageError('--to must be after --from');
    const windowSec = parsed.values['window-sec'] === undefined ? 3600 : integer('--window-sec', parsed.values['window-sec'], { min: 1 });
    const { connector, config } = await pullConnector(vendor, parsed.values, `cdrflow-backfill-${vendor}`, { oneShot: true });
    try {
      const summary = await connector.backfill({ tenant, from, to, windowSec }, shutdownSignal());
      if (parsed.values.json) console.log(JSON.stringify({ vendor, tenant, ...summary }));
      return 0;
    } catch (err) {
      // Kafka gone during the run: the same one line as before it (the checkpoint keeps what was published).
      return rethrowUnreachable(err, config);
    } finally {
      await connector.close();
    }
  },
};
