import { describe, expect, it } from 'vitest';
import { defaultCheckpointTopic, loadAppConfig } from '../../app/config.ts';
import { checkpointTopicProblem, checkTargetTopic, configuredRawTopic, defaultRawTopic, targetTopicProblem } from './target-topic.ts';

const plain = loadAppConfig({ env: {} });
const HW = 'huawei-privatenumber';
const existing = (...topics: string[]) => async (t: string) => topics.includes(t);

describe('--topic of import / backfill (checkTargetTopic)', () => {
  it('the configured raw topic needs no check: it is created when missing, as before', async () => {
    let asked = 0;
    expect(await checkTargetTopic(plain, HW, 'cdr.raw.huawei-privatenumber', defaultRawTopic(plain, HW), async () => (asked++, false))).toEqual({ ok: true });
    expect(asked).toBe(0);
  });

  it('a topic that does not exist is refused, naming it and the raw topic the pipeline reads (it was created, exit 0)', async () => {
    expect(await checkTargetTopic(plain, HW, 'cdr.raw.huawei', 'cdr.raw.huawei-privatenumber', existing())).toEqual({
      ok: false,
      problem: '--topic "cdr.raw.huawei" does not exist; the pipeline reads cdr.raw.huawei-privatenumber for huawei-privatenumber (leave --topic out to publish there)',
    });
  });

  it('an existing topic the stages do not read is allowed, with a note; one they read needs none', async () => {
    expect(await checkTargetTopic(plain, HW, 'scratch.hw', 'cdr.raw.huawei-privatenumber', existing('scratch.hw'))).toEqual({
      ok: true,
      note: 'note: the stages read cdr.raw.huawei-privatenumber for huawei-privatenumber; records published to "scratch.hw" reach ClickHouse only if something reads that topic',
    });
    const reads = loadAppConfig({ env: {}, overrides: (doc) => void (doc['normalize'] = { inputTopics: ['cdr.raw.huawei-privatenumber', 'hw.extra'] }) });
    expect(await checkTargetTopic(reads, HW, 'hw.extra', 'cdr.raw.huawei-privatenumber', existing('hw.extra'))).toEqual({ ok: true });
  });

  it("another vendor's raw topic is refused even though it exists: reconcile would look for the records under that vendor", async () => {
    for (const topic of ['cdr.raw.alibaba-lvms', 'cdr.raw.tencent-ccc', 'other-pipeline.cdr.raw.tencent-trtc']) {
      const verdict = await checkTargetTopic(plain, HW, topic, 'cdr.raw.huawei-privatenumber', existing(topic));
      expect(verdict).toMatchObject({ ok: false, problem: expect.stringMatching(new RegExp(`^--topic "${topic.replace(/\./g, '\\.')}" is (the|named as a) raw topic of [a-z-]+: huawei-privatenumber records there would be normalized, but reconcile would not find them under huawei-privatenumber; the pipeline reads cdr\\.raw\\.huawei-privatenumber for huawei-privatenumber \\(leave --topic out to publish there\\)$`)) });
    }
    // As configured: a namespace, the receiver's own LVMS topic.
    const ns = loadAppConfig({ env: {}, overrides: (doc) => void Object.assign(doc, { namespace: 'acme', receiver: { lvms: { apps: [{ appKey: 'k', appSecret: 's' }], topic: 'lvms-in' } } }) });
    expect(defaultRawTopic(ns, HW)).toBe('acme.cdr.raw.huawei-privatenumber');
    expect(targetTopicProblem(ns, HW, 'lvms-in', 'acme.cdr.raw.huawei-privatenumber')).toMatch(/^--topic "lvms-in" is the raw topic of alibaba-lvms: .*the pipeline reads acme\.cdr\.raw\.huawei-privatenumber for huawei-privatenumber/);
    expect(targetTopicProblem(ns, 'alibaba-lvms', 'lvms-in', 'acme.cdr.raw.alibaba-lvms')).toBeNull();
    expect(targetTopicProblem(ns, 'tencent-ccc', 'acme.cdr.raw.huawei-privatenumber', 'acme.cdr.raw.tencent-ccc')).toMatch(/is the raw topic of huawei-privatenumber/);
  });

  it('a pipeline topic that holds no raw records is refused', () => {
    expect(targetTopicProblem(plain, HW, 'cdr.normalized', 'cdr.raw.huawei-privatenumber')).toBe(
      '--topic "cdr.normalized" is the pipeline\'s normalized topic, not a raw topic; the pipeline reads cdr.raw.huawei-privatenumber for huawei-privatenumber (leave --topic out to publish there)',
    );
    expect(targetTopicProblem(plain, HW, 'cdr.dlq', 'cdr.raw.huawei-privatenumber')).toMatch(/dead-letter topic/);
    expect(targetTopicProblem(plain, 'tencent-ccc', 'cdrflow.checkpoints', 'cdr.raw.tencent-ccc')).toMatch(/checkpoint topic/);
    expect(targetTopicProblem(plain, HW, 'cdr.events.huawei-privatenumber', 'cdr.raw.huawei-privatenumber')).toMatch(/Huawei call-event topic/);
  });

  it('a name with control characters is quoted, never printed raw', async () => {
    const verdict = await checkTargetTopic(plain, HW, 'a\x1b[31mb', 'cdr.raw.huawei-privatenumber', existing());
    expect(verdict).toMatchObject({ ok: false, problem: expect.stringContaining('--topic "a\\u001b[31mb" does not exist') });
  });
});

