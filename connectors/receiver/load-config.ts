// Receiver configuration from a file (JSON or YAML) plus the environment, validated with zod; every problem is
// reported with its path. Secrets can stay out of the file:
//   CDRFLOW_HUAWEI_APPS='[{"appKey":"...","appSecret":"...","mode":"AXB"}]'
//   CDRFLOW_LVMS_APPS='[{"appKey":"...","appSecret":"..."}]'
//   CDRFLOW_RECEIVER_HOST / CDRFLOW_RECEIVER_PORT
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CdrflowError } from '../../core/errors.ts';
import { formatZodIssues } from '../../core/zod-issues.ts';
import { ReceiverConfigSchema, type ReceiverConfig } from './config.ts';


function jsonEnv(env: NodeJS.ProcessEnv, name: string): unknown {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new CdrflowError('config', `${name} is not valid JSON: ${(err as Error).message}`);
  }
}

export function loadReceiverConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): ReceiverConfig {
  let raw: Record<string, unknown> = {};
  if (file) {
    const text = readFileSync(file, 'utf8');
    const doc = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
    if (typeof doc !== 'object' || doc === null) throw new CdrflowError('config', `${file} must hold an object`);
    raw = doc as Record<string, unknown>;
  }
  const huaweiApps = jsonEnv(env, 'CDRFLOW_HUAWEI_APPS');
  if (huaweiApps !== undefined) raw['huawei'] = { ...(raw['huawei'] as object | undefined), apps: huaweiApps };
  const lvmsApps = jsonEnv(env, 'CDRFLOW_LVMS_APPS');
  if (lvmsApps !== undefined) raw['lvms'] = { ...(raw['lvms'] as object | undefined), apps: lvmsApps };
  if (env['CDRFLOW_RECEIVER_HOST']) raw['host'] = env['CDRFLOW_RECEIVER_HOST'];
  if (env['CDRFLOW_RECEIVER_PORT']) raw['port'] = Number(env['CDRFLOW_RECEIVER_PORT']);
  Object.assign(raw, overrides);
  const result = ReceiverConfigSchema.safeParse(raw);
  if (!result.success) throw new CdrflowError('config', `invalid receiver configuration${file ? ` (${file})` : ''}:\n${formatZodIssues(result.error, '  ')}`);
  return result.data;
}
