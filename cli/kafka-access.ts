// How the one-shot commands that use Kafka (status, tail, dlq, replay, backfill, import, poll --once, recording), and
// `receive` at its start, reach it: a short, silent check that a broker
// answers before any read, so a Kafka that is not running costs a second and one line with what to do (exit 69,
// EX_UNAVAILABLE, like the CLI's other sysexits codes: 64 usage, 78 config), not the client's retries and warnings.
import { endpoints, type AppConfig } from '../app/config.ts';
import type { KafkaClient, KafkaSettings, KafkaUnreachableError } from '../core/kafka.ts';
import { EXIT_UNAVAILABLE } from '../core/exit-codes.ts';
import { ExitError, atCommandEnd } from './command.ts';

/** What to do about it: the local stack is cdrflow's to start; a configured cluster is the user's to check. */
export function kafkaHint(config: AppConfig): string {
  const ends = endpoints(config);
  if (ends.local.kafka) return 'start the job with `npx cdrflow start`, or only the local servers with `npx cdrflow infra up`';
  return 'check that the cluster named by KAFKA_BROKERS (kafka.brokers in the config) is running and reachable from here';
}

/** The command's one line for an unreachable Kafka, as the error that ends it with exit 69. */
export function kafkaUnavailableExit(err: KafkaUnreachableError, config: AppConfig): ExitError {
  return new ExitError(EXIT_UNAVAILABLE, `${err.message}: ${kafkaHint(config)}`);
}

/**
 * A Kafka client for a one-shot command, once a broker answered (ensureKafkaReachable, bounded); an ExitError(69)
 * naming the address and what to do when none did. Its connection chatter is debug (createKafka's `oneShot`).
 */
export async function oneShotKafka(config: AppConfig, clientId?: string): Promise<KafkaClient> {
  await checkKafkaReachable(config);
  return commandKafka({ ...endpoints(config).kafka, ...(clientId ? { clientId } : {}) }, { oneShot: true });
}

/**
 * A Kafka client (createKafka) that lives as long as the command: its last second of limited warnings is summed up
 * when the command ends (atCommandEnd), returned or thrown, as the process exits right after and the limiter's timer
 * would not run. The one way a command gets a client, but for start, which closes its own with the job's resources.
 */
export async function commandKafka(settings: KafkaSettings, options: { oneShot?: boolean } = {}): Promise<KafkaClient> {
  const { createKafka } = await import('../core/kafka.ts');
  const kafka = createKafka(settings, undefined, options);
  atCommandEnd(() => kafka.closeLog());
  return kafka;
}

/**
 * The same check for a command that then runs as a service (`receive`): without it, a Kafka that is not running
 * ended it after ~12 s of the client's retries with "Connection error", exit 1.
 */
export async function checkKafkaReachable(config: AppConfig): Promise<void> {
  const { ensureKafkaReachable, KafkaUnreachableError } = await import('../core/kafka.ts');
  try {
    await ensureKafkaReachable(endpoints(config).kafka);
  } catch (err) {
    if (err instanceof KafkaUnreachableError) throw kafkaUnavailableExit(err, config);
    throw err;
  }
}

/** For a read that failed after the check: a Kafka that went away meanwhile ends the command the same way. */
export async function rethrowUnreachable(err: unknown, config: AppConfig): Promise<never> {
  const { kafkaUnreachable } = await import('../core/kafka.ts');
  const unreachable = kafkaUnreachable(err, endpoints(config).kafka.brokers);
  throw unreachable ? kafkaUnavailableExit(unreachable, config) : err;
}
