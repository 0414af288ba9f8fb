// `cdrflow recording <cdr_id>`: the download link of a Huawei PrivateNumber call recording. Finds the raw fee record
// (cdr_id = huawei-privatenumber:<appKey>:<sessionId>) in the raw topic, or takes it from --record, then asks
// Huawei's recording API (301 Location) or falls back to recordFileDownloadUrl.
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { EXIT_CONFIG, EXIT_NO_RECORDING } from '../../core/exit-codes.ts';
import { httpUrl, parseFlags } from '../args.ts';
import { readUserJsonFile } from '../../app/config.ts';
import { printable, quote, terminalJson, terminalReason } from '../../core/input-limits.ts';
import { resolveRecordingUrl } from '../../connectors/huawei-privatenumber/recording.ts';
import { findRawEnvelope } from '../../connectors/huawei-privatenumber/raw-lookup.ts';
import { oneShotKafka, rethrowUnreachable } from '../kafka-access.ts';
import { createRegistry } from '../../core/avro.ts';
import { topicExists } from '../../core/kafka.ts';
import { TOPICS } from '../../core/topology.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig, setIn } from '../app-config.ts';

const usage = `Usage: cdrflow recording <cdr_id> [--config FILE] [--record fee.json] [--topic T] [--base-url URL] [--json]

  cdr_id        huawei-privatenumber:<appKey>:<sessionId> (the cdr_id column of the cdr table)
  --record F    read the fee record from file F ("-" = stdin) instead of the raw topic
  --config F    the pipeline's YAML or JSON: the Huawei apps, fee topic and recording API of its receiver section
  --topic T     raw topic to search (default: the receiver's fee topic, ${TOPICS.raw('huawei-privatenumber')})
  --base-url U  Huawei APP access address (default: receiver.huawei.recordingLinks.baseUrl, HUAWEI_BASE_URL or
                https://rtcpns.cn-north-1.myhuaweicloud.com)
  --json        print {"kind","url","source",...} instead of the bare URL

Only Huawei recordings need this: their CDR holds a reference the recording API turns into a short-lived link. The
other vendors' CDRs carry their link in the cdr table's recording_url column:
  cdrflow sql "SELECT recording_url FROM cdr FINAL WHERE cdr_id = '<cdr_id>'"

Credentials: receiver.huawei.apps or CDRFLOW_HUAWEI_APPS='[{"appKey":"...","appSecret":"..."}]'. Recordings are kept 7 days from the push.
Exit status: 0 link printed, ${EXIT_NO_RECORDING} no recording (not recorded / expired / no raw record), 64 usage, 69 Kafka not reachable, 78 config, 1 error.`;

export function parseCdrId(cdrId: string): { tenant: string; sessionId: string } {
  const prefix = 'huawei-privatenumber:';
  if (!cdrId.startsWith(prefix)) {
    throw new UsageError(
      `cdr_id ${quote(cdrId, 80)} is not a Huawei PrivateNumber CDR (${prefix}…); the other vendors' CDRs carry their recording link in the cdr table's recording_url column: cdrflow sql "SELECT recording_url FROM cdr FINAL WHERE cdr_id = '…'"`,
    );
  }
  const rest = cdrId.slice(prefix.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) throw new UsageError('cdr_id must be huawei-privatenumber:<appKey>:<sessionId>');
  return { tenant: rest.slice(0, colon), sessionId: rest.slice(colon + 1) };
}

/** The fee record of `--record` (a file, or "-" for stdin): one JSON object of at most 1 MiB, else a usage error naming the file. */
function readFeeRecord(file: string): Record<string, unknown> {
  try {
    return readUserJsonFile(file === '-' ? '/dev/stdin' : file);
  } catch (err) {
    // A file's problem may name what it holds: a bidi override or a zero-width character there must not reach the
    // terminal raw (boundReason escapes C0 controls only).
    throw new UsageError(`--record ${printable(file)}: ${terminalReason((err as Error).message)}`);
  }
}

export const command: Command = {
  name: 'recording',
  summary: 'print the download link of a Huawei PrivateNumber call recording',
  usage,
  async run(args) {
    const { values, positionals } = parseFlags(
      args,
      { config: { type: 'string' }, record: { type: 'string' }, topic: { type: 'string', needs: 'a topic name' }, 'base-url': { type: 'string' }, json: { type: 'boolean' } },
      { maxPositionals: 1 },
    );
    const cdrId = positionals[0];
    const recordFile = values.record;
    const json = values.json ?? false;
    if (cdrId === undefined || cdrId === '') throw new UsageError('missing cdr_id');
    const { tenant, sessionId } = parseCdrId(cdrId);
    // Flags are the command line's: a bad one is a usage error (exit 64), not an invalid configuration (78).
    const baseUrlFlag = values['base-url'] === undefined ? undefined : httpUrl('--base-url', values['base-url'], "the recording API's base URL (https://host)");
    const config = loadCommandConfig({
      file: values.config,
      overrides: (doc) => baseUrlFlag !== undefined && setIn(doc, ['receiver', 'huawei', 'recordingLinks', 'baseUrl'], baseUrlFlag),
    });
    const huawei = config.receiver?.huawei;
    // What the configuration lacks is the configuration's (exit 78, as the help says), not the command line's.
    if (!huawei) throw new ExitError(EXIT_CONFIG, 'no Huawei apps: give --config with receiver.huawei.apps, or CDRFLOW_HUAWEI_APPS');
    const app = huawei.apps.find((a) => a.appKey === tenant);
    if (!app) throw new ExitError(EXIT_CONFIG, `no credentials for appKey ${quote(tenant, 80)} in the Huawei apps (receiver.huawei.apps / CDRFLOW_HUAWEI_APPS)`);
    const topic = values.topic ?? huawei.topics.fee;
    const baseUrl = huawei.recordingLinks.baseUrl;

    let record: Record<string, unknown>;
    if (recordFile !== undefined) {
      record = readFeeRecord(recordFile);
    } else {
      const ends = endpoints(config);
      const kafka = await oneShotKafka(config, 'cdrflow-recording');
      if (!(await topicExists(kafka, topic).catch((err: unknown) => rethrowUnreachable(err, config)))) {
        throw new UsageError(`--topic ${quote(topic)} does not exist (the Huawei fee records are in ${printable(huawei.topics.fee)})`);
      }
      const envelope = await findRawEnvelope(kafka, createRegistry(ends.registryUrl), topic, tenant, sessionId).catch((err: unknown) => rethrowUnreachable(err, config));
      if (!envelope) {
        // The user's own cdr_id and --topic, as pasted: an escape sequence or a line break in them is shown, not acted on.
        console.error(`no raw record for ${printable(cdrId)} in ${printable(topic)}`);
        return EXIT_NO_RECORDING;
      }
      record = JSON.parse(envelope.payload) as Record<string, unknown>;
    }
    const link = await resolveRecordingUrl(record, { baseUrl, appKey: app.appKey, appSecret: app.appSecret });
    if (json) console.log(terminalJson(link));
    // A link is printed bare: the resolver hands on only one the terminal (or the script that opens it) can take as it
    // is (usableDownloadUrl), the fee record's own included; any other is in the reason, quoted.
    else if (link.kind === 'url') console.log(link.url);
    else console.error(`no recording: ${link.reason}`);
    if (link.kind === 'url' && link.note && !json) console.error(`note: ${link.note}`);
    return link.kind === 'url' ? 0 : EXIT_NO_RECORDING;
  },
};
