// `cdrflow recording <cdr_id>` looking the fee record up in the raw topic (Kafka and the lookup stood in for here).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT_NO_RECORDING } from '../../core/exit-codes.ts';
import { commandFailure } from '../command.ts';

vi.mock('../kafka-access.ts', async (original) => ({
  ...(await original<typeof import('../kafka-access.ts')>()),
  oneShotKafka: async () => ({}),
}));
vi.mock('../../core/kafka.ts', async (original) => ({
  ...(await original<typeof import('../../core/kafka.ts')>()),
  topicExists: vi.fn(async () => true),
}));
vi.mock('../../connectors/huawei-privatenumber/raw-lookup.ts', async (original) => ({
  ...(await original<typeof import('../../connectors/huawei-privatenumber/raw-lookup.ts')>()),
  findRawEnvelope: async () => undefined,
}));
const { command } = await import('./recording.ts');
const { topicExists } = await import('../../core/kafka.ts');

const dir = mkdtempSync(join(tmpdir(), 'cdrflow-recording-lookup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('cdrflow recording without a raw record', () => {
  it('says so on one line, the cdr_id and the topic given escaped as the rest of its user text', async () => {
    vi.stubEnv('CDRFLOW_HUAWEI_APPS', JSON.stringify([{ appKey: 'app1', appSecret: 'secret1' }]));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    // A session id pasted with a terminal's escape sequences and a line break; a topic name with a bidi override.
    const cdrId = 'huawei-privatenumber:app1:s1\u001b]0;owned\u0007\u001b[2J\nforged: line';
    expect(await command.run([cdrId, '--topic', 'fees\u202e'])).toBe(EXIT_NO_RECORDING);
    const printed = err.mock.calls.map((c) => String(c[0]));
    expect(printed).toEqual(['no raw record for "huawei-privatenumber:app1:s1\\u001b]0;owned\\u0007\\u001b[2J\\nforged: line" in "fees\\u202e"']);
    // A plain cdr_id and topic read as they are.
    err.mockClear();
    expect(await command.run(['huawei-privatenumber:app1:s2', '--topic', 'fees'])).toBe(EXIT_NO_RECORDING);
    expect(err.mock.calls.map((c) => String(c[0]))).toEqual(['no raw record for huawei-privatenumber:app1:s2 in fees']);
  });

  it('refuses a configured fee topic Kafka cannot name, before any --topic is looked for, without printing it', async () => {
    const config = join(dir, 'hostile-topic.json');
    const fee = 'fees\nforged: line\u001b[2J';
    writeFileSync(config, JSON.stringify({ receiver: { huawei: { apps: [{ appKey: 'app1', appSecret: 'secret1' }], topics: { fee } } } }));
    vi.mocked(topicExists).mockClear();
    const err = await command.run(['huawei-privatenumber:app1:s1', '--config', config, '--topic', 'other']).catch((e: unknown) => e);
    const lines = commandFailure('recording', err, 'usage').text.split('\n\n')[0]!.split('\n');
    expect(lines.slice(1)).toEqual(['  - receiver.huawei.topics.fee: letters, digits, dot, underscore and dash only']);
    expect(topicExists).not.toHaveBeenCalled();
  });
});
