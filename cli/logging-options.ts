// The global logging options, read before any command is loaded (cli/main.ts): `--log-level`, LOG_LEVEL, LOG_FORMAT.
import { ExitError } from './command.ts';
import { LOG_LEVELS, isLogLevel, levelFromEnv, stderrFormatFromEnv, type LogFormat, type LogLevel } from '../core/log.ts';
import { quote } from '../core/input-limits.ts';
import { EXIT_CONFIG, EXIT_USAGE } from '../core/exit-codes.ts';

/**
 * Takes the global `--log-level <level>` (or `=level`) out of the arguments, LOG_LEVEL when absent, and the stderr
 * format from LOG_FORMAT. A wrong `--log-level` is a usage error (exit 64); a wrong LOG_LEVEL or LOG_FORMAT is
 * configuration (exit 78), as a wrong value of any other variable is (app/config.ts): read as a usage error, it sent
 * the operator to a command line that was fine.
 */
export function takeLoggingOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  stderrIsTerminal = process.stderr.isTTY === true,
): { level: LogLevel; stderrFormat: LogFormat; rest: string[] } {
  const rest: string[] = [];
  let given: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--log-level') given = argv[++i] ?? '';
    else if (a.startsWith('--log-level=')) given = a.slice('--log-level='.length);
    else rest.push(a);
  }
  if (given !== undefined && !isLogLevel(given)) throw new ExitError(EXIT_USAGE, `--log-level needs one of ${LOG_LEVELS.join(', ')}, got ${quote(given)}`);
  try {
    return { level: given ?? levelFromEnv(env), stderrFormat: stderrFormatFromEnv(env, stderrIsTerminal), rest };
  } catch (err) {
    throw new ExitError(EXIT_CONFIG, (err as Error).message);
  }
}
