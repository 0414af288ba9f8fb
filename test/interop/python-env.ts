// The Python environment of the foreign-client contract test: a venv with test/interop/requirements.txt, in the
// cache folder (`$CDRFLOW_CACHE_DIR/py-venv`, default .cache/py-venv, git-ignored), rebuilt when the requirements
// change. `.ci/run` calls this file before the tests (`node bin/run-ts.mjs test/interop/python-env.ts`); the test
// calls ensurePythonEnv() too, so a developer's `npm test` builds it on first use. No Python is a failure, not a skip.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CACHE_DIR } from '../../infra/local/paths.ts';

const run = promisify(execFile);
export const REQUIREMENTS = fileURLToPath(new URL('./requirements.txt', import.meta.url));
export const CONSUMER_SCRIPT = fileURLToPath(new URL('./consume.py', import.meta.url));
export const VENV_DIR = join(CACHE_DIR, 'py-venv');
const STAMP = 'cdrflow-requirements.sha256';

const venvPython = (dir: string) => join(dir, 'bin', 'python');

/** The venv's python, creating or rebuilding the venv first when needed. `log` hears what is being done. */
export async function ensurePythonEnv(log: (line: string) => void = () => {}): Promise<string> {
  const want = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex');
  const stampOf = (dir: string) => (existsSync(join(dir, STAMP)) ? readFileSync(join(dir, STAMP), 'utf8').trim() : undefined);
  if (stampOf(VENV_DIR) === want && existsSync(venvPython(VENV_DIR))) return venvPython(VENV_DIR);

  const base = process.env['CDRFLOW_PYTHON'] || 'python3';
  try {
    const { stdout } = await run(base, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
    const [major, minor] = stdout.trim().split('.').map(Number);
    if (major !== 3 || minor! < 9) throw new Error(`Python ${stdout.trim()} is too old (3.9+ needed)`);
  } catch (err) {
    throw new Error(`the foreign-client contract test needs Python 3.9+ with venv (${base}; set CDRFLOW_PYTHON to choose another): ${(err as Error).message}`, { cause: err });
  }
  // Built beside the final place and renamed into it, so a crashed or concurrent build never leaves a half venv there.
  const building = `${VENV_DIR}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  log(`creating the Python venv ${VENV_DIR} from ${REQUIREMENTS} (PyPI)`);
  try {
    await run(base, ['-m', 'venv', building]);
    await run(venvPython(building), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', REQUIREMENTS], { maxBuffer: 16 << 20 });
    await run(venvPython(building), ['-c', 'from confluent_kafka.schema_registry.avro import AvroDeserializer']);
    writeFileSync(join(building, STAMP), want);
    rmSync(VENV_DIR, { recursive: true, force: true });
    renameSync(building, VENV_DIR);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    // Another process may have finished the same build meanwhile.
    if (stampOf(VENV_DIR) === want) return venvPython(VENV_DIR);
    const e = err as Error & { stderr?: string };
    throw new Error(`could not build the Python venv for the contract test: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
  return venvPython(VENV_DIR);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const python = await ensurePythonEnv((line) => console.log(line));
  console.log(`python venv ready: ${python}`);
}
