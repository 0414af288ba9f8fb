// Prometheus metrics of the receiver. Registered on the caller's registry (the main job exposes one /metrics), or a
// private one; re-using an existing metric keeps two receivers in one process (tests, demo) from colliding. The
// `vendor` label is the route's vendor, as everywhere else in cdrflow's metrics.
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { OUTCOMES } from './types.ts';

/** The `outcome` of a group-commit send (cdrflow_receiver_kafka_send_seconds). */
export const KAFKA_SEND_OUTCOMES = ['acknowledged', 'failed'] as const;
export type KafkaSendOutcome = (typeof KAFKA_SEND_OUTCOMES)[number];
/** The `outcome` values named in a help text: the help is all docs/metrics.md says of a label. */
const outcomesText = (values: readonly string[]) => `outcome (${values.join(', ')})`;

export interface ReceiverMetrics {
  registry: Registry;
  requests: Counter<'vendor' | 'outcome' | 'code'>;
  recordsPublished: Counter<'vendor' | 'topic'>;
  duration: Histogram<'vendor' | 'outcome'>;
  /** One group-commit send, from handing it to the producer until Kafka acknowledged it (or refused it). */
  kafkaSend: Histogram<'topic' | 'outcome'>;
  inFlight: { inc(): void; dec(): void; value(): number };
}

function existing<T extends Metric>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

export function createReceiverMetrics(registry: Registry = new Registry()): ReceiverMetrics {
  const requests =
    existing<Counter<'vendor' | 'outcome' | 'code'>>(registry, 'cdrflow_receiver_requests_total') ??
    new Counter({
      name: 'cdrflow_receiver_requests_total',
      help: `Push requests answered, by vendor (the route; "none" for an unknown path or a request that could not be read: headers too slow or too large, broken framing, a connection closed unread over maxConnections, code "dropped", or one whose client read none of its answers for unreadAnswerTimeoutMs, code "unread_answers"), ${outcomesText(OUTCOMES)} and the result code or HTTP status the client was sent`,
      labelNames: ['vendor', 'outcome', 'code'] as const,
      registers: [registry],
    });
  const recordsPublished =
    existing<Counter<'vendor' | 'topic'>>(registry, 'cdrflow_receiver_records_published_total') ??
    new Counter({
      name: 'cdrflow_receiver_records_published_total',
      help: 'Records acknowledged by Kafka before the push was answered',
      labelNames: ['vendor', 'topic'] as const,
      registers: [registry],
    });
  /** A histogram of seconds over the buckets both latency metrics share (1 ms to 10 s). */
  const seconds = <L extends string>(name: string, help: string, labelNames: readonly L[]): Histogram<L> =>
    existing<Histogram<L>>(registry, name) ??
    new Histogram({ name, help, labelNames, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const duration = seconds('cdrflow_receiver_request_duration_seconds', `From request start to response end, including the Kafka acknowledgement, by vendor and ${outcomesText(OUTCOMES)}`, ['vendor', 'outcome']);
  // The Kafka part of a push's answer time: a slow ack with fast sends is the receiver's own queue or CPU, a slow
  // ack with slow sends is the broker (or the cores it shares).
  const kafkaSend = seconds(
    'cdrflow_receiver_kafka_send_seconds',
    `One send of the receiver's group commit (the pushes that queued during the previous one), from encoding it for the producer until every in-sync replica acknowledged it, by topic and ${outcomesText(KAFKA_SEND_OUTCOMES)}`,
    ['topic', 'outcome'],
  );
  let current = 0;
  return {
    registry,
    requests,
    recordsPublished,
    duration,
    kafkaSend,
    inFlight: { inc: () => void current++, dec: () => void current--, value: () => current },
  };
}
