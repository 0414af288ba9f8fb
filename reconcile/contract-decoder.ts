// How reconcile and its repair read the pipeline's topics: every value read as the contract (the schema this
// version of cdrflow was built for), through the stages' own ReaderCodec, so a record there is what the stages see.
// A value that is no record of the contract (garbage, another subject's writer, a writer that cannot be built or
// read as the contract) is skipped and counted by the caller, as the stages dead-letter it; the registry away or
// refusing us fails the run (exit 3, no verdict) instead of reading as records missing.
import { ReaderCodec, type SchemaRegistry } from '../core/avro.ts';
import { RETRY, retry, type BackoffOptions } from '../core/backoff.ts';
import { classifyDecodeError } from '../core/dead-letter.ts';

/** A decoder of one topic's values: the record, or undefined for a value that is no record of the contract. */
export function contractDecoder<T>(
  registry: SchemaRegistry,
  schemaFile: string,
  topic: string,
  backoff: Partial<BackoffOptions> = RETRY.registry,
): (value: Buffer) => Promise<T | undefined> {
  const codec = new ReaderCodec<T>(registry, schemaFile);
  return async (value) => {
    try {
      const ready = codec.decodeReady(value);
      if (ready !== undefined) return ready;
      // The registry's hiccups are waited out as the stages wait them out; past that, the run fails.
      return await retry(async () => {
        try {
          return await codec.decode(value);
        } catch (err) {
          throw classifyDecodeError(err, `reading ${topic}`);
        }
      }, backoff);
    } catch (err) {
      const e = classifyDecodeError(err, `reading ${topic}`);
      if (e.kind === 'bad_record') return undefined;
      throw e;
    }
  };
}
