// The HTTP receiver framework for push vendors: answers success only after Kafka acknowledged every record of the
// push; vendor-shaped errors otherwise. `startReceiverServer(config, routes, deps)` → { url, stop }; the vendors'
// routes are plugged in by connectors/push-vendors.ts (`startReceiver`).
export { startReceiverServer, type ReceiverDeps, type RunningReceiver } from './receiver.ts';
export { ReceiverServerConfigSchema, type ReceiverServerConfig } from './config.ts';
export type { EnvelopeSink, Outcome, PushReply, Route } from './types.ts';
export { kafkaEnvelopeSink } from './kafka-sink.ts';
export { createReceiverMetrics, type ReceiverMetrics } from './metrics.ts';
