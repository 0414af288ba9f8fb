// Prometheus metrics of the receiver. Registered on the caller's registry (the main job exposes one /metrics), or a
// private one; re-using an existing metric keeps two receivers in one process (tests, demo) from colliding.
import { Counter, Histogram, Registry, type Metric } from 'prom-client';

export interface ReceiverMetrics {
  registry: Registry;
  requests: Counter<'route' | 'outcome' | 'code'>;
  recordsPublished: Counter<'route' | 'topic'>;
  duration: Histogram<'route' | 'outcome'>;
  inFlight: { inc(): void; dec(): void; value(): number };
}

function existing<T extends Metric>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

export function createReceiverMetrics(registry: Registry = new Registry()): ReceiverMetrics {
  const requests =
    existing<Counter<'route' | 'outcome' | 'code'>>(registry, 'cdrflow_receiver_requests_total') ??
    new Counter({
      name: 'cdrflow_receiver_requests_total',
      help: 'Push requests answered, by route, outcome and vendor result code',
      labelNames: ['route', 'outcome', 'code'] as const,
      registers: [registry],
    });
  const recordsPublished =
    existing<Counter<'route' | 'topic'>>(registry, 'cdrflow_receiver_records_published_total') ??
    new Counter({
      name: 'cdrflow_receiver_records_published_total',
      help: 'Records acknowledged by Kafka before the push was answered',
      labelNames: ['route', 'topic'] as const,
      registers: [registry],
    });
  const duration =
    existing<Histogram<'route' | 'outcome'>>(registry, 'cdrflow_receiver_request_duration_seconds') ??
    new Histogram({
      name: 'cdrflow_receiver_request_duration_seconds',
      help: 'From request start to response end, including the Kafka acknowledgement',
      labelNames: ['route', 'outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  let current = 0;
  return {
    registry,
    requests,
    recordsPublished,
    duration,
    inFlight: { inc: () => void current++, dec: () => void current--, value: () => current },
  };
}