describe('--checkpoint-topic of backfill / poll (checkpointTopicProblem)', () => {
  it('refuses a topic of the pipeline that holds something else: its records would be read as checkpoints', () => {
    const configured = defaultCheckpointTopic(plain);
    expect(configured).toBe('cdrflow.checkpoints');
    for (const [topic, role] of [['cdr.raw.tencent-trtc', 'raw tencent-trtc'], ['cdr.normalized', 'normalized'], ['cdr.dlq', 'dead-letter'], ['cdr.events.huawei-privatenumber', 'Huawei call-event'], ['x.raw.alibaba-lvms', 'raw alibaba-lvms']] as const) {
      expect(checkpointTopicProblem(plain, topic, configured)).toBe(
        `--checkpoint-topic "${topic}" is the pipeline's ${role} topic, not a checkpoint topic: the connector would read its records as checkpoints and write its checkpoints among them; the configured checkpoint topic is cdrflow.checkpoints (leave --checkpoint-topic out to use it)`,
      );
    }
  });

  it('leaves the configured one, another checkpoint topic and other names to the existence check', () => {
    const ns = loadAppConfig({ env: {}, overrides: (doc) => void (doc['namespace'] = 'acme') });
    expect(defaultCheckpointTopic(ns)).toBe('acme.cdrflow.checkpoints');
    expect(checkpointTopicProblem(ns, 'acme.cdrflow.checkpoints', 'acme.cdrflow.checkpoints')).toBeNull();
    expect(checkpointTopicProblem(ns, 'cdrflow.checkpoints.old', 'acme.cdrflow.checkpoints')).toBeNull();
    expect(checkpointTopicProblem(plain, 'cdrflow.checkpoints', 'team.checkpoints')).toBeNull();
  });
});

describe('configuredRawTopic (where import publishes without --topic)', () => {
  it("is the receiver's own topic when the config names one, else the default", () => {
    expect(configuredRawTopic(plain, HW)).toBe('cdr.raw.huawei-privatenumber');
    const own = loadAppConfig({ env: {}, overrides: (doc) => void Object.assign(doc, { namespace: 'acme', receiver: { lvms: { apps: [{ appKey: 'k', appSecret: 's' }], topic: 'lvms-in' }, huawei: { apps: [{ appKey: 'k', appSecret: 's' }] } } }) });
    expect(configuredRawTopic(own, 'alibaba-lvms')).toBe('lvms-in');
    expect(configuredRawTopic(own, HW)).toBe('acme.cdr.raw.huawei-privatenumber');
  });
});
