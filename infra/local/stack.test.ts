// `infra down` on a PID file whose PID now belongs to someone else: stand-in processes carry the arguments the real
// servers are started with; no server is started.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stackPaths } from './paths.ts';
import { processAlive } from './processes.ts';
import { down } from './stack.ts';

// Stacks of their own (state under .data/infra-<base>/): never the one a person or the integration tests use.
const MINE = 47_200;
const OTHER = 47_300;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A process whose command line is `node -e … <args>`, as long-lived as a server; killed after the test. */
async function standIn(args: string[]): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', ...args], { stdio: 'ignore' });
  // 'spawn' comes once the program runs, with its own command line rather than this process's.
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  const pid = child.pid ?? -1;
  cleanups.push(() => {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return pid;
}

const kafkaArgs = (base: number) => ['kafka.Kafka', join(stackPaths(base).kafkaConfig, 'server.properties')];
const registryArgs = (base: number) => [
  `-Dapicurio.datasource.url=jdbc:h2:file:${join(stackPaths(base).registryDir, 'h2', 'registry')};DB_CLOSE_ON_EXIT=FALSE`,
  '-jar',
  '/somewhere/quarkus-run.jar',
];

describe('infra down', () => {
  it('leaves alone another stack\'s servers that were given the PIDs of this stack\'s PID files', async () => {
    const paths = stackPaths(MINE);
    cleanups.push(() => rmSync(paths.root, { recursive: true, force: true }));
    mkdirSync(paths.root, { recursive: true });
    const kafka = await standIn(kafkaArgs(OTHER));
    const registry = await standIn(registryArgs(OTHER));
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
    const kafka = await standIn(kafkaArgs(MINE));
    const registry = await standIn(registryArgs(MINE));
    writeFileSync(paths.kafkaPid, `${kafka}\n`);
    writeFileSync(paths.registryPid, `${registry}\n`);
    const r = await down(MINE);
    expect(r.stopped).toEqual([
      { name: 'registry', pid: registry, outcome: 'terminated' },
      { name: 'kafka', pid: kafka, outcome: 'terminated' },
    ]);
  });
});
