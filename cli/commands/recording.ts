// `cdrflow recording <cdr_id>`: the download link of a Huawei PrivateNumber call recording. Finds the raw fee record
// (cdr_id = huawei-privatenumber:<appKey>:<sessionId>) in the raw topic, or takes it from --record, then asks
// Huawei's recording API (301 Location) or falls back to recordFileDownloadUrl.
import { readFileSync } from 'node:fs';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { resolveRecordingUrl } from '../../connectors/huawei-privatenumber/recording.ts';
import { findRawEnvelope } from '../../connectors/huawei-privatenumber/raw-lookup.ts';
import { HuaweiAppSchema } from '../../connectors/huawei-privatenumber/config.ts';
import { createKafka, kafkaSettingsFromEnv } from '../../core/kafka.ts';
import { createRegistry } from '../../core/avro.ts';
import { TOPICS } from '../../core/topology.ts';
import { z } from 'zod';

const usage = `Usage: cdrflow recording <cdr_id> [--record fee.json] [--topic T] [--base-url URL] [--json]

  cdr_id        huawei-privatenumber:<appKey>:<sessionId> (the cdr_id column of the cdr table)
  --record F    read the fee record from file F ("-" = stdin) instead of the raw topic
  --topic T     raw topic to search (default ${TOPICS.raw('huawei-privatenumber')})
  --base-url U  Huawei APP access address (default: HUAWEI_BASE_URL or https://rtcpns.cn-north-1.myhuaweicloud.com)
  --json        print {"kind","url","source",...} instead of the bare URL

Credentials: CDRFLOW_HUAWEI_APPS='[{"appKey":"...","appSecret":"..."}]'. Recordings are kept 7 days from the push.
Exit status: 0 link printed, 3 no recording (not recorded / expired), 1 error.`;

export function parseCdrId(cdrId: string): { tenant: string; sessionId: string } {
  const prefix = 'huawei-privatenumber:';
  if (!cdrId.startsWith(prefix)) throw new UsageError(`cdr_id must start with ${prefix} (only Huawei recordings are resolved)`);
  const rest = cdrId.slice(prefix.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) throw new UsageError('cdr_id must be huawei-privatenumber:<appKey>:<sessionId>');
  return { tenant: rest.slice(0, colon), sessionId: rest.slice(colon + 1) };
}

export const command: Command = {
  name: 'recording',
  summary: 'print the download link of a Huawei PrivateNumber call recording',
  usage,
  async run(args) {
    const { values, positionals } = parseFlags(args, { record: { type: 'string' }, topic: { type: 'string' }, 'base-url': { type: 'string' }, json: { type: 'boolean' } }, { maxPositionals: 1 });
    const cdrId = positionals[0];
    const recordFile = values.record;
    const topic = values.topic ?? TOPICS.raw('huawei-privatenumber');
    const baseUrl = values['base-url'] ?? (process.env['HUAWEI_BASE_URL'] || 'https://rtcpns.cn-north-1.myhuaweicloud.com');
    const json = values.json ?? false;
    if (cdrId === undefined) throw new UsageError('missing cdr_id');
    const { tenant, sessionId } = parseCdrId(cdrId);
    const apps = z.array(HuaweiAppSchema).safeParse(JSON.parse(process.env['CDRFLOW_HUAWEI_APPS'] || '[]'));
    if (!apps.success) throw new Error('CDRFLOW_HUAWEI_APPS must be a JSON array of {appKey, appSecret}');
    const app = apps.data.find((a) => a.appKey === tenant);
    if (!app) throw new Error(`no credentials for appKey ${tenant} in CDRFLOW_HUAWEI_APPS`);

    let record: Record<string, unknown>;
    if (recordFile !== undefined) {
      record = JSON.parse(readFileSync(recordFile === '-' ? 0 : recordFile, 'utf8')) as Record<string, unknown>;
    } else {
      const kafka = createKafka(kafkaSettingsFromEnv('cdrflow-recording'));
      const envelope = await findRawEnvelope(kafka, createRegistry(), topic, tenant, sessionId);
      if (!envelope) {
        console.error(`no raw record for ${cdrId} in ${topic}`);
        return 3;
      }
      record = JSON.parse(envelope.payload) as Record<string, unknown>;
    }
    const link = await resolveRecordingUrl(record, { baseUrl, appKey: app.appKey, appSecret: app.appSecret });
    if (json) console.log(JSON.stringify(link));
    else if (link.kind === 'url') console.log(link.url);
    else console.error(`no recording: ${link.reason}`);
    if (link.kind === 'url' && link.note && !json) console.error(`note: ${link.note}`);
    return link.kind === 'url' ? 0 : 3;
  },
};
