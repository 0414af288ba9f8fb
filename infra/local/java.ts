// Finds a Java runtime new enough for each server. Kafka 4.1 brokers need Java 17+; Apicurio Registry 3.3 is
// compiled for Java 21 (class file 65) and fails on 17 with UnsupportedClassVersionError, so the registry may need
// a different JDK than the default `java`. Machines often have several JDKs side by side under /usr/lib/jvm.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './processes.ts';

export interface JavaRuntime {
  path: string;
  major: number;
  version: string;
}

const cache = new Map<string, JavaRuntime | null>();

async function probe(path: string): Promise<JavaRuntime | null> {
  const cached = cache.get(path);
  if (cached !== undefined) return cached;
  let result: JavaRuntime | null = null;
  try {
    const { stderr, stdout } = await run(path, ['-version'], { timeoutMs: 20_000 });
    const m = /version "([^"]+)"/.exec(stderr + stdout);
    if (m?.[1]) {
      const version = m[1];
      const parts = version.split('.');
      // "1.8.0_392" is Java 8; "17.0.15" is 17; "25" is 25.
      const major = parts[0] === '1' ? Number(parts[1]) : Number(parts[0]);
      if (Number.isInteger(major)) result = { path, major, version };
    }
  } catch {
    result = null;
  }
  cache.set(path, result);
  return result;
}

function candidates(explicitEnv: string): string[] {
  const list: string[] = [];
  const explicit = process.env[explicitEnv];
  if (explicit) list.push(explicit);
  const javaHome = process.env['JAVA_HOME'];
  if (javaHome) list.push(join(javaHome, 'bin', 'java'));
  list.push('java');
  for (const root of ['/usr/lib/jvm', '/opt/java', '/usr/local/lib/jvm', '/Library/Java/JavaVirtualMachines']) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      for (const bin of [join(root, name, 'bin', 'java'), join(root, name, 'Contents', 'Home', 'bin', 'java')]) {
        if (existsSync(bin)) list.push(bin);
      }
    }
  }
  return [...new Set(list)];
}

/**
 * The first runtime of at least `minMajor`, in this order: the env var `explicitEnv` (a path to a java binary),
 * $JAVA_HOME, `java` on PATH, then JDKs installed in the usual folders. An explicit path that is too old is an error,
 * not something to silently skip.
 */
export async function findJava(minMajor: number, explicitEnv: string, purpose: string): Promise<JavaRuntime> {
  const explicit = process.env[explicitEnv];
  if (explicit) {
    const rt = await probe(explicit);
    if (!rt) throw new Error(`${explicitEnv}=${explicit} is not a working java binary`);
    if (rt.major < minMajor)
      throw new Error(`${explicitEnv}=${explicit} is Java ${rt.version}; ${purpose} needs Java ${minMajor}+`);
    return rt;
  }
  const seen: string[] = [];
  for (const path of candidates(explicitEnv)) {
    const rt = await probe(path);
    if (rt) seen.push(`${path} (${rt.version})`);
    if (rt && rt.major >= minMajor) return rt;
  }
  throw new Error(
    `${purpose} needs Java ${minMajor}+, found ${seen.length ? seen.join(', ') : 'no java at all'}. ` +
      `Install a JDK ${minMajor}+ or point ${explicitEnv} at its bin/java.`,
  );
}
