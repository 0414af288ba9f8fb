// `cdrflow import <vendor> --file records.jsonl`: the backfill of push vendors. Records go to cdr.raw.<vendor> with
// mode `import` (same path, same keys, same dedup as live pushes), with a progress bar and a summary.
import { exitProcess } from '../../core/engine-exit.ts';
import { accessSync, constants, statSync } from 'node:fs';
import type { Command } from '../command.ts';
import { ExitError, refuseDirectoryOnStdin, UsageError } from '../command.ts';
import { EXIT_DATA_ERROR, EXIT_NO_INPUT, EXIT_SOME_LINES_BAD, EXIT_UNAVAILABLE, EXIT_USAGE, signalExit } from '../../core/exit-codes.ts';
import { integer, parseFlags } from '../args.ts';
import { Progress } from '../../core/progress.ts';
import { DEFAULT_IMPORT_BATCH, ImportOptionsSchema, IMPORT_VENDORS, MAX_IMPORT_BATCH } from '../../connectors/file-import/config.ts';
import { countLines, fileStartProblem, importFile, type ImportSummary, type Unpublished, MAX_SKIPPED_LINE_BYTES, resumeAdvice, resumePoint, STDIN_FILE } from '../../connectors/file-import/import.ts';
import { BadLineNotes } from '../../connectors/file-import/bad-line-notes.ts';
import { MAX_FEE_RECORDS } from '../../connectors/huawei-privatenumber/receiver-route.ts';
import { LINES_LOGGED_PER_SECOND } from '../../core/log-limit.ts';
import { checkTargetTopic, configuredRawTopic, targetTopicProblem } from '../../connectors/file-import/target-topic.ts';
import { kafkaEnvelopeSink } from '../../connectors/receiver/kafka-sink.ts';
import { kafkaHint, oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { createRegistry } from '../../core/avro.ts';
import { kafkaUnreachable, topicExists } from '../../core/kafka.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig } from '../app-config.ts';
import { formatZodIssues } from '../../core/zod-issues.ts';
import { MAX_JSON_DEPTH, MAX_LINE_BYTES, MAX_NATURAL_KEY_BYTES, MAX_RECORD_BYTES, printable, quote, terminalText } from '../../core/input-limits.ts';
import { isRegularFile } from '../../core/user-file.ts';
import { stopRequests } from '../signals.ts';

/** The file is not JSON Lines (UTF-16 text, a line with no end): sysexits EX_DATAERR. */
/** --file names nothing readable (missing, a directory, no permission): sysexits EX_NOINPUT. */

const usage = `Usage: cdrflow import <${IMPORT_VENDORS.join('|')}> --file <records.jsonl> [--tenant ID] [--topic T] [--batch N] [--config FILE]

--file - reads standard input (a pipe or a file: \`zcat calls.jsonl.gz | cdrflow import … --file -\`), as it streams:
no line count up front, so the progress shows no total.

One JSON value per line:
  huawei-privatenumber  a FeeInfo object, or a whole push body {"eventType":"fee","feeLst":[...]} of 1 to 50 records
                        (tenant = the record's appKey, else --tenant; the binding mode of that app in
                        receiver.huawei.apps of --config goes with it, as on a push); a call-event push is a bad line
  alibaba-lvms          an IvrCallRecordDto object, or that object as a JSON string (tenant = --tenant, required)

Records are published to cdr.raw.<vendor> (the vendor's raw topic, which the pipeline reads; created when missing;
the receiver's own topic when the config names one)
with mode=import, keyed like live pushes, each batch acknowledged by Kafka. --topic T publishes to T instead, which
must exist already (it is never created): a topic that does not, or another vendor's raw topic, is refused (exit 64).
Bad lines are reported with their line number and skipped: invalid UTF-8, a line over ${MAX_LINE_BYTES} bytes (never read
into memory), JSON the receivers would refuse (nested deeper than ${MAX_JSON_DEPTH} levels, a member given twice, a U+FFFD
where bytes were lost), a record over
${MAX_RECORD_BYTES / 1024} KiB or a key or appKey over ${MAX_NATURAL_KEY_BYTES} bytes. The first ${LINES_LOGGED_PER_SECOND} bad lines of each second are
printed, the rest as one "N more bad lines this second" line; the summary counts every one.
A UTF-16 or compressed file (gzip, xz, zstd) is refused, and a line still going after ${MAX_SKIPPED_LINE_BYTES / 1024 / 1024} MiB ends the import: neither is JSON Lines.
Kafka and the registry: --config (the pipeline's file), KAFKA_BROKERS / SCHEMA_REGISTRY_URL, default the local stack.
Ctrl-C (SIGINT) or SIGTERM stops reading: the records of the lines read are published, the summary says stopped_at_line
(a batch Kafka refuses then is not tried again: stopped_at_line is the line before it, the line to import again from is named).
A batch Kafka still refuses after its retries ends the import the same way: the summary counts the records published,
failed_at_line is that batch's first line, the line to import again from (a record imported twice is one row). A read
error (EIO, a network file system gone) ends it so too, once the records read are published: failed_at_line is the first line not published.
A read that ends so or on a file not JSON Lines, then Kafka refusing the last batch: both are named, failed_at_line is that
batch's first line, and the exit is what to do first: 69 when Kafka went away, else 65 for a file not JSON Lines, else 1.
A Ctrl-C or SIGTERM meanwhile (the last batch retried) exits 130 / 143, the message still naming every problem and that line.
--batch N publishes at most N records at a time, each batch acknowledged (default ${DEFAULT_IMPORT_BATCH}, at most ${MAX_IMPORT_BATCH}); a push body's
records (up to ${MAX_FEE_RECORDS}) always go in one batch, as a push is one unit at the receiver, so a smaller N sends it alone.
Exit status: 0 all lines imported; ${EXIT_SOME_LINES_BAD} some lines skipped; 1 the run failed (the registry, Kafka, a read error);
64 usage, or a --topic refused; ${EXIT_DATA_ERROR} the file is not JSON Lines (UTF-16, compressed: refused before anything is read; a line
with no end: the lines before it stay published); ${EXIT_NO_INPUT} --file missing, a directory or not readable (checked first);
69 Kafka not reachable (checked before reading, about a second; the lines published before it went away stay
published); 130 / 143 stopped by SIGINT / SIGTERM (also when the import failed too: the message names it).`;

function parse(args: string[]) {
  const { values, positionals } = parseFlags(args, { file: { type: 'string' }, tenant: { type: 'string' }, topic: { type: 'string' }, batch: { type: 'string', needs: `an integer 1..${MAX_IMPORT_BATCH}` }, config: { type: 'string' } }, { maxPositionals: 1 });
  const vendor = positionals[0];
  if (vendor === undefined) throw new UsageError(`name a vendor: ${IMPORT_VENDORS.join(' or ')}`);
  if (!(IMPORT_VENDORS as readonly string[]).includes(vendor)) throw new UsageError(`vendor ${quote(vendor)} cannot be imported; use ${IMPORT_VENDORS.join(' or ')}`);
  const raw = { vendor, file: values.file, tenant: values.tenant, topic: values.topic, batchSize: values.batch === undefined ? undefined : integer('--batch', values.batch, { min: 1, max: MAX_IMPORT_BATCH }) };
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  // The other options' problems first (they name their flag); then a missing --file as the flag, not a schema issue.
  const parsed = ImportOptionsSchema.safeParse(values.file === undefined ? { ...given, file: STDIN_FILE } : given);
  if (!parsed.success) throw new UsageError(`invalid options:\n${formatZodIssues(parsed.error, '  ')}`);
  if (values.file === undefined) throw new UsageError('--file is required');
  // Every LVMS line would be skipped without it (the DTO carries no app_key): refuse before anything is read.
  if (parsed.data.vendor === 'alibaba-lvms' && parsed.data.tenant === undefined) throw new UsageError('--tenant is required for alibaba-lvms (its records carry no app_key)');
  return { options: parsed.data, config: values.config };
}

/** Nothing readable at --file: one line, exit 66, before Kafka is asked (it was ENOENT / EISDIR after the summary). */
function checkInputFile(file: string): void {
  if (file === STDIN_FILE) return refuseDirectoryOnStdin('give a file of JSON lines or a pipe');
  const name = `--file ${printable(file)}`;
  let isDirectory: boolean;
  try {
    isDirectory = statSync(file).isDirectory();
    if (!isDirectory) accessSync(file, constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ExitError(EXIT_NO_INPUT, `${name}: no such file`);
    throw cannotBeRead(name, err);
  }
  if (isDirectory) throw new ExitError(EXIT_NO_INPUT, `${name}: is a directory, not a file`);
}

function cannotBeRead(name: string, err: unknown): ExitError {
  return new ExitError(EXIT_NO_INPUT, `${name}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
}

/**
 * Ctrl-C and SIGTERM while importing: the first aborts `signal` (the import stops reading and prints its summary); a
 * later, separate one exits at once (cli/signals.ts).
 */
function stopOnSignal(onForce: (signal: NodeJS.Signals) => void) {
  const abort = new AbortController();
  const requests = stopRequests({ onStop: (signal) => abort.abort(new Error(signal)), onForce });
  return {
    signal: abort.signal,
    get received() {
      return requests.received;
    },
    dispose: () => requests.dispose(),
  };
}


type FailedStop = Exclude<NonNullable<ImportSummary['stopped']>, { reason: 'signal' }>;

/**
 * How an import ended by Kafka, a read error or a file that is not JSON Lines is told (a stop is told apart): the
 * exit status, failed_at_line (the first line not published, where to import again from) and the one-line message.
 * Two endings can come together: the read ends (not JSON Lines, a read error), then Kafka refuses the last batch. The
 * message names both; the exit is the one that says what to do first: 69 when Kafka went away (nothing can be imported
 * until it is back), else 65 when the file is not JSON Lines (the data must be fixed), else 1.
 * A stop the user asked for (`stoppedBy`: Ctrl-C or SIGTERM, as while the last batch was retried) wins the exit, 130 /
 * 143, as scripts tell "the user stopped it" from "the data is bad" by it; the message still names every problem and
 * the line to import again from, after "stopped by <signal>".
 */
export function failedEnding(stopped: FailedStop, records: number, file: string, brokers: string[], hint: string, stoppedBy?: NodeJS.Signals): { exit: number; failedAtLine: number; message: string } {
  const ending = failure(stopped, records, file, brokers, hint);
  return stoppedBy === undefined ? ending : { ...ending, exit: signalExit(stoppedBy), message: `stopped by ${stoppedBy}: ${ending.message}` };
}

/** failedEnding without a stop. */
function failure(stopped: FailedStop, records: number, file: string, brokers: string[], hint: string): { exit: number; failedAtLine: number; message: string } {
  const gone = stopped.unpublished && kafkaUnreachable(stopped.unpublished.error, brokers);
  const exit = gone ? EXIT_UNAVAILABLE : stopped.reason === 'not-json-lines' ? EXIT_DATA_ERROR : 1;
  /** The batch Kafka refused, and the line to import again from. */
  const refused = (unpublished: Unpublished, either: string) =>
    `${gone ? gone.message : `a batch could not be published${either} (${unpublished.problem})`}: ${resumeAdvice(unpublished, records)}${gone ? `; ${hint}` : ''}`;
  if (stopped.reason === 'publish-failed') return { exit, failedAtLine: stopped.unpublished.fromLine, message: refused(stopped.unpublished, '') };
  const read = stopped.reason === 'read-failed' ? `--file ${file}: reading failed before line ${stopped.line} (${stopped.problem}): ` : `--file ${file}: ${stopped.problem}; `;
  if (stopped.unpublished !== undefined) return { exit, failedAtLine: stopped.unpublished.fromLine, message: `${read}${refused(stopped.unpublished, ' either')}` };
  // The read ended alone: the records read were published (a file that is not JSON Lines says where it ended).
  const message = stopped.reason === 'read-failed' ? `${read}${resumePoint(stopped.line, records)}` : `--file ${file}: ${stopped.problem}`;
  return { exit, failedAtLine: stopped.line, message };
}

export const command: Command = {
  name: 'import',
  summary: 'load Huawei PrivateNumber / Alibaba LVMS records from a JSON-lines file into the raw topics',
  usage,
  async run(args) {
    const { options, config: file } = parse(args);
    // The file first: a typo in its name costs no Kafka connection and prints no progress line.
    checkInputFile(options.file);
    // A pipe (`--file <(zcat calls.jsonl.gz)`) is read once, as it streams: no look at its start, no count up front.
    const regular = options.file !== STDIN_FILE && isRegularFile(options.file);
    if (regular) {
      let problem;
      try {
        problem = fileStartProblem(options.file);
      } catch (err) {
        // Readable by its mode, but a read fails at once (EIO): nothing was read, it is not readable (it was a bare
        // "EIO: i/o error, read" naming no file, exit 1).
        throw cannotBeRead(`--file ${printable(options.file)}`, err);
      }
      if (problem !== undefined) throw new ExitError(EXIT_DATA_ERROR, `--file ${printable(options.file)}: ${problem}`);
    }
    const config = loadCommandConfig({ file });
    const ends = endpoints(config);
    // The vendor's raw topic, which the pipeline reads (the receiver's own when configured): created when missing. Any
    // other --topic must exist.
    const configured = configuredRawTopic(config, options.vendor);
    const topic = options.topic ?? configured;
    const refused = targetTopicProblem(config, options.vendor, topic, configured);
    if (refused !== null) throw new ExitError(EXIT_USAGE, refused);
    const kafka = await oneShotKafka(config, 'cdrflow-import');
    if (topic !== configured) {
      let verdict;
      try {
        verdict = await checkTargetTopic(config, options.vendor, topic, configured, (t) => topicExists(kafka, t));
      } catch (err) {
        return rethrowUnreachable(err, config);
      }
      if (!verdict.ok) throw new ExitError(EXIT_USAGE, verdict.problem);
      if (verdict.note !== undefined) process.stderr.write(`cdrflow import: ${terminalText(verdict.note)}\n`);
    }
    let progress: Progress | undefined;
    const stop = stopOnSignal((signal) => {
      progress?.finish({ lines: progress.count, stopped_at_line: progress.count });
      process.stderr.write(`cdrflow import: ${signal} again: exiting without waiting for Kafka (the batches it acknowledged stay published)\n`);
      exitProcess(signalExit(signal));
    });
    // Stopped while the lines were counted: nothing was imported.
    const stoppedEarly = (): never => {
      const signal = stop.received ?? 'SIGINT';
      new Progress({ label: `import ${options.vendor}`, unit: 'lines' }).finish({ lines: 0, records: 0, skipped: 0, stopped_at_line: 0 });
      throw new ExitError(signalExit(signal), `stopped by ${signal} before the first line: nothing was imported`);
    };
    try {
      let total: number | undefined;
      try {
        total = regular ? await countLines(options.file, stop.signal) : undefined;
      } catch (err) {
        if (stop.signal.aborted) return stoppedEarly();
        throw err;
      }
      if (stop.signal.aborted) return stoppedEarly();
      // An explicit --topic exists (checked above) and is never created; the configured one is, when missing.
      const sink = await kafkaEnvelopeSink(kafka, createRegistry(ends.registryUrl), topic === configured ? [topic] : []);
      progress = new Progress({ label: `import ${options.vendor}`, total, unit: 'lines' });
      const bar = progress;
      const notes = new BadLineNotes(options.file === STDIN_FILE ? '(standard input)' : printable(options.file), (line) => bar.note(line));
      try {
        let summary;
        try {
          summary = await importFile({ ...options, topic }, {
            sink: sink.sink,
            signal: stop.signal,
            huaweiApps: config.receiver?.huawei?.apps,
            onLine: () => bar.tick(),
            onBadLine: (bad) => notes.report(bad),
          });
        } finally {
          notes.close();
        }
        const counts = { lines: summary.lines, records: summary.records, skipped: summary.badLines, blank: summary.blankLines };
        const where = { topic: summary.topic, request_id: summary.requestId };
        const { stopped } = summary;
        if (stopped?.reason === 'signal') {
          const signal = stop.received ?? 'SIGINT';
          const { unpublished } = stopped;
          if (unpublished !== undefined) {
            // Kafka refused the last batch when the stop came: the lines before it are what was done, the resume point.
            const done = unpublished.fromLine - 1;
            bar.finish({ ...counts, stopped_at_line: done, ...where });
            throw new ExitError(signalExit(signal), `stopped by ${signal} while Kafka refused a batch (${unpublished.problem}): ${resumeAdvice(unpublished, summary.records)}`);
          }
          bar.finish({ ...counts, stopped_at_line: summary.lines, ...where });
          const read = summary.lines === 0 ? 'before the first line: nothing was imported' : `after line ${summary.lines}: the lines read were published or reported, the rest of the file was not read`;
          throw new ExitError(signalExit(signal), `stopped by ${signal} ${read}`);
        }
        if (stopped !== undefined) {
          const ending = failedEnding(stopped, summary.records, printable(options.file), ends.kafka.brokers, kafkaHint(config), stop.received);
          bar.finish({ ...counts, failed_at_line: ending.failedAtLine, ...where });
          throw new ExitError(ending.exit, ending.message);
        }
        bar.finish({ ...counts, ...where });
        return summary.badLines > 0 ? EXIT_SOME_LINES_BAD : 0;
      } catch (err) {
        if (err instanceof ExitError) throw err;
        bar.finish({ failed_at_line: bar.count });
        return rethrowUnreachable(err, config);
      } finally {
        await sink.close();
      }
    } finally {
      stop.dispose();
    }
  },
};
