// Per-record isolation for the normalize stage: an exception raised while handling ONE record (decode, mapping,
// encoding) dead-letters that record with its reason, kind and failing stage, and the stage goes on. Only systemic
// failures stop it: the registry or Kafka unreachable, auth, a missing schema — or the same failure on every record
// of a large chunk (SystemicFailureGuard, the sink's systemicRejectThreshold idea), which is a broken deployment,
// not bad data, and would otherwise turn the whole topic into dead letters.
import { createHash } from 'node:crypto';
import { classifyRegistryError } from '../../../core/dead-letter.ts';
import { CdrflowError, disposition, type ErrorKind } from '../../../core/errors.ts';
import { MAX_NATURAL_KEY_BYTES, boundReason, quote } from '../../../core/input-limits.ts';
import { LimitedLog } from '../../../core/log-limit.ts';
import type { LogFn } from '../../../core/log.ts';

export type RecordStage = 'decode' | 'mapping' | 'encode';

export interface RecordFailure {
  stage: RecordStage;
  kind: ErrorKind;
  message: string;
  /** The mapping produced a record its own contract (cdr-normalized.avsc) rejects: a bug worth an alert. */
  contract: boolean;
}

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : quote(err));

/**
 * What an exception thrown while handling one record means. Systemic errors (retry/stop kinds other than `bug`) are
 * rethrown: no record is at fault, and the chunk must not be committed as dead letters.
 */
export function recordFailure(stage: RecordStage, err: unknown): RecordFailure {
  if (stage === 'encode' && (err as { name?: string })?.name === 'ConfluentSchemaRegistryValidationError') {
    const paths = (err as { paths?: string[][] }).paths ?? [];
    const where = paths.length > 0 ? ` at ${paths.map((p) => p.join('.')).join(', ')}` : '';
    return {
      stage,
      kind: 'bug',
      contract: true,
      message: boundReason(`normalize/${stage}: mapping produced a record outside the contract (cdr-normalized.avsc)${where}: ${errorText(err)}`),
    };
  }
  const classified = stage === 'mapping' ? null : classifyRegistryError(err, `normalize/${stage}`);
  if (classified !== null && classified.kind !== 'bug' && disposition(classified) !== 'dead-letter') throw classified;
  const kind: ErrorKind = classified?.kind === 'bad_record' ? 'bad_record' : 'bug';
  // A bug in our code on this record (a stack overflow, a TypeError): the record is replayable once it is fixed.
  return { stage, kind, contract: false, message: boundReason(`normalize/${stage}: ${kind === 'bug' ? 'internal error on this record: ' : ''}${errorText(err)}`) };
}

/** Where a failed record sits on its input topic. */
export interface RecordAt {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The `normalize.record_failed` lines: a topic of records that all fail the same way (a producer's broken payloads)
 * is thousands a second, so the first of each second per stage and kind are logged and the rest summed up
 * (`normalize.record_failed_suppressed`, core/log-limit.ts); each is still a dead letter and counted.
 */
export function recordFailureLog(log: LogFn, now?: () => number): { failed(at: RecordAt, failure: RecordFailure): void; close(): void } {
  const lines = new LimitedLog(log, now);
  return {
    failed: (at, failure) =>
      lines.line('warn', 'normalize.record_failed', { stage: failure.stage, kind: failure.kind }, { topic: at.topic, partition: at.partition, offset: at.offset, contract: failure.contract, error: failure.message }),
    close: () => lines.close(),
  };
}

/**
 * Stops the stage when every record of a large chunk failed with an exception at the same stage: that is the
 * deployment (a broken mapping release, a wrong schema), and dead-lettering the whole topic would hide it.
 */
export function systemicFailure(failures: readonly RecordFailure[], chunkSize: number, threshold: number): CdrflowError | null {
  if (chunkSize < threshold || failures.length !== chunkSize) return null;
  const stage = failures[0]!.stage;
  if (!failures.every((f) => f.stage === stage && f.kind === 'bug')) return null;
  return new CdrflowError('bug', `every one of ${chunkSize} records failed in normalize/${stage}; that is the deployment, not the data (first: ${failures[0]!.message})`);
}

/** Dead letters are keyed by the call when its id fits a Kafka key; a hostile oversized key is replaced by its hash. */
export function deadLetterKey(cdrId: string | null | undefined, original: Buffer | null): string | Buffer | null {
  if (cdrId && Buffer.byteLength(cdrId) <= MAX_NATURAL_KEY_BYTES * 2) return cdrId;
  if (original === null || original.length <= MAX_NATURAL_KEY_BYTES * 2) return original;
  return `sha256:${createHash('sha256').update(original).digest('hex')}`;
}
