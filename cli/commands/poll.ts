// `cdrflow poll <tencent-ccc|tencent-trtc>`: runs one pull connector live (or one catch-up pass with --once).
import type { Command } from '../command.ts';
import { ExitError } from '../command.ts';
import { EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_CONFIG, signalExit } from '../../core/exit-codes.ts';
import { PollStopped } from '../../connectors/poller/reader.ts';
import type { RunOnceResult } from '../../connectors/poller/live.ts';
import { parseFlags } from '../args.ts';
import { terminalJson } from '../../core/input-limits.ts';
import { checkTopicFlags, pullConnector, parseVendor, shutdownSignal, rethrowOneShotFailure, COMMON_FLAG_SPEC, CONNECTION_FLAGS } from '../pull-connector.ts';

const usage = `Usage: cdrflow poll <tencent-ccc|tencent-trtc> [--once] [options]

Polls the vendor API per tenant from the live checkpoint (minus the lookback) to now minus the settle delay,
publishes every record verbatim to cdr.raw.<vendor> and moves the checkpoint after Kafka acknowledged the window.
Runs until SIGINT/SIGTERM; --once catches up once and exits (prints the counts as JSON). SIGINT/SIGTERM during
--once stops it after the windows Kafka acknowledged (checkpointed; the window being read is read again next time)
and prints the counts so far with "stopped"; a second one later exits at once.

Exit status: 0 caught up (--once), or stopped by SIGINT/SIGTERM (live); ${signalExit('SIGINT')} / ${signalExit('SIGTERM')} --once stopped by
SIGINT / SIGTERM; ${EXIT_USAGE} usage, or a topic flag refused; ${EXIT_UNAVAILABLE} Kafka not reachable, or (--once) the vendor API or registry after the connector's retries; ${EXIT_CONFIG} config; 1 error.

${CONNECTION_FLAGS}`;

export const command: Command = {
  name: 'poll',
  summary: 'run one pull connector (tencent-ccc | tencent-trtc) live, or one catch-up pass with --once',
  usage,
  // Live polling is a service (log on stdout); --once prints its counts there instead.
  logTarget: (args) => (args.includes('--once') ? 'stderr' : 'stdout'),
  async run(args) {
    const parsed = parseFlags(args, { ...COMMON_FLAG_SPEC, once: { type: 'boolean' } }, { maxPositionals: 1 });
    const vendor = parseVendor(parsed.positionals[0]);
    const once = parsed.values.once ?? false;
    const { connector, config, configured } = await pullConnector(vendor, parsed.values, `cdrflow-poll-${vendor}`, { oneShot: once });
    const stop = shutdownSignal('poll');
    const { signal } = stop;
    try {
      // A --topic or --checkpoint-topic that is a typo is refused before the connector creates it (as for backfill).
      await checkTopicFlags(vendor, parsed.values, config, configured, 'poll');
      if (once) {
        const result = await connector.runOnce(signal);
        console.log(terminalJson({ vendor, ...result, ...connector.metrics.counts }));
      } else {
        await connector.run(signal);
      }
      return 0;
    } catch (err) {
      if (once && signal.aborted) {
        // A stop request, not a failure: the counts so far, as a finished pass prints them.
        const stopped = stop.received ?? 'SIGINT';
        const partial = err instanceof PollStopped ? (err.partial as RunOnceResult) : {};
        console.log(terminalJson({ vendor, ...partial, ...connector.metrics.counts, stopped }));
        throw new ExitError(signalExit(stopped), `stopped by ${stopped}: the windows Kafka acknowledged are checkpointed; the next poll continues after them`);
      }
      return once ? rethrowOneShotFailure(err, config) : Promise.reject(err);
    } finally {
      stop.dispose();
      await connector.close();
    }
  },
};
