// `cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N]`: a bounded,
// resumable re-poll in mode `backfill` with its own checkpoint; progress with ETA and a summary.
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { EXIT_DATA_LOST, EXIT_NOT_SETTLED, EXIT_USAGE, signalExit } from '../../core/exit-codes.ts';
import { integer, isoDateTime, parseFlags, required } from '../args.ts';
import { quote, terminalJson } from '../../core/input-limits.ts';
import { checkTopicFlags, pullConnector, parseVendor, shutdownSignal, rethrowOneShotFailure, COMMON_FLAG_SPEC, CONNECTION_FLAGS } from '../pull-connector.ts';
import { backfillStartProblem, type BackfillSummary } from '../../connectors/poller/backfill.ts';
import { PollStopped } from '../../connectors/poller/reader.ts';
import { assertBackfillFree, BackfillBusy, BACKFILL_LOCK_DIR } from '../../connectors/poller/backfill-lock.ts';
import { checkpointIds } from '../../core/checkpoints.ts';
import { CCC_MAX_SPAN_SEC, CCC_RETENTION_SEC } from '../../connectors/tencent-ccc/config.ts';
import { TRTC_RETENTION_SEC } from '../../connectors/tencent-trtc/source.ts';

const days = (sec: number) => sec / 86_400;

const usage = `Usage: cdrflow backfill <tencent-ccc|tencent-trtc> --tenant <id> --from <ISO> --to <ISO> [--rps N] [--window-sec N] [--json]

--from and --to are ISO-8601: a date (2026-01-31) or a date and time (2026-01-31T08:00[:SS]), in UTC unless an
offset is given (2026-01-31T08:00+08:00, or Z) — a time without an offset is UTC as a date alone is, whatever the
machine's time zone.

Reads [from, to] in windows (default 3600 s) page by page, publishes every record to cdr.raw.<vendor> with
mode=backfill, and saves progress under its own checkpoint id (<vendor>:<tenant>:backfill:<from>-<to>): run the same
command again after a crash and it continues where it stopped. The live checkpoint is never touched.

Only settled time is read, as the live poller does: up to now - settleSec (120 s unless the config says otherwise).
A --from later than that is refused (exit 64). A --to later than that is read up to there; the summary says
unsettled_from=<time> and when to run the same command again, which then reads the rest. Windows filter on call
start and a call's record appears when it ends, so the last maxCallSec before now - settleSec (the connector's
longest call: 3600 s for CCC, 7200 s for TRTC unless the config says otherwise) is read but stays open the same way
(note=... (calls still running when read)): the later run reads it again, with the calls that ended meanwhile. A record
may appear up to lookbackSec (1800 s) after its call ended: where that is longer than settleSec, it counts instead.
TRTC keeps only ${days(TRTC_RETENTION_SEC)} days, and CCC is read only ${days(CCC_RETENTION_SEC)} days back (DescribeTelCdr's documented limit, assumed for the
protected API): the part of the range older than that is reported as lost (log, metric, summary lost_seconds=, on
every run of the range), never silently skipped; the rest is read. A CCC --window-sec must be under ${days(CCC_MAX_SPAN_SEC)} days (the
same docs: End − Start < 90 days), else exit 64.

One backfill of a range at a time on this machine (a lock file under .data/backfill-locks naming its PID): the same
vendor, tenant, --from and --to while another one runs (a second terminal, or the job's reconcile --repair) is refused
with one line naming it (exit ${EXIT_NOT_SETTLED}); the lock of a run that crashed is taken over.

Ctrl-C (SIGINT) or SIGTERM stops it: the window being read is dropped (the checkpoint keeps the windows read), the
summary so far says stopped: ... and where the same command run again resumes; a second one later exits at once.
Progress and the summary go to stderr; --json also prints the summary (so far) as one JSON object on stdout
({"vendor","tenant",...}, with "stopped" when stopped).

--topic T publishes to T instead of the vendor's raw topic (which the pipeline reads, created when missing): T must
exist already and is never created; a topic that does not, or another vendor's raw topic, is refused (exit 64).

Exit status: 0 the whole range read; ${EXIT_NOT_SETTLED} read up to now - settleSec (or calls may still have been running),
run the same command again after the time in the summary for the rest, or a backfill of the same range is running; ${EXIT_DATA_LOST} done, but part of the range is older than the vendor keeps and could not
be read (a re-run cannot change that); 64 usage, a --from later than now - settleSec, or a --topic refused; 69 Kafka not reachable, or the vendor API or registry after the connector's retries;
78 config; ${signalExit('SIGINT')} / ${signalExit('SIGTERM')} stopped by SIGINT / SIGTERM (run the same command again to resume); 1 error. With both ${EXIT_NOT_SETTLED} and ${EXIT_DATA_LOST}, ${EXIT_NOT_SETTLED} (the run that finishes the range exits ${EXIT_DATA_LOST}).

${CONNECTION_FLAGS}`;

