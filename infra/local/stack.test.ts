// `infra down` on a PID file whose PID now belongs to someone else: stand-in processes carry the arguments the real
// servers are started with; no server is started.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { EXIT_CONFIG } from '../../core/exit-codes.ts';
import { cdrflow } from '../../test/main-job/cli.ts';
import { kafkaArgs, registryArgs, standIns } from './fixtures/stand-in-servers.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { APICURIO_VERSION, kafkaVersion, stackPaths } from './paths.ts';
import { localPorts } from '../../core/local-endpoints.ts';
import { processAlive, processStartTicks } from '../../core/process-identity.ts';
import { down, leaseStack } from './stack.ts';

// Stacks of their own (state under .data/infra-<base>/): never the one a person or the integration tests use.
const MINE = 47_200;
const OTHER = 47_300;

const servers = standIns();
const cleanups: (() => void)[] = [];
afterEach(() => {
  servers.killAll();
  for (const c of cleanups.splice(0)) c();
});

/** This stack's folder, created for one test and removed after it. */
function ownStackRoot(): ReturnType<typeof stackPaths> {
  const paths = stackPaths(MINE);
  cleanups.push(() => rmSync(paths.root, { recursive: true, force: true }));
  mkdirSync(paths.root, { recursive: true });
  return paths;
}

describe('infra down', () => {
  it('leaves alone another stack\'s servers that were given the PIDs of this stack\'s PID files', async () => {
    const paths = ownStackRoot();
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
    const paths = ownStackRoot();
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

describe('infra down on a PID file that is a folder', () => {
  it('still stops the other server, and says the folder was left alone', async () => {
    const paths = ownStackRoot();
    mkdirSync(paths.registryPid);
    const kafka = await servers.start(kafkaArgs(MINE));
    writeFileSync(paths.kafkaPid, `${kafka}\n`);
    const r = await down(MINE);
    expect(r.stopped).toEqual([
      { name: 'registry', pid: 0, outcome: `${paths.registryPid} is a folder, not a PID file: left alone` },
      { name: 'kafka', pid: kafka, outcome: 'terminated' },
    ]);
  });
});

describe('a lease on the stack', () => {
  it('names its holder with its start time, so a PID reused after the holder died is not taken for it', async () => {
    const paths = ownStackRoot();
    const release = await leaseStack(MINE);
    try {
      const text = readFileSync(join(paths.leasesDir, String(process.pid)), 'utf8');
      expect(text.startsWith(`${process.pid} ${processStartTicks(process.pid)} `)).toBe(true);
    } finally {
      release();
    }
  });
});

describe('infra up', () => {
  it('refuses a cache folder with ":" in its path, naming it, before anything is downloaded or started', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-infra-cache-'));
    const base = 47_600;
    cleanups.push(() => rmSync(root, { recursive: true, force: true }), () => rmSync(stackPaths(base).root, { recursive: true, force: true }));
    // A stand-in mvn that only says it ran: a refused run never gets that far.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const calls = join(root, 'mvn-calls');
    writeFileSync(join(bin, 'mvn'), `#!/bin/sh\necho "$*" >> '${calls}'\nexit 1\n`);
    chmodSync(join(bin, 'mvn'), 0o755);
    const cache = join(root, 'a:b');
    const r = await cdrflow(['infra', 'up', '--port-base', String(base)], { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: root, TZ: 'UTC', CDRFLOW_CACHE_DIR: cache });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`${cache} (CDRFLOW_CACHE_DIR`) as unknown });
    expect(r.stderr).toContain('classpath');
    expect([existsSync(calls), existsSync(cache)]).toEqual([false, false]);
  });

  it("refuses a Kafka port taken by a process it did not start as a setting it cannot use (exit 78), naming the port", async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-infra-port-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    // A cache that already holds both downloads (their marker files), so the run reaches the servers' start.
    const cache = join(root, 'cache');
    const version = kafkaVersion();
    mkdirSync(join(cache, 'kafka', version), { recursive: true });
    writeFileSync(join(cache, 'kafka', version, `kafka_2.13-${version}.jar`), '');
    mkdirSync(join(cache, 'apicurio-registry', APICURIO_VERSION), { recursive: true });
    writeFileSync(join(cache, 'apicurio-registry', APICURIO_VERSION, 'quarkus-run.jar'), '');
    // The stranger takes the Kafka port of the first base from 47,700 whose port it can have: these ports lie in the
    // kernel's ephemeral range, where any process's connection may hold one for a while.
    const stranger = createServer((socket) => socket.destroy());
    let base = 47_700;
    for (; ; base += 100) {
      const taken = await new Promise<boolean>((resolve, reject) =>
        stranger.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' && base < 48_600 ? resolve(false) : reject(err))).listen(localPorts(base).kafkaPort, '127.0.0.1', () => resolve(true)),
      );
      if (taken) break;
    }
    const port = localPorts(base).kafkaPort;
    cleanups.push(() => stranger.close(), () => rmSync(stackPaths(base).root, { recursive: true, force: true }));
    const r = await cdrflow(['infra', 'up', '--port-base', String(base)], { HOME: root, TZ: 'UTC', CDRFLOW_CACHE_DIR: cache });
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: EXIT_CONFIG, stderr: expect.stringContaining(`port ${port} is already in use`) as unknown });
  });
});
