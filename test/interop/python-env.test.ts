// README, "Tests": the contract test needs Python 3.9+ (`python3`, or CDRFLOW_PYTHON); an older one is refused before
// any venv is made, by name, so a new user learns what to install instead of reading pip's failure.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const dirs: string[] = [];
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A `python` that answers the version question with `version` and fails anything else. */
function fakePython(dir: string, version: string): string {
  const file = join(dir, 'python');
  writeFileSync(file, `#!/bin/sh\n[ "$1" = "-c" ] && case "$2" in *version_info*) echo ${version}; exit 0;; esac\nexit 3\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('the Python of the foreign-client contract test', () => {
  it.each(['3.8', '2.7'])('refuses Python %s, naming 3.9+ and CDRFLOW_PYTHON, and makes no venv', async (version) => {
    const dir = mkdtempSync(join(tmpdir(), 'cdrflow-pyenv-'));
    dirs.push(dir);
    const cache = join(dir, 'cache');
    vi.stubEnv('CDRFLOW_CACHE_DIR', cache);
    vi.stubEnv('CDRFLOW_PYTHON', fakePython(dir, version));
    const { ensurePythonEnv, VENV_DIR } = await import('./python-env.ts');
    expect(VENV_DIR).toBe(join(cache, 'py-venv'));
    await expect(ensurePythonEnv()).rejects.toThrow(new RegExp(`Python ${version.replace('.', '\\.')} is too old \\(3\\.9\\+ needed\\)`));
    await expect(ensurePythonEnv()).rejects.toThrow(/set CDRFLOW_PYTHON to choose another/);
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });
});
