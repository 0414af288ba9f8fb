// The downloads of `infra up` when they are cut short: a stand-in `mvn` on PATH writes part of the file and dies, as a
// Maven stopped by Ctrl-C does.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const dirs: string[] = [];
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('infra downloads', () => {
  it('a tarball whose copy was cut short is not left where the next run takes it for a whole one', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    // Writes half a tarball into -DoutputDirectory, then ends as Maven does on SIGINT.
    writeFileSync(
      join(bin, 'mvn'),
      '#!/bin/sh\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; -Dartifact=*) art="${a#-Dartifact=}";; esac; done\n' +
        'v=$(echo "$art" | cut -d: -f3)\nmkdir -p "$out" && printf "\\037\\213half" > "$out/apicurio-registry-app-$v-all.tar.gz"\nexit 130\n',
    );
    chmodSync(join(bin, 'mvn'), 0o755);
    const cache = join(root, 'cache');
    vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
    vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
    const { ensureApicurio, APICURIO_VERSION } = await import('./downloads.ts');
    await expect(ensureApicurio()).rejects.toThrow(/mvn .* failed/);
    expect(existsSync(join(cache, 'apicurio-dist', `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`))).toBe(false);
    expect(readdirSync(cache).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a tarball that does not extract leaves neither a half-extracted folder nor itself for the next run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    // Maven succeeds, but what it copied is not a whole gzip (as a download it only warned about).
    writeFileSync(
      join(bin, 'mvn'),
      '#!/bin/sh\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; -Dartifact=*) art="${a#-Dartifact=}";; esac; done\n' +
        'v=$(echo "$art" | cut -d: -f3)\nmkdir -p "$out" && printf "\\037\\213half" > "$out/apicurio-registry-app-$v-all.tar.gz"\n',
    );
    chmodSync(join(bin, 'mvn'), 0o755);
    const cache = join(root, 'cache');
    vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
    vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
    const { ensureApicurio } = await import('./downloads.ts');
    await expect(ensureApicurio()).rejects.toThrow(/tar .* failed/);
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a relative CDRFLOW_CACHE_DIR is taken from the working folder, as Maven and the servers run elsewhere', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    vi.stubEnv('CDRFLOW_CACHE_DIR', relative(process.cwd(), join(root, 'cache')));
    const { APICURIO_DIR, CACHE_DIR, KAFKA_LIBS_DIR } = await import('./paths.ts');
    expect(CACHE_DIR).toBe(resolve(root, 'cache'));
    expect([KAFKA_LIBS_DIR, APICURIO_DIR].every((d) => isAbsolute(d) && d.startsWith(CACHE_DIR))).toBe(true);
  });

  it('the Kafka jars of a Maven run that failed leave no temporary folder behind', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'mvn'), '#!/bin/sh\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done\nmkdir -p "$out" && echo half > "$out/kafka-clients.jar"\nexit 1\n');
    chmodSync(join(bin, 'mvn'), 0o755);
    const cache = join(root, 'cache');
    vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
    vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
    const { ensureKafkaJars } = await import('./downloads.ts');
    await expect(ensureKafkaJars()).rejects.toThrow(/mvn .* failed/);
    expect(readdirSync(join(cache, 'kafka'))).toEqual([]);
  });

  it('two runs on one cache download once: the second waits and uses the first one\'s jars, never replacing them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const calls = join(root, 'mvn-calls');
    const cache = join(root, 'cache');
    vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
    vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
    const { ensureKafkaJars, kafkaVersion } = await import('./downloads.ts');
    // Each run's jar names the run (its output folder), so the jar in place tells which run put it there.
    writeFileSync(
      join(bin, 'mvn'),
      `#!/bin/sh\nfor a in "$@"; do case "$a" in -DoutputDirectory=*) out="\${a#-DoutputDirectory=}";; esac; done\necho "$out" >> '${calls}'\nmkdir -p "$out" && echo "$out" > "$out/kafka_2.13-${kafkaVersion()}.jar"\n`,
    );
    chmodSync(join(bin, 'mvn'), 0o755);
    const results = await Promise.all([ensureKafkaJars(), ensureKafkaJars()]);
    expect(results.sort()).toEqual([false, true]);
    const runs = readFileSync(calls, 'utf8').trim().split('\n');
    expect(runs).toHaveLength(1);
    expect(readFileSync(join(cache, 'kafka', 'libs', `kafka_2.13-${kafkaVersion()}.jar`), 'utf8').trim()).toBe(runs[0]);
    // A third run, as from another checkout sharing the cache, finds it complete.
    expect(await ensureKafkaJars()).toBe(false);
    expect(readdirSync(cache).sort()).toEqual(['kafka']);
    expect(readdirSync(join(cache, 'kafka'))).toEqual(['libs']);
  });

  it('every Maven run fails on a checksum mismatch instead of taking the file with a warning', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const calls = join(root, 'mvn-calls');
    // Records its arguments, one run a line, and fails: only what each run was asked to do matters here.
    writeFileSync(join(bin, 'mvn'), `#!/bin/sh\necho "$*" >> '${calls}'\nexit 1\n`);
    chmodSync(join(bin, 'mvn'), 0o755);
    vi.stubEnv('CDRFLOW_CACHE_DIR', join(root, 'cache'));
    vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
    const { ensureApicurio, ensureKafkaJars } = await import('./downloads.ts');
    await expect(ensureKafkaJars()).rejects.toThrow(/mvn .* failed/);
    await expect(ensureApicurio()).rejects.toThrow(/mvn .* failed/);
    const runs = readFileSync(calls, 'utf8').trim().split('\n');
    expect(runs).toHaveLength(2);
    expect(runs.filter((r) => !r.split(' ').includes('--strict-checksums'))).toEqual([]);
  });
});
