// The dead-letter contract (schemas/dead-letter.avsc) as TypeScript, and the classification of schema-registry
// errors shared by every stage that decodes Avro: bad framing/bytes are the record's fault (dead-letter), an
// unknown schema id or an unreachable/forbidden registry is systemic (stop or retry).
import { CdrflowError, type ErrorKind } from './errors.ts';
import type { ConsumedMessage } from './kafka-streams.ts';

export interface DeadLetter {
  original_value: Buffer | null;
  original_key: Buffer | null;
  origin_topic: string;
  origin_partition: number;
  origin_offset: number;
  error_kind: ErrorKind;
  error_message: string;
  component: string;
  vendor: string | null;
  cdr_id: string | null;
  failed_at: Date;
}

export function deadLetterFor(
  message: ConsumedMessage,
  error: { kind: ErrorKind; message: string },
  component: string,
  extra: { vendor?: string | null; cdr_id?: string | null; original_value?: Buffer | null; failed_at?: Date } = {},
): DeadLetter {
  return {
    original_value: extra.original_value === undefined ? message.value : extra.original_value,
    original_key: message.key,
    origin_topic: message.topic,
    origin_partition: message.partition,
    origin_offset: message.offset,
    error_kind: error.kind,
    error_message: error.message,
    component,
    vendor: extra.vendor ?? null,
    cdr_id: extra.cdr_id ?? null,
    failed_at: extra.failed_at ?? new Date(),
  };
}

export function classifyRegistryError(err: unknown, what: string): CdrflowError {
  if (err instanceof CdrflowError) return err;
  const e = err as { name?: string; status?: number; message?: string; code?: string };
  const message = `${what}: ${e?.message ?? String(err)}`;
  if (e?.name === 'ConfluentSchemaRegistryArgumentError') return new CdrflowError('bad_record', message, { cause: err });
  if (typeof e?.status === 'number') {
    if (e.status === 401 || e.status === 403) return new CdrflowError('auth', message, { cause: err });
    if (e.status === 404) return new CdrflowError('schema', message, { cause: err });
    if (e.status === 429) return new CdrflowError('rate_limited', message, { cause: err });
    if (e.status >= 500) return new CdrflowError('transient', message, { cause: err });
    return new CdrflowError('schema', message, { cause: err });
  }
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|network|fetch failed|EAI_AGAIN/i.test(`${e?.code ?? ''} ${e?.message ?? ''}`)) {
    return new CdrflowError('transient', message, { cause: err });
  }
  // avsc reading bytes that do not match the writer schema: the payload is corrupt.
  if (/truncated|invalid|trailing|out of range|buffer/i.test(e?.message ?? '')) return new CdrflowError('bad_record', message, { cause: err });
  return new CdrflowError('bug', message, { cause: err });
}
