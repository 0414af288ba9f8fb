// `cdrflow reconcile`: per vendor × tenant × day, source (vendor API / raw topic), raw, normalized + dead-lettered and
// ClickHouse (cdr FINAL and its views) side by side; `--repair` closes what it can and shows before / after.
// While `cdrflow start` runs, the run happens inside the job (its connectors, its embedded engine) through the ops
// port; otherwise here, from the same configuration.
import { exitProcess } from '../../core/engine-exit.ts';
import { constants } from 'node:buffer';
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { EXIT_USAGE, signalExit } from '../../core/exit-codes.ts';
import { MAX_QUOTED_CHARS, quote, terminalJson, terminalLines, terminalReason, terminalText } from '../../core/input-limits.ts';
import { parseFlags } from '../args.ts';
import { loadCommandConfig } from '../app-config.ts';
import { endpoints, type AppConfig } from '../../app/config.ts';
import { errorHead, findRunningJob } from '../../app/ops-client.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { ensureKafkaReachable, kafkaUnreachable, type KafkaUnreachableError } from '../../core/kafka.ts';
import { commandKafka, kafkaHint } from '../kafka-access.ts';
import { createRegistry } from '../../core/avro.ts';
import { createCccConnector } from '../../connectors/tencent-ccc/index.ts';
import { createTrtcConnector } from '../../connectors/tencent-trtc/index.ts';
import type { PullConnector } from '../../connectors/poller/runtime.ts';
import { logger } from '../../core/log.ts';
import { migrate } from '../../sinks/clickhouse/index.ts';
import { checkRequest, CLI_REQUEST_NAMES, MAX_RECONCILE_DAYS, runReconcile, type ReconcileRequest } from '../../reconcile/reconcile.ts';
import { DEFAULT_RECONCILE_SETTLE_SEC, MAX_SETTLE_SEC } from '../../reconcile/config.ts';
import { FIRST_DAY, LAST_DAY } from '../../reconcile/days.ts';
import { RECONCILE_KEEPALIVE_MS, reconcileDepsOf } from '../../app/reconcile-service.ts';
import { outcomeJson, renderOutcome } from '../../reconcile/render.ts';
import { stopRequests } from '../signals.ts';
import { useColor } from '../output.ts';
import { EXIT_NO_VERDICT, type ReconcileOutcome } from '../../reconcile/model.ts';

const usage = `Usage: cdrflow reconcile --from <day> --to <day> [--vendor V]... [--tenant T]... [--tz +08:00] [--settle SEC]
                         [--repair] [--json] [--config FILE]

Per vendor × tenant × day, side by side:
  source      pull vendors (tencent-ccc, tencent-trtc): what the vendor API serves now, re-read with the connector's own
              client under its rate limit, counted by natural key, nothing published; push vendors (huawei-privatenumber,
              alibaba-lvms): the raw topic — what the receiver acknowledged — is the source of truth
  raw         distinct natural keys on cdr.raw.<vendor> whose call falls in the day
  normalized  distinct cdr_ids on cdr.normalized; dlq: records normalize or the sink dead-lettered
  ClickHouse  count() and uniqExact(cdr_id) over cdr FINAL, billable minutes, and the same from cdr_daily, cdr_hourly and
              cdr_end_status (a view that double counts shows up); rows a reader without FINAL would count twice
Billable minutes are compared too: the source's are computed with the same mapping and billing rules.

Days: <day> is YYYY-MM-DD (${FIRST_DAY} to ${LAST_DAY}, what ClickHouse's Date holds), "today" or "yesterday"; both
ends inclusive, at most ${MAX_RECONCILE_DAYS} days per run. A call belongs to the day of its call time (started_at, else received_at)
in UTC, or at --tz (a whole-hour offset: +08:00 for the tenant-local day of a vendor that bills in GMT+8; the daily
views are UTC days, so only the hourly view is compared then). Calls that started less than --settle seconds ago
(default reconcile.settleSec = ${DEFAULT_RECONCILE_SETTLE_SEC}) are left out: they may still be running, their records may still be late, or in
flight between stages; the hourly view is compared up to the last whole hour before that.

--repair: missing in raw -> a backfill of exactly those hour windows (pull vendors, the \`cdrflow backfill\` path);
in raw but neither normalized nor dead-lettered -> those raw records appended again for normalize; normalized but not
in ClickHouse -> those records appended again to cdr.normalized for the sink (dedup by cdr_id keeps one row); rows
not merged yet -> OPTIMIZE … FINAL. Then it waits for the pipeline and reconciles again (before / after). A push
vendor's record that never reached the receiver cannot be repaired from here: it is said so and listed.

Exit: 0 everything agrees, 1 drift, 2 a vendor API could not be read (after reconcile.sourceMaxAttempts attempts, or
at once when the vendor refused the request, e.g. a day older than it serves);
3 no verdict: the run could not be made (another run in progress in the job, the job stopping or gone silent, Kafka,
ClickHouse or the registry unreachable, or any other failure of the run itself); 64 a usage error, 78 an invalid
configuration;
130 / 143 stopped by SIGINT / SIGTERM (no verdict; run here or in the job alike).
Every run is recorded in ClickHouse (reconcile_runs). While \`cdrflow start\` runs the reconcile runs inside it.

Options:
  --vendor V     only this vendor (repeatable)
  --tenant T     only this tenant (SdkAppId / app key; repeatable)
  --tz OFFSET    day convention: UTC (default) or ±HH:00 (e.g. --tz -05:00)
  --settle SEC   leave out calls that started less than SEC seconds ago (0..${MAX_SETTLE_SEC})
  --repair       repair what can be repaired, then reconcile again
  --json         the outcome as JSON on stdout (progress stays on stderr)
  --config FILE  the same file as \`cdrflow start\``;

