// `cdrflow infra up` stopped by SIGTERM or SIGINT while it downloads: node used to die on the spot and leave its `mvn`
// running on, and the download's temporary folder in the cache. A stand-in `mvn` on PATH writes part of the jars,
// says its PID and waits, as a long Maven download does; nothing is downloaded and no server is started.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive } from '../../core/process-identity.ts';
import { stackPaths } from './paths.ts';
import { signalExit } from '../../core/exit-codes.ts';
import { BIN, REPO } from '../../test/main-job/cli.ts';
import { waitFor } from '../../test/helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('infra up stopped during a download', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s stops the mvn it started, leaves no partial download in the cache and exits with the signal\'s code', async (signal) => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-infra-stop-'));
    // A stack of its own (state under .data/infra-<base>/): never the one a person or the integration tests use.
    const base = signal === 'SIGTERM' ? 47_000 : 47_100;
    cleanups.push(() => rmSync(root, { recursive: true, force: true }), () => rmSync(stackPaths(base).root, { recursive: true, force: true }));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const mvnPid = join(root, 'mvn.pid');
    writeFileSync(
      join(bin, 'mvn'),
      '#!/bin/sh\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done\n' +
        `mkdir -p "$out" && echo half > "$out/kafka-clients.jar"\necho $$ > '${mvnPid}.part' && mv '${mvnPid}.part' '${mvnPid}'\nexec sleep 300\n`,
    );
    chmodSync(join(bin, 'mvn'), 0o755);
    const cache = join(root, 'cache');
    const child = spawn(process.execPath, [BIN, 'infra', 'up', '--port-base', String(base)], {
      cwd: REPO,
      env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: root, TZ: 'UTC', CDRFLOW_CACHE_DIR: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, sig) => resolve({ code, signal: sig })));
    cleanups.push(() => child.kill('SIGKILL'));
    const pid = await waitFor(() => existsSync(mvnPid) && Number(readFileSync(mvnPid, 'utf8')), { message: 'the stand-in mvn to start', details: () => output });
    // Whatever happens below, the stand-in does not outlive the test.
    cleanups.push(() => {
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    expect(readdirSync(join(cache, 'kafka')).some((f) => f.includes('.tmp-'))).toBe(true);
    child.kill(signal);
    const end = await exited;
    expect({ ...end, output }).toMatchObject({ code: signalExit(signal), signal: null });
    expect(output).toContain(`stopped by ${signal}`);
    expect(processAlive(pid)).toBe(false);
    expect(readdirSync(join(cache, 'kafka'))).toEqual([]);
  });
});
