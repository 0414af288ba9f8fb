// The main job's configuration as the commands that share it (`start`, `status`, `sql`) load it: file < environment
// < flags; an invalid one is printed with every problem and exits 78 (EX_CONFIG).
import { ConfigError, loadAppConfig, type AppConfig, type LoadOptions } from '../app/config.ts';
import { ExitError } from './command.ts';

export const EXIT_CONFIG = 78;

/** loadAppConfig, with a ConfigError turned into exit 78. */
export function loadCommandConfig(options: LoadOptions): AppConfig {
  try {
    return loadAppConfig(options);
  } catch (err) {
    if (err instanceof ConfigError) throw new ExitError(EXIT_CONFIG, err.message);
    throw err;
  }
}