/** A run that gave no verdict about the data ends with EXIT_NO_VERDICT, never 1 (which a script reads as drift). */
function noVerdict(message: string): ExitError {
  return new ExitError(EXIT_NO_VERDICT, `no verdict (exit ${EXIT_NO_VERDICT}), the run could not be made: ${message}`);
}

/** Kafka unreachable, as the other Kafka commands say it (address, what to do), but as reconcile's no verdict. */
function kafkaNoVerdict(err: KafkaUnreachableError, config: AppConfig): ExitError {
  return noVerdict(`${err.message}: ${kafkaHint(config)}`);
}

/** The `error` of a JSON answer like {"error": "..."}, or undefined for any other text. */
function jsonError(text: string): string | undefined {
  try {
    const error = (JSON.parse(text) as { error?: unknown } | null)?.error;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Ctrl-C or SIGTERM during the run aborts it and ends the command with the signal's status (130 / 143), wherever the
 * run is (a script reads the same status either way): here it stops at its next safe point, in the job the
 * connection closes and the job aborts its run. A second, separate one exits at once.
 */
async function stoppable<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const requests = stopRequests({ onStop: (signal) => abort.abort(new Error(signal)), onForce: (signal) => exitProcess(signalExit(signal)) });
  try {
    return await run(abort.signal);
  } catch (err) {
    const signal = requests.received;
    if (signal) throw new ExitError(signalExit(signal), `stopped by ${signal}: no verdict, the run was not finished`);
    throw err;
  } finally {
    requests.dispose();
  }
}

/**
 * The longest line of the running job read (progress, error or outcome line), in bytes: the longest text a JavaScript
 * string holds, so the job's JSON.stringify of an outcome cannot give a longer one and JSON.parse here could take no
 * longer one either. Real outcome lines are far shorter: a row (vendor × tenant × day) is about 530 bytes, 850 with a
 * few drifting cdr_ids in its sample, so a year of 4 vendors × 10 tenants with --repair (before and after) is about
 * 25 MB. A line past it is not the job's (another program on the ops port, or an answer that never ends its line).
 */
export const MAX_JOB_LINE_BYTES = constants.MAX_STRING_LENGTH;

/** The running job's NDJSON lines as text; a line past `maxBytes` ends the read (the rest of the answer is not read). */
async function* jobLines(body: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<string> {
  // Bytes kept until their line ends, searched for its end chunk by chunk: appending to a string and splitting all of
  // it again for every chunk made a long line take time in the square of its length.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const tooLong = (more: Buffer) => {
    const start = Buffer.concat([...pending, more], Math.min(pendingBytes + more.length, MAX_QUOTED_CHARS)).toString('utf8');
    return noVerdict(`the running job sent a line longer than ${maxBytes} bytes, more than any line of cdrflow's (is another program on the ops port?), starting ${quote(start)}…`);
  };
  for await (const chunk of body) {
    let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let end = rest.indexOf(0x0a); end !== -1; end = rest.indexOf(0x0a)) {
      if (pendingBytes + end > maxBytes) throw tooLong(rest);
      const line = Buffer.concat([...pending, rest.subarray(0, end)]).toString('utf8');
      pending = [];
      pendingBytes = 0;
      rest = rest.subarray(end + 1);
      yield line;
    }
    if (pendingBytes + rest.length > maxBytes) throw tooLong(rest);
    pending.push(rest);
    pendingBytes += rest.length;
  }
}

