// JSON log lines on stderr (one object per line) so the receiver's logs can be shipped as they are.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function jsonLogger(component: string, minLevel: LogLevel = (process.env['LOG_LEVEL'] as LogLevel | undefined) ?? 'info'): Logger {
  const min = ORDER[minLevel] ?? ORDER.info;
  return (level, msg, fields) => {
    if (ORDER[level] < min) return;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields }) + '\n');
  };
}

export const silentLogger: Logger = () => {};
