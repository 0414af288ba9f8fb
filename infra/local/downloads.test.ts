// The downloads of `infra up` when they are cut short: a stand-in `mvn` on PATH writes part of the file and dies, as a
// Maven stopped by Ctrl-C does.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
// The pom's version only: the modules that read the cache folder are imported per case, once its variable is set.
import { kafkaVersion } from './paths.ts';

const dirs: string[] = [];
// Each case imports the modules afresh after setting the variables: not the copies loaded above with the defaults.
beforeEach(() => vi.resetModules());
afterEach(() => {
  vi.unstubAllEnvs();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A folder of the case's own whose `cache` is CDRFLOW_CACHE_DIR, with a stand-in `mvn` first on PATH. Each run of the
 * stand-in appends its arguments to `calls` (one line), sets $out (-DoutputDirectory), $art (-Dartifact) and $pom (-f),
 * then does `body`.
 */
function standInMvn(body: string): { root: string; cache: string; calls: string } {
  const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
  dirs.push(root);
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const calls = join(root, 'mvn-calls');
  writeFileSync(
    join(bin, 'mvn'),
    `#!/bin/sh\necho "$*" >> '${calls}'\n` +
      'for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; -Dartifact=*) art="${a#-Dartifact=}";; esac\n' +
      '  [ "$prev" = -f ] && pom="$a"; prev="$a"; done\n' +
      body,
  );
  chmodSync(join(bin, 'mvn'), 0o755);
  const cache = join(root, 'cache');
  vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
  vi.stubEnv('PATH', `${bin}:${process.env['PATH'] ?? ''}`);
  return { root, cache, calls };
}

/** Half a gzip where Maven puts the registry's tarball. */
const HALF_TARBALL = 'v=$(echo "$art" | cut -d: -f3)\nmkdir -p "$out" && printf "\\037\\213half" > "$out/apicurio-registry-app-$v-all.tar.gz"\n';

describe('infra downloads', () => {
  it('a tarball whose copy was cut short is not left where the next run takes it for a whole one', async () => {
    // Writes half a tarball into -DoutputDirectory, then ends as Maven does on SIGINT.
    const { cache } = standInMvn(`${HALF_TARBALL}exit 130\n`);
    const { ensureApicurio } = await import('./downloads.ts');
    const { APICURIO_VERSION } = await import('./paths.ts');
    await expect(ensureApicurio()).rejects.toThrow(/mvn .* failed/);
    expect(existsSync(join(cache, 'apicurio-dist', `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`))).toBe(false);
    expect(readdirSync(cache).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a tarball that does not extract leaves neither a half-extracted folder nor itself for the next run', async () => {
    // Maven succeeds, but what it copied is not a whole gzip (as a download it only warned about).
    const { cache } = standInMvn(HALF_TARBALL);
    const { ensureApicurio } = await import('./downloads.ts');
    await expect(ensureApicurio()).rejects.toThrow(/tar .* failed/);
    expect(readdirSync(cache)).toEqual(['apicurio-registry']);
    expect(readdirSync(join(cache, 'apicurio-registry'))).toEqual([]);
  });

  it('a relative CDRFLOW_CACHE_DIR is taken from the working folder, as Maven and the servers run elsewhere', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cdrflow-downloads-'));
    dirs.push(root);
    vi.stubEnv('CDRFLOW_CACHE_DIR', relative(process.cwd(), join(root, 'cache')));
    const { APICURIO_DIR, CACHE_DIR, kafkaLibsDir } = await import('./paths.ts');
    expect(CACHE_DIR).toBe(resolve(root, 'cache'));
    expect([kafkaLibsDir(), APICURIO_DIR].every((d) => isAbsolute(d) && d.startsWith(CACHE_DIR))).toBe(true);
  });

  it('the Kafka jars of a Maven run that failed leave no temporary folder behind', async () => {
    const { cache } = standInMvn('mkdir -p "$out" && echo half > "$out/kafka-clients.jar"\nexit 1\n');
    const { ensureKafkaJars } = await import('./downloads.ts');
    await expect(ensureKafkaJars()).rejects.toThrow(/mvn .* failed/);
    expect(readdirSync(join(cache, 'kafka'))).toEqual([]);
  });

  it('two runs on one cache download once: the second waits and uses the first one\'s jars, never replacing them', async () => {
    // Each run's jar names the run (its output folder), so the jar in place tells which run put it there.
    const { cache, calls } = standInMvn(`mkdir -p "$out" && echo "$out" > "$out/kafka_2.13-${kafkaVersion()}.jar"\n`);
    const { ensureKafkaJars } = await import('./downloads.ts');
    const results = await Promise.all([ensureKafkaJars(), ensureKafkaJars()]);
    expect(results.sort()).toEqual([false, true]);
    const runs = readFileSync(calls, 'utf8').trim().split('\n');
    expect(runs).toHaveLength(1);
    const inPlace = readFileSync(join(cache, 'kafka', kafkaVersion(), `kafka_2.13-${kafkaVersion()}.jar`), 'utf8').trim();
    expect(runs[0]?.split(' ')).toContain(`-DoutputDirectory=${inPlace}`);
    // A third run, as from another checkout sharing the cache, finds it complete.
    expect(await ensureKafkaJars()).toBe(false);
    expect(readdirSync(cache).sort()).toEqual(['kafka']);
    expect(readdirSync(join(cache, 'kafka'))).toEqual([kafkaVersion()]);
  });

  it('the temporary folders of a run killed mid-way (no clean-up ran) are removed by the next download', async () => {
    const { cache } = standInMvn(`mkdir -p "$out" && echo jar > "$out/kafka_2.13-${kafkaVersion()}.jar"\n`);
    const { APICURIO_VERSION } = await import('./paths.ts');
    // As a run killed with SIGKILL leaves them, under a PID that no longer runs; and one of a run still going.
    const dead = 999_999_999;
    const leftovers = [join('kafka', `${kafkaVersion()}.tmp-${dead}`), `apicurio-dist.tmp-${dead}`, join('apicurio-registry', `${APICURIO_VERSION}.tmp-${dead}`)];
    for (const d of leftovers) mkdirSync(join(cache, d, 'lib'), { recursive: true });
    const live = join(cache, 'kafka', `0.0.1.tmp-${process.pid}`);
    mkdirSync(live);
    const { ensureKafkaJars } = await import('./downloads.ts');
    expect(await ensureKafkaJars()).toBe(true);
    expect([...leftovers.map((d) => join(cache, d)), live].map((d) => existsSync(d))).toEqual([false, false, false, true]);
  });

  it('every Maven run fails on a checksum mismatch instead of taking the file with a warning', async () => {
    // Only what each run was asked to do matters here.
    const { calls } = standInMvn('exit 1\n');
    const { ensureApicurio, ensureKafkaJars } = await import('./downloads.ts');
    await expect(ensureKafkaJars()).rejects.toThrow(/mvn .* failed/);
    await expect(ensureApicurio()).rejects.toThrow(/mvn .* failed/);
    const runs = readFileSync(calls, 'utf8').trim().split('\n');
    expect(runs).toHaveLength(2);
    expect(runs.filter((r) => !r.split(' ').includes('--strict-checksums'))).toEqual([]);
  });

  it('the jars of another Kafka version go into a folder of their own, and the first version\'s are still there for it', async () => {
    // The jar names the version Maven read from the pom it was given, and says it.
    const { root, cache, calls } = standInMvn(
      'v=$(sed -n "s:.*<kafka.version>\\(.*\\)</kafka.version>.*:\\1:p" "$pom")\nmkdir -p "$out" && echo "$v" > "$out/kafka_2.13-$v.jar"\n',
    );
    // Checkouts that pin different versions in their pom: one checkout whose pom is rewritten between the runs.
    const checkout = join(root, 'checkout');
    mkdirSync(join(checkout, 'infra', 'kafka'), { recursive: true });
    const pin = (version: string) =>
      writeFileSync(join(checkout, 'infra', 'kafka', 'pom.xml'), `<project><properties><kafka.version>${version}</kafka.version></properties></project>\n`);
    vi.doMock('../../core/repo-root.ts', () => ({ REPO_ROOT: checkout }));
    const { ensureKafkaJars } = await import('./downloads.ts');
    vi.doUnmock('../../core/repo-root.ts');
    const downloaded: boolean[] = [];
    for (const version of ['9.1.0', '9.2.0', '9.1.0']) {
      pin(version);
      downloaded.push(await ensureKafkaJars());
    }
    expect(downloaded).toEqual([true, true, false]);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readdirSync(join(cache, 'kafka')).sort()).toEqual(['9.1.0', '9.2.0']);
    for (const v of ['9.1.0', '9.2.0']) expect(readFileSync(join(cache, 'kafka', v, `kafka_2.13-${v}.jar`), 'utf8').trim()).toBe(v);
  });

  it('another registry version is extracted into a folder of its own, and the first version\'s is still there for it', async () => {
    // A whole tarball whose quarkus-run.jar says the version asked for.
    const { cache, calls } = standInMvn(
      'v=$(echo "$art" | cut -d: -f3)\nmkdir -p "$out/app" && echo "$v" > "$out/app/quarkus-run.jar" && tar -czf "$out/apicurio-registry-app-$v-all.tar.gz" -C "$out/app" .\n',
    );
    const downloaded: boolean[] = [];
    for (const version of ['9.0.1', '9.0.2', '9.0.1']) {
      vi.resetModules();
      vi.stubEnv('APICURIO_VERSION', version);
      const { ensureApicurio } = await import('./downloads.ts');
      downloaded.push(await ensureApicurio());
    }
    expect(downloaded).toEqual([true, true, false]);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readdirSync(join(cache, 'apicurio-registry')).sort()).toEqual(['9.0.1', '9.0.2']);
    for (const v of ['9.0.1', '9.0.2']) expect(readFileSync(join(cache, 'apicurio-registry', v, 'quarkus-run.jar'), 'utf8').trim()).toBe(v);
  });
});