/**
 * The longest the running job's answer may send nothing at all once the job has shown it sends keep-alives (one at the
 * start of its run, then every RECONCILE_KEEPALIVE_MS): four missed in a row is no busy moment of the job but a job
 * that hangs, or a network path that drops packets, which without this held the command until Ctrl-C: a hung job's
 * kernel still keeps the connection up, and a path that drops packets is noticed, if at all, by TCP's probes many
 * minutes later.
 */
export const JOB_SILENT_MS = 4 * RECONCILE_KEEPALIVE_MS;

/**
 * The same for a job of an earlier version, which sends no keep-alive: its progress lines can be minutes apart (a big
 * day's topic scan, a repair's OPTIMIZE or its wait for the pipeline), so a longer silence is given up on. Not longer
 * than this: Node's fetch itself ends a body idle for 300 s (undici's bodyTimeout) with a bare "terminated", so any
 * longer bound would never be reached, and that is the most such a job was ever given.
 */
export const OLD_JOB_SILENT_MS = 290_000;

/**
 * The longest the running job may take to start its answer to POST /reconcile (its status and headers). A job of this
 * version starts it at once, with its first keep-alive or its refusal of a busy or malformed request; one of an
 * earlier version with its first progress line, which comes once it waited for the pipeline to settle (30 s at most)
 * and read its first vendor window or topic. Without it a job that took the request and never answered held the
 * command until Node's fetch gave up on the headers after 300 s, in the words "fetch failed".
 */
export const JOB_HEAD_MS = 2 * 60_000;

/** `body` chunk by chunk; fails with `silent(ms)` once it sent nothing for `silentMs()` (asked again at every wait). */
async function* untilSilent(body: ReadableStream<Uint8Array>, silentMs: () => number, silent: (ms: number) => Error): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const ms = silentMs();
      // A timer of our own, as in findRunningJob: ref'd, so the wait keeps the process alive until it gives up.
      let timer: NodeJS.Timeout | undefined;
      const quiet = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(silent(ms)), ms)));
      const { done, value } = await Promise.race([reader.read(), quiet]).finally(() => clearTimeout(timer));
      if (done) return;
      yield value;
    }
  } finally {
    // Not awaited: a stalled body is given up, not waited on once more.
    void reader.cancel().catch(() => undefined);
  }
}

/**
 * The run inside the job at `base`. `limits` for tests: the longest line read (MAX_JOB_LINE_BYTES), the time the
 * answer takes to start (JOB_HEAD_MS), the time the start of an answer other than 200 takes to come
 * (ERROR_HEAD_TIMEOUT_MS) and the silences given up on (JOB_SILENT_MS, OLD_JOB_SILENT_MS).
 */
