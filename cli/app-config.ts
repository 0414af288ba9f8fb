// The one configuration loader of every command: the same `--config` file (YAML/JSON) and the same environment table
// (app/config.ts ENV_OVERRIDES), then the command's flags; each command takes its section. An invalid document is
// printed with every problem and exits 78 (EX_CONFIG).
import { ConfigError, loadAppConfig, type AppConfig, type LoadOptions } from '../app/config.ts';
import { asCdrflowError } from '../core/errors.ts';
import { EXIT_CONFIG } from '../core/exit-codes.ts';
import { ExitError } from './command.ts';

/** loadAppConfig, with a ConfigError turned into exit 78. */
export function loadCommandConfig(options: LoadOptions): AppConfig {
  try {
    return loadAppConfig(options);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(EXIT_CONFIG, err.message);
    throw err;
  }
}

/**
 * A setting the command cannot use — an invalid configuration, or a CdrflowError of kind `config` (a port another
 * process holds, a data directory that is a file, a transactional id another process uses: one line naming it) —
 * as exit 78; undefined for any other
 * error. For the commands that start servers (`start`, `receive`).
 */
export function settingExit(err: unknown): ExitError | undefined {
  if (err instanceof ConfigError) return new ExitError(EXIT_CONFIG, err.message);
  const e = asCdrflowError(err);
  return e.kind === 'config' ? new ExitError(EXIT_CONFIG, e.message) : undefined;
}

/** Sets `value` at `path` inside a config document (creating objects on the way), for flags that override it. */
export function setIn(doc: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = doc;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path.at(-1)!] = value;
}
