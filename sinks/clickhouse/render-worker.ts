// Entry of the sink's render thread (sinks/clickhouse/render.ts, started through bin/ts-worker.mjs): decodes and
// renders each batch it is sent, and hands the packed lines back without a copy. Writer schemas arrive with the
// batches, so the thread needs no registry client.
import { parentPort, workerData } from 'node:worker_threads';
import avro from 'avsc';
import { ReaderCodec, avroOptions, type SchemaRegistry } from '../../core/avro.ts';
import { CdrflowError, serializeError } from '../../core/errors.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import type { NormalizedCdr } from '../../transforms/normalize/cdr.ts';
import { fastPathFor, renderBatch, unpackRequest, type RenderReply, type RenderRequest, type RenderWorkerData } from './render.ts';

const data = workerData as RenderWorkerData;
const port = parentPort!;
const writers = new Map<number, avro.Type>();
/** Writer ids the registry refused for the current batch (RenderRequest.refused): their records are dead letters. */
let refused = new Map<number, string>();
const registry = {
  async getSchema(id: number) {
    const type = writers.get(id);
    if (type) return type;
    const why = refused.get(id);
    if (why !== undefined) throw new CdrflowError('bad_record', why);
    throw new CdrflowError('bug', `writer schema ${id} was not sent to the render thread`);
  },
} as unknown as SchemaRegistry;
const reader = new ReaderCodec<NormalizedCdr>(registry, SCHEMA_FILES.normalized);
const fast = fastPathFor(reader, data.format);

port.on('message', (request: RenderRequest) => {
  void (async () => {
    try {
      for (const id of request.forget) {
        writers.delete(id);
        reader.forget(id);
      }
      for (const [id, schema] of request.schemas) writers.set(id, avro.Type.forSchema(schema, avroOptions()));
      refused = new Map(request.refused);
      const batch = await renderBatch(reader, unpackRequest(request), data.format, fast);
      port.postMessage({ id: request.id, batch } satisfies RenderReply, [batch.buffer, batch.ends.buffer as ArrayBuffer, batch.receivedAt.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ id: request.id, failure: serializeError(err) } satisfies RenderReply);
    }
  })();
});
// Modules loaded and the plan compiled: the sink may join its group now (Renderer.ready).
port.postMessage({ ready: true } satisfies RenderReply);
