// Entry of a normalize worker thread (started by app/normalize-workers.ts through bin/ts-worker.mjs): its own logger
// (same level and target as the main thread), Kafka client and registry client, one normalize service with its own
// instance id, started when the main thread says; commit counts and the service's end go to the main thread, which
// asks it to stop.
import { parentPort, workerData } from 'node:worker_threads';
import { createRegistry } from '../core/avro.ts';
import { createKafka } from '../core/kafka.ts';
import { configureLogging } from '../core/log.ts';
import { startNormalizeService } from '../transforms/normalize/service/index.ts';
import { endpoints } from './config.ts';
import { serializeError } from '../core/errors.ts';
import { answerPings, type MainMessage, type NormalizeWorkerData, type WorkerMessage } from './normalize-workers.ts';

const data = workerData as NormalizeWorkerData;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const log = configureLogging(data.log).child('normalize');
const ends = endpoints(data.config);
const { workers: _workers, ...serviceConfig } = data.config.normalize;

// The main thread's words: `start` once, `stop` at any time. Once loaded, the service starts when the main thread says
// so (it starts the first member first, the others once that one runs); a stop that comes first ends the thread
// without ever joining the group, and one that comes during the start stops the service as soon as it runs.
const words = (type: MainMessage['type']) => new Promise<void>((resolve) => port.on('message', (m: MainMessage) => m.type === type && resolve()));
const startWord = words('start');
const stopWord = words('stop');
// The main thread's liveness check (normalize-workers.ts LIVENESS): a thread whose loop does not answer is terminated.
answerPings(port);
/** Ends the thread after the stop the main thread asked for. */
const exitStopped = (): never => {
  post({ type: 'stopped' });
  process.exit(0);
};
if ((await Promise.race([startWord.then(() => 'start'), stopWord.then(() => 'stop')])) === 'stop') exitStopped();

try {
  const kafka = createKafka(ends.kafka);
  const service = await startNormalizeService(
    { ...serviceConfig, instanceId: data.instanceId, createTopics: serviceConfig.createTopics && data.createTopics },
    { kafka, registry: createRegistry(ends.registryUrl), log, onCommitted: (counts) => post({ type: 'committed', counts }), onPrepared: () => post({ type: 'prepared' }) },
  );
  let stopping = false;
  void stopWord.then(() => {
    stopping = true;
    // Finishes the transaction in flight and leaves the group, then ends the thread (client timers may linger).
    void service
      .stop()
      .catch((err: unknown) => log('warn', 'normalize.worker_stop_failed', { error: String(err) }))
      .finally(() => {
        kafka.closeLog();
        exitStopped();
      });
  });
  // After an end or a failure the thread waits for the main thread's stop, which stops every member alike.
  service.done.then(
    () => {
      if (!stopping) post({ type: 'ended' });
    },
    (err: unknown) => {
      if (!stopping) post({ type: 'failed', error: serializeError(err) });
    },
  );
  post({ type: 'started', transactionalId: service.transactionalId });
} catch (err) {
  // Start-up failed: nothing to stop; the main thread reads the error and retries or gives up.
  post({ type: 'failed', error: serializeError(err) });
  process.exit(1);
}
