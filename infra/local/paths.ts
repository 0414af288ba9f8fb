// Where the local stack keeps its downloads (shared by every stack) and its per-port-base state (one folder per
// stack, so the demo stack at base 19000 and the test stack at base 29000 never touch each other's files).
import { REPO_ROOT } from '../../core/repo-root.ts';
import { CdrflowError } from '../../core/errors.ts';
import { readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

// Absolute: Maven resolves a relative output folder against the pom's folder, and the servers run in the stack's
// folder, so a relative CDRFLOW_CACHE_DIR named three different places.
export const CACHE_DIR = resolve(process.env['CDRFLOW_CACHE_DIR'] || join(REPO_ROOT, '.cache'));
export const KAFKA_POM = join(REPO_ROOT, 'infra', 'kafka', 'pom.xml');
export const APICURIO_VERSION = process.env['APICURIO_VERSION'] || '3.3.3';

export function kafkaVersion(): string {
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(KAFKA_POM, 'utf8'));
  if (!m?.[1]) throw new Error(`no <kafka.version> in ${KAFKA_POM}`);
  return m[1];
}

// A folder per version: checkouts that share the cache at different versions each keep theirs, where one folder for
// all had each of them replace the other's and download again at every switch.
/** The Kafka broker jars of a version (the pom's by default). */
export function kafkaLibsDir(version = kafkaVersion()): string {
  return join(CACHE_DIR, 'kafka', version);
}
// Not apicurio/<version>: the versions before this layout replace all of .cache/apicurio when they extract theirs.
export const APICURIO_DIR = join(CACHE_DIR, 'apicurio-registry', APICURIO_VERSION);

/**
 * Kafka runs with its jars' folder on Java's classpath, where the path separator (`:`) splits entries: from a cache
 * folder with one in its path it failed only after the download, with a Java error that did not name the folder.
 */
export function assertCacheDirUsable(): void {
  if (CACHE_DIR.includes(delimiter)) {
    throw new CdrflowError(
      'config',
      `the cache folder ${CACHE_DIR} (CDRFLOW_CACHE_DIR, default .cache/ in the checkout) contains "${delimiter}", which separates the entries of Java's classpath, so Kafka cannot run from it; choose a folder without "${delimiter}" in its path`,
    );
  }
}

export interface StackPaths {
  root: string;
  kafkaData: string;
  kafkaConfig: string;
  kafkaLog: string;
  kafkaPid: string;
  registryDir: string;
  registryLog: string;
  registryPid: string;
  /** Present while a test run (not a person) started the stack; it names the leases that keep it alive. */
  leasesDir: string;
  harnessOwned: string;
  lock: string;
}

export function stackPaths(base: number): StackPaths {
  const root = join(REPO_ROOT, '.data', `infra-${base}`);
  return {
    root,
    kafkaData: join(root, 'kafka', 'data'),
    kafkaConfig: join(root, 'kafka', 'config'),
    kafkaLog: join(root, 'kafka', 'server.log'),
    kafkaPid: join(root, 'kafka.pid'),
    registryDir: join(root, 'registry'),
    registryLog: join(root, 'registry', 'registry.log'),
    registryPid: join(root, 'registry.pid'),
    leasesDir: join(root, 'leases'),
    harnessOwned: join(root, 'started-by-test-harness'),
    lock: join(root, 'lock'),
  };
}
