import { describe, expect, it } from 'vitest';
import { takeLoggingOptions } from './logging-options.ts';
import { ExitError } from './command.ts';
import { EXIT_CONFIG, EXIT_USAGE } from '../core/exit-codes.ts';

/** The exit code and message `takeLoggingOptions` refuses with; anything else fails the test. */
function refusal(argv: string[], env: NodeJS.ProcessEnv): { code: number; message: string } {
  try {
    takeLoggingOptions(argv, env, false);
  } catch (err) {
    if (err instanceof ExitError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('the global logging options', () => {
  it('takes --log-level out of the arguments, before LOG_LEVEL, and LOG_FORMAT or the default format', () => {
    expect(takeLoggingOptions(['status', '--json'], {}, false)).toEqual({ level: 'info', stderrFormat: 'json', rest: ['status', '--json'] });
    expect(takeLoggingOptions(['--log-level', 'warn', 'status'], { LOG_LEVEL: 'debug' }, true)).toEqual({ level: 'warn', stderrFormat: 'text', rest: ['status'] });
    expect(takeLoggingOptions(['status', '--log-level=error'], { LOG_LEVEL: 'debug', LOG_FORMAT: 'text' }, false)).toEqual({ level: 'error', stderrFormat: 'text', rest: ['status'] });
    expect(takeLoggingOptions(['status'], { LOG_LEVEL: 'DEBUG' }, false).level).toBe('debug');
    // The flag wins, so a wrong LOG_LEVEL beside it is never read.
    expect(takeLoggingOptions(['--log-level', 'warn', 'status'], { LOG_LEVEL: 'bogus' }, false).level).toBe('warn');
  });

  it('refuses a wrong --log-level as a usage error (64), and a wrong LOG_LEVEL or LOG_FORMAT as configuration (78)', () => {
    expect(refusal(['--log-level', 'trace', 'status'], {})).toEqual({ code: EXIT_USAGE, message: '--log-level needs one of debug, info, warn, error, got "trace"' });
    expect(refusal(['status', '--log-level'], { LOG_LEVEL: 'bogus' }).code).toBe(EXIT_USAGE);
    // Both exited 64, the usage error's status, though the command line was fine.
    expect(refusal(['status'], { LOG_LEVEL: 'trace' })).toEqual({ code: EXIT_CONFIG, message: 'LOG_LEVEL must be one of debug, info, warn, error, got "trace"' });
    expect(refusal(['status'], { LOG_FORMAT: 'xml\u001b[2J' })).toEqual({ code: EXIT_CONFIG, message: 'LOG_FORMAT must be one of json, text, got "xml\\u001b[2J"' });
    expect(refusal(['--log-level', 'warn', 'status'], { LOG_FORMAT: 'xml' }).code).toBe(EXIT_CONFIG);
  });
});
