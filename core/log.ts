// The one logger of the project: JSON lines through pino with one field set — `time` (ISO-8601 UTC), `level`,
// `component`, `event` (a stable id such as `sink.flushed`, never a sentence), then the event's own fields. One level
// knob for every command (`--log-level`, else LOG_LEVEL, default info); stdout unless a command points it elsewhere.
// The lines a command writes to stderr read as text on a terminal, where a person reads them (LOG_FORMAT says
// otherwise); stdout and log files always get JSON, for programs.
// kafkajs' own log entries are routed here too (core/kafka.ts), as component `kafka`.
import pino from 'pino';
import { quote, redactUrl, terminalText } from './input-limits.ts';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

/** What a component is handed to log with: a level, a stable event id, the event's fields. */
export type LogFn = (level: LogLevel, event: string, fields?: LogFields) => void;

/** Logs one event; `child` names the component that logs (one per stage, connector, command). */
export interface Log extends LogFn {
  child(component: string): Log;
  /** Whether an entry of this level would be written (skip building costly fields otherwise). */
  enabled(level: LogLevel): boolean;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** The level from LOG_LEVEL; an unknown value is an error the caller reports (a typo must not silence logs). */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = env['LOG_LEVEL'];
  if (raw === undefined || raw === '') return 'info';
  const level = raw.toLowerCase();
  if (!isLogLevel(level)) throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${quote(raw)}`);
  return level;
}

/** How the lines on stderr read: JSON for programs, or text for a person at a terminal. */
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];

/** LOG_FORMAT when set (json or text), else text when stderr is a terminal and JSON when it is not. */
export function stderrFormatFromEnv(env: NodeJS.ProcessEnv = process.env, stderrIsTerminal = process.stderr.isTTY === true): LogFormat {
  const raw = env['LOG_FORMAT'];
  if (raw === undefined || raw === '') return stderrIsTerminal ? 'text' : 'json';
  const format = raw.toLowerCase();
  if (format !== 'json' && format !== 'text') throw new Error(`LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, got ${quote(raw)}`);
  return format;
}

/**
 * One JSON log line as a person reads it: `12:03:04Z warn  component: event key=value …` (the time of day in UTC). A
 * value that is not a plain word is written as JSON, and any control character left in it escaped: logged fields carry
 * what outsiders sent (a caller's user agent, a vendor's error text), which must not reach the terminal as escape
 * sequences.
 */
export function textLine(json: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return `${fieldText(json.trimEnd())}\n`;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return `${fieldText(json.trimEnd())}\n`;
  const { time, level, component, event, ...fields } = entry as Record<string, unknown>;
  // pino's own time is ISO-8601 UTC; a logged field named `time` (the last key wins in JSON.parse) is a value like any
  // other. The clock keeps the time's zone (`Z`, as in the JSON line): a reader in another zone took it for local time.
  const iso = typeof time === 'string' ? ISO_TIME.exec(time) : null;
  const clock = iso ? `${iso[1]}${iso[2]}` : time === undefined ? '' : `time=${fieldText(time)}`;
  const head = [clock, fieldText(level ?? '').padEnd(5), component === undefined ? '' : `${fieldText(component)}:`, fieldText(event ?? '')];
  const tail = Object.entries(fields).map(([key, value]) => `${fieldText(key)}=${fieldText(value)}`);
  return `${[...head.filter((part) => part !== ''), ...tail].join(' ')}\n`;
}

const PLAIN_WORD = /^[\w.:/@+,%-]+$/;
/** An ISO-8601 date-time with its zone: the time of day, then the zone. */
const ISO_TIME = /^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/;
/**
 * A value as JSON, with what JSON.stringify leaves as it is but a terminal acts on or hides (DEL, the C1 controls —
 * a terminal may take U+009B as a CSI —, the line separators, bidi overrides, zero-width and tag characters) escaped
 * by terminalText, the one escaping of text meant for a terminal.
 */
function fieldText(value: unknown): string {
  if (typeof value === 'string' && PLAIN_WORD.test(value)) return value;
  return terminalText(JSON.stringify(value) ?? String(value));
}

/**
 * Fault injection for crash tests: with CDRFLOW_CRASH_AFTER_EVENT=<event>:<n> the process kills itself (SIGKILL)
 * right after this thread logged that event for the n-th time, so a test crashes a stage at an exact point (e.g.
 * between a transaction's send and its commit) instead of racing a signal from outside. Unset in normal runs.
 */
function crashHook(): ((event: string) => void) | undefined {
  const spec = process.env['CDRFLOW_CRASH_AFTER_EVENT'];
  const colon = spec?.lastIndexOf(':') ?? -1;
  if (!spec || colon < 1) return undefined;
  const target = spec.slice(0, colon);
  const n = Number(spec.slice(colon + 1));
  let seen = 0;
  return (event) => {
    if (event === target && ++seen >= n) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * Fields with each Error among them as its type and message, its causes' and (AggregateError) its errors' messages
 * after it, every URL in them redacted. Never an error's own fields or stack: client libraries keep the URL they asked
 * there (the schema registry client's `url`, user and password included), and pino would write them all.
 */
function loggedErrors(fields: LogFields): LogFields {
  let out: LogFields | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) (out ??= { ...fields })[key] = { type: value.name, message: redactUrl(errorMessages(value, 0)) };
  }
  return out ?? fields;
}

function errorMessages(err: unknown, depth: number): string {
  if (!(err instanceof Error)) return err === undefined ? '' : quote(err);
  if (depth > 5) return '…';
  const inner = err instanceof AggregateError ? err.errors.map((e: unknown) => errorMessages(e, depth + 1)) : [];
  const cause = err.cause === undefined ? '' : `: ${errorMessages(err.cause, depth + 1)}`;
  return `${err.message}${inner.length > 0 ? ` [${inner.join('; ')}]` : ''}${cause}`;
}

/** `p` logs for one component; `base` is the process's root, from which every child is made (one `component`). */
function wrap(p: pino.Logger, base: pino.Logger, crash = crashHook()): Log {
  // The event id first, then the event's fields, so every line reads time, level, component, event, fields.
  const log = ((level: LogLevel, event: string, fields?: LogFields) => {
    // Below the level nothing is copied or looked at (per-batch debug lines sit on the stages' paths).
    if (p.isLevelEnabled(level)) p[level]({ event, ...(fields && loggedErrors(fields)) });
    crash?.(event);
  }) as Log;
  log.child = (component) => wrap(base.child({ component }), base, crash);
  log.enabled = (level) => p.isLevelEnabled(level);
  return log;
}

function createPino(level: LogLevel, destination: pino.DestinationStream): pino.Logger {
  return pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Errors are written by loggedErrors, for every field alike; pino's own for `err` would write their fields.
      serializers: { err: (value: unknown) => value },
    },
    destination,
  );
}

export interface LogSettings {
  level: LogLevel;
  to: LogTarget;
  /** How the lines written to stderr read (stdout and files are always JSON). */
  stderrFormat: LogFormat;
}
let root: Log | undefined;
let settings: LogSettings | undefined;

/** Where a command's log lines go: a standard stream, or a file (warnings and errors also on stderr, for a person). */
export type LogTarget = 'stdout' | 'stderr' | { file: string };

export function logDestination(target: LogTarget, stderrFormat: LogFormat = 'json'): pino.DestinationStream {
  if (target === 'stdout') return pino.destination({ dest: 1, sync: true });
  if (target === 'stderr') return stderrDestination(stderrFormat);
  return pino.multistream([
    { level: 'debug', stream: pino.destination({ dest: target.file, sync: true, append: true, mkdir: true }) },
    { level: 'warn', stream: stderrDestination(stderrFormat) },
  ]);
}

function stderrDestination(format: LogFormat): pino.DestinationStream {
  if (format === 'json') return pino.destination({ dest: 2, sync: true });
  const stderr = pino.destination({ dest: 2, sync: true });
  return { write: (line: string) => stderr.write(textLine(line)) };
}

/**
 * Sets the process's logger once, at the top of a command: the level and where the lines go. Components never call
 * this; they ask `logger(component)`. Returns the root for the command's own events.
 */
export function configureLogging(options: { level?: LogLevel; to?: LogTarget; stderrFormat?: LogFormat } = {}): Log {
  settings = { level: options.level ?? levelFromEnv(), to: options.to ?? 'stdout', stderrFormat: options.stderrFormat ?? 'json' };
  const p = createPino(settings.level, logDestination(settings.to, settings.stderrFormat));
  root = wrap(p, p);
  return root;
}

/** The settings `configureLogging` set, so a worker thread can log the same way (its own root logger). */
export function loggingSettings(): LogSettings {
  if (!root) logger('cdrflow');
  return settings!;
}

/** The level `configureLogging` set (or LOG_LEVEL's), for clients with their own logging (kafkajs). */
export function rootLevelEnabled(level: LogLevel): boolean {
  return (root ?? logger('cdrflow')).enabled(level);
}

/** The logger of one component (configured lazily from LOG_LEVEL and stdout when no command configured it). */
export function logger(component: string): Log {
  root ??= configureLogging({ level: safeEnvLevel() });
  return root.child(component);
}

function safeEnvLevel(): LogLevel {
  try {
    return levelFromEnv();
  } catch {
    return 'info';
  }
}

/** A logger that writes nothing (tests, benchmarks). */
export const silentLog: Log = Object.assign((() => undefined) as (level: LogLevel, event: string, fields?: LogFields) => void, {
  child: () => silentLog,
  enabled: () => false,
});

/** A logger that keeps its entries in memory, for tests that assert what was logged. */
export function memoryLog(): Log & { entries: { level: LogLevel; component: string | undefined; event: string; fields: LogFields }[] } {
  const entries: { level: LogLevel; component: string | undefined; event: string; fields: LogFields }[] = [];
  const make = (component: string | undefined): Log =>
    Object.assign((level: LogLevel, event: string, fields: LogFields = {}) => void entries.push({ level, component, event, fields }), {
      child: (c: string) => make(c),
      enabled: () => true,
    });
  return Object.assign(make(undefined), { entries });
}