/** The exit status of a finished backfill (see the usage). */
export function backfillExitCode(summary: Pick<BackfillSummary, 'unsettledFrom' | 'lostSeconds'>): number {
  if (summary.unsettledFrom !== undefined) return EXIT_NOT_SETTLED;
  if (summary.lostSeconds > 0) return EXIT_DATA_LOST;
  return 0;
}

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
    // One backfill window is one request's End − Start: CCC would refuse 90 days or more at run time (config error).
    if (vendor === 'tencent-ccc' && windowSec >= CCC_MAX_SPAN_SEC) {
      throw new UsageError(
        `--window-sec for tencent-ccc must be less than ${days(CCC_MAX_SPAN_SEC)} days (${CCC_MAX_SPAN_SEC} s), the End − Start limit of DescribeTelCdr assumed for DescribeProtectedTelCdr, got ${quote(parsed.values['window-sec']!)}`,
      );
    }
    const { connector, config, configured } = await pullConnector(vendor, parsed.values, `cdrflow-backfill-${vendor}`, {
      oneShot: true,
      // A range that has not started settling: one line, exit 64, before Kafka is even asked.
      check: (section) => {
        const problem = backfillStartProblem(from, Date.now(), section.settleSec);
        if (problem) throw new ExitError(EXIT_USAGE, problem);
        // The same range running already: one line, exit 75, before Kafka too (the connector takes the lock itself).
        try {
          assertBackfillFree(BACKFILL_LOCK_DIR, checkpointIds.backfill(vendor, tenant, from, to));
        } catch (err) {
          if (err instanceof BackfillBusy) throw new ExitError(EXIT_NOT_SETTLED, err.message);
          throw err;
        }
      },
    });
    const stop = shutdownSignal('backfill');
    try {
      // A tenant the configuration does not name is the user's mistake (exit 64), not a failed run.
      const { tenants } = connector.source;
      if (!tenants.includes(tenant)) throw new ExitError(EXIT_USAGE, `--tenant ${quote(tenant)} is not configured for ${vendor} (configured: ${tenants.join(', ') || 'none'})`);
      await checkTopicFlags(vendor, parsed.values, config, configured, 'backfill');
      // The connector reads up to now - its settleSec (PullConnector.backfill).
      const summary = await connector.backfill({ tenant, from, to, windowSec }, stop.signal, 'cdrflow backfill');
      if (parsed.values.json) console.log(terminalJson({ vendor, tenant, ...summary }));
      return backfillExitCode(summary);
    } catch (err) {
      if (err instanceof ExitError) throw err;
      // The same range running elsewhere on this machine: try again later, as for a range not settled yet.
      if (err instanceof BackfillBusy) throw new ExitError(EXIT_NOT_SETTLED, err.message);
      // A stop request, not a failure: the summary so far was printed; the checkpoint keeps the windows read.
      if (stop.signal.aborted) {
        const signal = stop.received ?? 'SIGINT';
        const partial = err instanceof PollStopped ? (err.partial as BackfillSummary) : undefined;
        if (partial && parsed.values.json) console.log(terminalJson({ vendor, tenant, ...partial, stopped: signal }));
        const resume = partial?.stoppedAt === undefined ? '' : ` from ${partial.stoppedAt}`;
        throw new ExitError(signalExit(signal), `stopped by ${signal}: run the same command again to resume${resume}`);
      }
      // Kafka gone during the run: the same one line as before it (the checkpoint keeps what was published).
      return rethrowOneShotFailure(err, config);
    } finally {
      stop.dispose();
      await connector.close();
    }
  },
};
