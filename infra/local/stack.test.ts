// `infra down` on a PID file whose PID now belongs to someone else: stand-in processes carry the arguments the real
// servers are started with; no server is started.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { kafkaArgs, registryArgs, standIns } from './fixtures/stand-in-servers.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { stackPaths } from './paths.ts';
import { processAlive } from '../../core/process-identity.ts';
import { down } from './stack.ts';

// Stacks of their own (state under .data/infra-<base>/): never the one a person or the integration tests use.
const MINE = 47_200;
const OTHER = 47_300;

const servers = standIns();
const cleanups: (() => void)[] = [];
afterEach(() => {
  servers.killAll();
  for (const c of cleanups.splice(0)) c();
});


describe('infra down', () => {
  it('leaves alone another stack\'s servers that were given the PIDs of this stack\'s PID files', async () => {
    const paths = stackPaths(MINE);
    cleanups.push(() => rmSync(paths.root, { recursive: true, force: true }));
    mkdirSync(paths.root, { recursive: true });
    const kafka = await servers.start(kafkaArgs(OTHER));
    const registry = await servers.start(registryArgs(OTHER));
    writeFileSync(paths.kafkaPid, `${kafka}\n`);
    writeFileSync(paths.registryPid, `${registry}\n`);
    const r = await down(MINE);
    expect(r.stopped).toEqual([
      { name: 'registry', pid: registry, outcome: 'stale pid file removed' },
      { name: 'kafka', pid: kafka, outcome: 'stale pid file removed' },
    ]);
    expect([processAlive(kafka), processAlive(registry)]).toEqual([true, true]);
  });

  it('stops the servers started with this stack\'s own files', async () => {
    const paths = stackPaths(MINE);
    cleanups.push(() => rmSync(paths.root, { recursive: true, force: true }));
    mkdirSync(paths.root, { recursive: true });
    const kafka = await servers.start(kafkaArgs(MINE));
    const registry = await servers.start(registryArgs(MINE));
    writeFileSync(paths.kafkaPid, `${kafka}\n`);
    writeFileSync(paths.registryPid, `${registry}\n`);
    const r = await down(MINE);
    expect(r.stopped).toEqual([
      { name: 'registry', pid: registry, outcome: 'terminated' },
      { name: 'kafka', pid: kafka, outcome: 'terminated' },
    ]);
  });
});
