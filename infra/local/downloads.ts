// Brings the server binaries from Maven Central into the git-ignored cache once (Maven keeps its own copy in
// ~/.m2 too, so even a wiped .cache/ rebuilds without the network). Each step writes into a temporary folder and
// renames it into place, so an interrupted download never looks complete. The cache is shared by the stacks of every
// port base and by checkouts that share CDRFLOW_CACHE_DIR, so downloads take a lock on it and look again once they
// hold it: two runs at once would both download, and the second one would remove the first one's complete folder
// (under a Kafka starting from it) or fail renaming onto it.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processAlive } from '../../core/process-identity.ts';
import { APICURIO_DIR, APICURIO_VERSION, CACHE_DIR, KAFKA_POM, kafkaLibsDir, kafkaVersion } from './paths.ts';
import { run, withFileLock } from './processes.ts';

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
  return withFileLock(
    join(ensureCacheDir(), 'download.lock'),
    () => {
      removeDeadRunsFolders();
      return fn();
    },
    25 * 60_000,
  );
}

/**
 * The temporary folders (`<name>.tmp-<pid>`) of runs that ended without their clean-up (SIGKILL, a crash): never taken
 * for complete, but up to 158 MB each, kept for good. Only those of PIDs no longer running are removed: a reused PID
 * keeps a folder, never does a run still going lose its own.
 */
function removeDeadRunsFolders(): void {
  for (const dir of [CACHE_DIR, dirname(kafkaLibsDir()), dirname(APICURIO_DIR)]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const pid = Number(/\.tmp-(\d+)$/.exec(name)?.[1]);
      if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

/** The Kafka broker jars for the pom's version, copied into .cache/kafka/<version>. Returns true when it downloaded. */
export async function ensureKafkaJars(log: (msg: string) => void = () => {}): Promise<boolean> {
  const version = kafkaVersion();
  const marker = join(kafkaLibsDir(version), `kafka_2.13-${version}.jar`);
  if (existsSync(marker)) return false;
  return withCacheLock(async () => {
    if (existsSync(marker)) return false; // another run completed it while this one waited
    await downloadKafkaJars(version, log);
    return true;
  });
}

async function downloadKafkaJars(version: string, log: (msg: string) => void): Promise<void> {
  log(`downloading Apache Kafka ${version} jars from Maven Central (cached in ~/.m2 and .cache/kafka) ...`);
  const libs = kafkaLibsDir(version);
  const tmp = `${libs}.tmp-${process.pid}`;
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
    rmSync(libs, { recursive: true, force: true });
    renameSync(tmp, libs);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function ensureCacheDir(): string {
  mkdirSync(CACHE_DIR, { recursive: true });
  return CACHE_DIR;
}

/**
 * Apicurio Registry's Quarkus app, extracted once into .cache/apicurio-registry/<version>. Returns true when it
 * downloaded/extracted.
 */
export async function ensureApicurio(log: (msg: string) => void = () => {}): Promise<boolean> {
  // The folder is renamed into place only once extracted whole, and is named by the version.
  const extracted = () => existsSync(join(APICURIO_DIR, 'quarkus-run.jar'));
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
    rmSync(APICURIO_DIR, { recursive: true, force: true });
    renameSync(tmp, APICURIO_DIR);
  } finally {
    // A half-extracted folder is dropped like a half-downloaded one. So is the tarball, whole or not: Maven keeps the
    // 158 MB file in ~/.m2, so a second copy here only wasted disk, and a corrupt one failed every later run in tar.
    rmSync(tmp, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  }
}