export async function viaJob(
  base: string,
  req: ReconcileRequest,
  signal: AbortSignal,
  limits: { maxLineBytes?: number; headMs?: number; errorHeadMs?: number; silentMs?: number; oldJobSilentMs?: number } = {},
): Promise<ReconcileOutcome> {
  const headMs = limits.headMs ?? JOB_HEAD_MS;
  const head = new AbortController();
  // A timer of our own, as in findRunningJob: ref'd, so the wait keeps the process alive until it gives up.
  const timer = setTimeout(() => head.abort(), headMs);
  let res: Response;
  try {
    res = await fetch(`${base}/reconcile`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal: AbortSignal.any([signal, head.signal]) });
  } catch (err) {
    if (!head.signal.aborted || signal.aborted) throw err;
    throw noVerdict(
      `the running job at ${base} sent nothing for ${headMs / 1000} s after the request, not even the start of its answer, which it sends at once (a job of an earlier version with its first progress line): it hangs, or the network path to it drops packets; this command stopped waiting (the job's log and reconcile_runs say whether a run began)`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 200 || !res.body) {
    // Only its start is read: a proxy's page or a program on the port answering without end took this process to
    // gigabytes, when at most MAX_QUOTED_CHARS of it is shown.
    const head = await errorHead(res, { timeoutMs: limits.errorHeadMs, signal }).catch((err: unknown) => {
      if (signal.aborted) throw err;
      throw new Error(`the running job answered ${res.status}, and ${(err as Error).message}`);
    });
    const text = head.text.trim();
    // A refusal the job explains in JSON (503 while it stops) is said as the job words it, escaped and cut as the rest;
    // any other text (a proxy's page, a crash) is not the job's words: quoted on one line, escaped and cut.
    const error = jsonError(text);
    if (error !== undefined) throw noVerdict(terminalText(error.length > MAX_QUOTED_CHARS ? `${error.slice(0, MAX_QUOTED_CHARS)}… (${error.length} chars)` : error));
    throw new Error(`the running job answered ${res.status}: ${quote(text)}${head.cut ? ', the rest not read' : ''}`);
  }
  let outcome: ReconcileOutcome | undefined;
  let keepsAlive = false;
  const silentMs = () => (keepsAlive ? (limits.silentMs ?? JOB_SILENT_MS) : (limits.oldJobSilentMs ?? OLD_JOB_SILENT_MS));
  const silent = (ms: number) =>
    noVerdict(
      `the running job at ${base} sent nothing for ${ms / 1000} s during the run, ${keepsAlive ? `though it sends a keep-alive every ${RECONCILE_KEEPALIVE_MS / 1000} s` : 'not even a keep-alive (a job of an earlier version sends none)'}: it hangs, or the network path to it drops packets; this command stopped waiting (the job's log and reconcile_runs say whether the run ended)`,
    );
  for await (const line of jobLines(untilSilent(res.body, silentMs, silent), limits.maxLineBytes ?? MAX_JOB_LINE_BYTES)) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { progress?: string; outcome?: ReconcileOutcome; error?: string; exitCode?: unknown; keepAlive?: unknown };
    // Only a sign of life (the bytes already reset the wait): it holds the job to the shorter silence from now on.
    if (msg.keepAlive !== undefined) {
      keepsAlive = true;
      continue;
    }
    // The job sends its progress as plain lines (its bar's redraws already taken apart) and its notes, which may quote
    // a vendor API's error, among them: each is one line, escaped and cut, as the run in this process writes its notes.
    if (msg.progress) process.stderr.write(`${terminalReason(msg.progress)}\n`);
    // The job says 64 for a request it refuses; anything else it could not do is no verdict (a job before exit
    // codes in error lines sends none).
    if (msg.error) throw msg.exitCode === EXIT_USAGE ? new ExitError(EXIT_USAGE, terminalLines(msg.error)) : noVerdict(terminalLines(msg.error));
    if (msg.outcome) outcome = msg.outcome;
  }
  if (!outcome) throw new Error('the running job ended the reconcile without a result');
  return outcome;
}

/** `step`, or its rejection with the signal's reason as soon as `signal` aborts (a step that cannot be aborted itself). */
function untilAborted<T>(step: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const aborted = () => reject(signal.reason as Error);
    if (signal.aborted) return aborted();
    signal.addEventListener('abort', aborted, { once: true });
    step.then(resolve, reject).finally(() => signal.removeEventListener('abort', aborted));
  });
}

/**
 * Inside the running job when one answers on the ops port (it owns the embedded engine), else in this process. A stop
 * request while it looks for the job, migrates or checks Kafka ends it as one during the run does.
 */
