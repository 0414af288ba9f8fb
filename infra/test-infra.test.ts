// How the integration tests pick their servers (README, "Tests"; test/global-setup.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseTestInfraMode } from './test-infra.ts';
import { testPortBase } from '../test/port-base.ts';

const SERVERS = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081', CLICKHOUSE_URL: 'http://127.0.0.1:8123' };

describe('the servers the integration tests run against', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('TEST_INFRA forces a mode, whatever else is set and without asking for a container runtime', async () => {
    const runtime = vi.fn(async () => true);
    for (const mode of ['external', 'containers', 'local'] as const) {
      expect(await chooseTestInfraMode({ ...SERVERS, TEST_INFRA: mode }, runtime)).toBe(mode);
      expect(await chooseTestInfraMode({ TEST_INFRA: mode }, runtime)).toBe(mode);
    }
    expect(runtime).not.toHaveBeenCalled();
    await expect(chooseTestInfraMode({ TEST_INFRA: 'docker' }, runtime)).rejects.toThrow('TEST_INFRA must be external, containers or local; got "docker"');
  });

  it('external when all three server variables are set, else containers when a runtime answers, else local', async () => {
    const runtime = vi.fn(async () => true);
    expect(await chooseTestInfraMode({ ...SERVERS }, runtime)).toBe('external');
    expect(runtime).not.toHaveBeenCalled();
    for (const name of Object.keys(SERVERS)) {
      for (const missing of [undefined, '']) {
        const env = { ...SERVERS, [name]: missing };
        expect(await chooseTestInfraMode(env, async () => true), `${name} ${JSON.stringify(missing)}`).toBe('containers');
        expect(await chooseTestInfraMode(env, async () => false), `${name} ${JSON.stringify(missing)}`).toBe('local');
      }
    }
    expect(await chooseTestInfraMode({ TEST_INFRA: '' }, async () => false)).toBe('local');
  });

  it('the local stack takes port base 29000 unless CDRFLOW_TEST_PORT_BASE names another (as .ci/run does)', () => {
    vi.stubEnv('CDRFLOW_TEST_PORT_BASE', '');
    expect(testPortBase()).toBe(29000);
    vi.stubEnv('CDRFLOW_TEST_PORT_BASE', '31000');
    expect(testPortBase()).toBe(31000);
    vi.stubEnv('CDRFLOW_TEST_PORT_BASE', '80');
    expect(() => testPortBase()).toThrow('CDRFLOW_TEST_PORT_BASE must be an integer 1024..65000, got "80"');
  });
});
