import { describe, expect, it } from 'vitest';
import { ALL_RAW_TOPICS, CONSUMER_GROUPS, TOPICS } from '../../../core/topology.ts';
import { parseNormalizeServiceConfig, transactionalIdOf } from './config.ts';

describe('normalize service config', () => {
  it('defaults to the topology and a transactional.id per instance', () => {
    const c = parseNormalizeServiceConfig({ instanceId: 'n-1' });
    expect(c.inputTopics).toEqual([...ALL_RAW_TOPICS]);
    expect(c.outputTopic).toBe(TOPICS.normalized);
    expect(c.deadLetterTopic).toBe(TOPICS.deadLetter);
    expect(transactionalIdOf(c)).toBe(`${CONSUMER_GROUPS.normalize}.n-1`);
    expect(c.mapping.billing.defaultRule).toBe('60/60');
  });

  it('refuses unknown keys and bad values with their paths', () => {
    expect(() => parseNormalizeServiceConfig({ outputTopik: 'x' })).toThrow(/outputTopik/);
    expect(() => parseNormalizeServiceConfig({ mapping: { billing: { defaultRule: '7/7' } } })).toThrow(/billing/);
    expect(() => parseNormalizeServiceConfig({ instanceId: 'a b' })).toThrow(/instanceId/);
  });
});