function reconcileHereOrInJob(config: AppConfig, req: ReconcileRequest): Promise<ReconcileOutcome> {
  return stoppable(async (signal) => {
    const ends = endpoints(config);
    // A busy job (demo traffic, a scheduled reconcile) can take a few seconds to answer on a loaded machine.
    const running = await untilAborted(findRunningJob(ends.opsPort, 10_000, signal), signal);
    if (running) {
      process.stderr.write(`cdrflow reconcile: running inside the job at ${running} (its connectors and ClickHouse)\n`);
      return viaJob(running, req, signal);
    }
    const registry = createRegistry(ends.registryUrl);
    // Not cut short: an engine that went on starting would be left open. A stop request meanwhile ends the next step.
    const clickhouse = await createClickHouse(ends.clickhouse);
    const connectors: PullConnector[] = [];
    try {
      if (config.sink.migrate) await untilAborted(migrate(clickhouse, { database: config.sink.database }), signal);
      // A short, silent check first: the client's own retries took ~55 s and printed dozens of warnings with stacks.
      try {
        await untilAborted(ensureKafkaReachable(ends.kafka), signal);
      } catch (err) {
        const unreachable = kafkaUnreachable(err, ends.kafka.brokers);
        throw unreachable ? kafkaNoVerdict(unreachable, config) : err;
      }
      const kafka = await commandKafka(ends.kafka, { oneShot: true });
      const deps = { kafka, registry, log: logger('reconcile') };
      if (config.connectors['tencent-ccc']) connectors.push(createCccConnector(config.connectors['tencent-ccc'], deps));
      if (config.connectors['tencent-trtc']) connectors.push(createTrtcConnector(config.connectors['tencent-trtc'], deps));
      // A note may quote a vendor API's error (a source that refused or could not be reached): one line, escaped and cut.
      const log = (msg: string) => process.stderr.write(`cdrflow reconcile: ${terminalReason(msg)}\n`);
      const reconcileDeps = reconcileDepsOf(config, { kafka, registry, clickhouse, connectors, progress: process.stderr, log });
      try {
        // Ctrl-C stops reading the vendor API at the next request.
        return await runReconcile(reconcileDeps, req, signal);
      } catch (err) {
        // Kafka that went away during the run ends it with the same line.
        const unreachable = kafkaUnreachable(err, ends.kafka.brokers);
        throw unreachable ? kafkaNoVerdict(unreachable, config) : err;
      }
    } finally {
      for (const c of connectors) await c.close().catch(() => undefined);
      await clickhouse.close();
    }
  });
}

export const command: Command = {
  name: 'reconcile',
  summary: 'prove per vendor and day that source, Kafka and ClickHouse agree (--repair closes the drift it can)',
  usage,
  async run(args) {
    const { values } = parseFlags(args, {
      from: { type: 'string', needs: 'a day' },
      to: { type: 'string', needs: 'a day' },
      vendor: { type: 'string', multiple: true, needs: 'a vendor' },
      tenant: { type: 'string', multiple: true, needs: 'a tenant' },
      tz: { type: 'string', needs: 'an offset such as +08:00' },
      settle: { type: 'string', needs: 'seconds' },
      repair: { type: 'boolean' },
      json: { type: 'boolean' },
      config: { type: 'string', needs: 'a file' },
    });
    // The same check as the job's POST /reconcile (checkRequest in reconcile/reconcile.ts), so they cannot drift apart:
    // a refusal is a usage error (64); the configuration, read once the rest has passed, stays exit 78.
    let config: AppConfig | undefined;
    let loading = false;
    let req: ReconcileRequest;
    try {
      req = checkRequest({ from: values.from, to: values.to, vendors: values.vendor, tenants: values.tenant, tz: values.tz, settleSec: values.settle, repair: values.repair }, CLI_REQUEST_NAMES, {
        now: Date.now(),
        trigger: 'cli',
        defaults: () => {
          loading = true;
          config = loadCommandConfig({ file: values.config, wholePipeline: true });
          loading = false;
          return { settleSec: config.reconcile.settleSec };
        },
      });
    } catch (err) {
      if (loading) throw err;
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    let outcome: ReconcileOutcome;
    try {
      outcome = await reconcileHereOrInJob(config!, req);
    } catch (err) {
      // Flags and configuration were checked above (64, 78); what fails from here on is the run itself.
      if (err instanceof ExitError || err instanceof UsageError) throw err;
      throw noVerdict(err instanceof Error ? err.message : String(err));
    }
    if (values.json) process.stdout.write(`${terminalJson(outcomeJson(outcome))}\n`);
    else process.stdout.write(renderOutcome(outcome, useColor(process.stdout)));
    return outcome.exitCode;
  },
};
