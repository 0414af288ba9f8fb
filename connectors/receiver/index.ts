// The one HTTP receiver for push vendors (Huawei PrivateNumber, Alibaba LVMS TOP): answers success only after Kafka
// acknowledged every record of the push; vendor-shaped errors otherwise. `startReceiver(config, deps)` → { url, stop }.
export { startReceiver, type ReceiverDeps, type RunningReceiver } from './receiver.ts';
export { ReceiverConfigSchema, type ReceiverConfig, type ReceiverConfigInput } from './config.ts';
export type { EnvelopeSink, Outcome, PushReply, Route } from './types.ts';
export { kafkaEnvelopeSink } from './kafka-sink.ts';
export { createReceiverMetrics, type ReceiverMetrics } from './metrics.ts';
