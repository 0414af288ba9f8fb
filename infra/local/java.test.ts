// Which Java each local server runs on (findJava), with stand-in `java` binaries that print a version as a JDK does:
// the order the README gives (the server's own variable, JAVA_HOME, `java` on PATH), and an explicit one too old
// refused rather than passed over.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// java.ts keeps each binary's answer for the process (`java` on PATH among them): a fresh module per test.
let findJava: typeof import('./java.ts').findJava;
beforeEach(async () => {
  vi.resetModules();
  ({ findJava } = await import('./java.ts'));
});

const saved = { path: process.env['PATH'] };
afterEach(() => {
  vi.unstubAllEnvs();
});

/** A JDK home whose bin/java answers `-version` on stderr like OpenJDK `version`. */
function jdk(version: string): { home: string; java: string } {
  const home = mkdtempSync(join(tmpdir(), `cdrflow-jdk-${version}-`));
  mkdirSync(join(home, 'bin'));
  const java = join(home, 'bin', 'java');
  writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2025-01-21' >&2\n`);
  chmodSync(java, 0o755);
  return { home, java };
}

describe('findJava', () => {
  it('takes the server\'s own variable before JAVA_HOME', async () => {
    const own = jdk('21.0.6');
    vi.stubEnv('CDRFLOW_REGISTRY_JAVA', own.java);
    vi.stubEnv('JAVA_HOME', jdk('25.0.1').home);
    expect(await findJava(21, 'CDRFLOW_REGISTRY_JAVA', 'Apicurio Registry 3.3')).toEqual({ path: own.java, major: 21, version: '21.0.6' });
  });

  it('refuses the server\'s own variable naming a Java too old, though JAVA_HOME has a new enough one', async () => {
    vi.stubEnv('CDRFLOW_REGISTRY_JAVA', jdk('17.0.14').java);
    vi.stubEnv('JAVA_HOME', jdk('25.0.1').home);
    await expect(findJava(21, 'CDRFLOW_REGISTRY_JAVA', 'Apicurio Registry 3.3')).rejects.toThrow(/is Java 17\.0\.14; Apicurio Registry 3\.3 needs Java 21\+$/);
  });

  it('passes over a JAVA_HOME too old for `java` on PATH', async () => {
    vi.stubEnv('CDRFLOW_REGISTRY_JAVA', undefined);
    vi.stubEnv('JAVA_HOME', jdk('17.0.14').home);
    vi.stubEnv('PATH', `${join(jdk('21.0.6').home, 'bin')}:${saved.path ?? ''}`);
    expect(await findJava(21, 'CDRFLOW_REGISTRY_JAVA', 'Apicurio Registry 3.3')).toMatchObject({ path: 'java', major: 21 });
  });

  it('takes JAVA_HOME before `java` on PATH when it is new enough', async () => {
    vi.stubEnv('CDRFLOW_REGISTRY_JAVA', undefined);
    const home = jdk('21.0.6');
    vi.stubEnv('JAVA_HOME', home.home);
    vi.stubEnv('PATH', `${join(jdk('25.0.1').home, 'bin')}:${saved.path ?? ''}`);
    expect(await findJava(21, 'CDRFLOW_REGISTRY_JAVA', 'Apicurio Registry 3.3')).toMatchObject({ path: home.java, major: 21 });
  });
});
