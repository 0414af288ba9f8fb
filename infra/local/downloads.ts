// Brings the server binaries from Maven Central into the git-ignored cache once (Maven keeps its own copy in
// ~/.m2 too, so even a wiped .cache/ rebuilds without the network). Each step writes into a temporary folder and
// renames it into place, so an interrupted download never looks complete. The cache is shared by the stacks of every
// port base and by checkouts that share CDRFLOW_CACHE_DIR, so downloads take a lock on it and look again once they
// hold it: two runs at once would both download, and the second one would remove the first one's complete folder
// (under a Kafka starting from it) or fail renaming onto it.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { APICURIO_DIR, CACHE_DIR, KAFKA_LIBS_DIR, KAFKA_POM } from './paths.ts';
import { run, withFileLock } from './processes.ts';

export const APICURIO_VERSION = process.env['APICURIO_VERSION'] || '3.3.3';

export function kafkaVersion(): string {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(KAFKA_POM, 'utf8'));
  if (!m?.[1]) throw new Error(`no <kafka.version> in ${KAFKA_POM}`);
  return m[1];
}

async function mvn(args: string[], cwd: string): Promise<void> {
  try {
    // Strict checksums: by default Maven only warns when a jar does not match its checksum, so a file a mirror
    // corrupted was taken into the cache and failed later in Java (or in tar) far from its cause.
    await run('mvn', ['-q', '-B', '--strict-checksums', ...args], { cwd, timeoutMs: 20 * 60_000 });
  } catch (err) {
    if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') {
      throw new Error(
        'Maven (mvn) is not on PATH; it downloads the Kafka and Apicurio jars. Install Maven 3.8+ (or use Docker: see README).',
        { cause: err },
      );
    }
    throw err;
  }
}

/** One download into the cache at a time; a run waiting for another's may wait as long as Maven may take. */
function withCacheLock<T>(fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(ensureCacheDir(), 'download.lock'), fn, 25 * 60_000);
}

/** The Kafka broker jars for the pom's version, copied into .cache/kafka/libs. Returns true when it downloaded. */
export async function ensureKafkaJars(log: (msg: string) => void = () => {}): Promise<boolean> {
  const version = kafkaVersion();
  const marker = join(KAFKA_LIBS_DIR, `kafka_2.13-${version}.jar`);
  if (existsSync(marker)) return false;
  return withCacheLock(async () => {
    if (existsSync(marker)) return false; // another run completed it while this one waited
    await downloadKafkaJars(version, log);
    return true;
  });
}

async function downloadKafkaJars(version: string, log: (msg: string) => void): Promise<void> {
  log(`downloading Apache Kafka ${version} jars from Maven Central (cached in ~/.m2 and .cache/kafka) ...`);
  const tmp = `${KAFKA_LIBS_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  // A failed run's folder is removed: each one was left behind under its own PID.
  try {
    // outputDirectory must be absolute: Maven resolves a relative one against the pom's folder.
    await mvn(
      ['-f', KAFKA_POM, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'],
      ensureCacheDir(),
    );
    if (!existsSync(join(tmp, `kafka_2.13-${version}.jar`)))
      throw new Error(`Maven finished but ${tmp} has no kafka_2.13-${version}.jar`);
    rmSync(KAFKA_LIBS_DIR, { recursive: true, force: true });
    renameSync(tmp, KAFKA_LIBS_DIR);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function ensureCacheDir(): string {
  mkdirSync(CACHE_DIR, { recursive: true });
  return CACHE_DIR;
}

/** Apicurio Registry's Quarkus app, extracted once into .cache/apicurio. Returns true when it downloaded/extracted. */
export async function ensureApicurio(log: (msg: string) => void = () => {}): Promise<boolean> {
  const versionFile = join(APICURIO_DIR, 'CDRFLOW_VERSION');
  const extracted = () =>
    existsSync(join(APICURIO_DIR, 'quarkus-run.jar')) &&
    existsSync(versionFile) &&
    readFileSync(versionFile, 'utf8').trim() === APICURIO_VERSION;
  if (extracted()) return false;
  return withCacheLock(async () => {
    if (extracted()) return false; // another run completed it while this one waited
    await downloadApicurio(log);
    return true;
  });
}

async function downloadApicurio(log: (msg: string) => void): Promise<void> {
  const dist = join(ensureCacheDir(), 'apicurio-dist');
  const artifact = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
  const tarball = join(dist, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  if (!existsSync(tarball)) {
    log(`downloading Apicurio Registry ${APICURIO_VERSION} (${artifact}) from Maven Central ...`);
    // Into a folder of this run's own, then renamed into place: a copy cut short (Ctrl-C) was left at the tarball's
    // own path, where every later run took it for a whole one and failed in tar until someone deleted it.
    const part = `${dist}.tmp-${process.pid}`;
    rmSync(part, { recursive: true, force: true });
    try {
      // dependency:copy needs no project; run it where there is no pom so Maven does not pick one up.
      await mvn(['dependency:copy', `-Dartifact=${artifact}`, `-DoutputDirectory=${part}`], ensureCacheDir());
      const copied = join(part, basename(tarball));
      if (!existsSync(copied))
        throw new Error(`Maven finished but ${copied} is missing (found: ${readdirSync(part).join(', ')})`);
      mkdirSync(dist, { recursive: true });
      renameSync(copied, tarball);
    } finally {
      rmSync(part, { recursive: true, force: true });
    }
  }
  log(`extracting ${tarball} ...`);
  const tmp = `${APICURIO_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', tmp]);
    if (!existsSync(join(tmp, 'quarkus-run.jar'))) throw new Error(`${tarball} has no quarkus-run.jar at its top level`);
    writeFileSync(join(tmp, 'CDRFLOW_VERSION'), `${APICURIO_VERSION}\n`);
    rmSync(APICURIO_DIR, { recursive: true, force: true });
    renameSync(tmp, APICURIO_DIR);
  } finally {
    // A half-extracted folder is dropped like a half-downloaded one. So is the tarball, whole or not: Maven keeps the
    // 158 MB file in ~/.m2, so a second copy here only wasted disk, and a corrupt one failed every later run in tar.
    rmSync(tmp, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  }
}
