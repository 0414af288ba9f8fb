// JSON log lines on stderr (one object per line), unless the host passes its own logger.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export const jsonLogger =
  (component: string, stream: NodeJS.WritableStream = process.stderr): Logger =>
  (level, msg, fields = {}) => {
    if (level === 'debug' && !process.env['CDRFLOW_DEBUG']) return;
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields })}\n`);
  };

export const silentLogger: Logger = () => undefined;
