// Recording links for the receiver (option `huawei.recordingLinks`): resolves the links of one push's recorded fee
// records at once, under one hard deadline, into envelope attributes. Never throws: a link it cannot get in time is
// simply absent (the record keeps its own recordFileDownloadUrl), with the reason in `recording_link_error`.
//
// Why before the publish, bounded, and not after the ack: the envelope is the only thing we store, and the push is
// answered only after Kafka acknowledged it. Resolving first and publishing once keeps one envelope per record and
// the same ack rule, at a worst-case cost of `timeoutMs` extra push latency (kept short; Huawei's timeout is
// undocumented). The alternative — answer first, resolve in the background, publish a second envelope — needs a
// second write per record under the same key (every consumer and replay sees two versions, and which one the sink
// keeps depends on its version rule), and work that is lost without trace when the process stops in between.
import { resolveRecordingUrl } from './recording.ts';

/** Envelope attributes written here; transforms/normalize/vendors/huawei-privatenumber.ts reads the first two. */
export const RECORDING_URL_ATTRIBUTE = 'recording_download_url';
export const RECORDING_RESOLVED_AT_ATTRIBUTE = 'recording_resolved_at';
export const RECORDING_ERROR_ATTRIBUTE = 'recording_link_error';

export interface RecordingLinksOptions {
  baseUrl: string;
  appKey: string;
  appSecret: string;
  /** Deadline for the whole batch; requests still open then are aborted. */
  timeoutMs: number;
  now: () => number;
  fetchImpl?: typeof fetch;
}

function present(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '';
}

/** Worth asking the recording API: recorded (recordFlag ≠ 0) and both parts of the file reference are present. */
export function needsRecordingLink(fee: Record<string, unknown>): boolean {
  const flag = Number(fee['recordFlag'] ?? 0);
  return Number.isFinite(flag) && flag !== 0 && present(fee['recordDomain']) && present(fee['recordObjectName']);
}

/** One attribute set per record (same order), or undefined where nothing was asked. */
export async function resolveRecordingLinks(
  records: readonly Record<string, unknown>[],
  opts: RecordingLinksOptions,
): Promise<(Record<string, string> | undefined)[]> {
  const results: (Record<string, string> | undefined)[] = records.map(() => undefined);
  const wanted = records.flatMap((fee, index) => (needsRecordingLink(fee) ? [index] : []));
  if (wanted.length === 0) return results;

  const deadline = new AbortController();
  let closed = false;
  const baseFetch = opts.fetchImpl ?? fetch;
  const fetchImpl: typeof fetch = (input, init) =>
    baseFetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal });
  const settle = (index: number, attributes: Record<string, string>) => {
    // Late answers are ignored: the envelopes may already be on their way to Kafka.
    if (!closed) results[index] = attributes;
  };

  const tasks = wanted.map(async (index) => {
    try {
      // The batch deadline aborts open requests; the resolver's own timeout is only a backstop behind it.
      const link = await resolveRecordingUrl(records[index]!, {
        baseUrl: opts.baseUrl, appKey: opts.appKey, appSecret: opts.appSecret, timeoutMs: opts.timeoutMs + 1_000, now: opts.now, fetchImpl,
      });
      if (link.kind === 'url' && link.source === 'api') {
        settle(index, { [RECORDING_URL_ATTRIBUTE]: link.url, [RECORDING_RESOLVED_AT_ATTRIBUTE]: new Date(opts.now()).toISOString() });
      } else {
        settle(index, { [RECORDING_ERROR_ATTRIBUTE]: link.kind === 'url' ? (link.note ?? 'recording API gave no link') : link.reason });
      }
    } catch (err) {
      settle(index, { [RECORDING_ERROR_ATTRIBUTE]: err instanceof Error ? err.message : String(err) });
    }
  });

  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, opts.timeoutMs);
  });
  await Promise.race([Promise.all(tasks), expired]);
  clearTimeout(timer);
  closed = true;
  deadline.abort();
  for (const index of wanted) {
    results[index] ??= { [RECORDING_ERROR_ATTRIBUTE]: `recording API did not answer within ${opts.timeoutMs} ms` };
  }
  return results;
}
