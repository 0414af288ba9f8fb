// One way for every `cdrflow` subcommand to read its command line: `node:util` parseArgs for the tokens, strict
// checks here so every mistake is a UsageError naming the flag (exit 64 with the usage text), and the typed value
// parsers the commands share (integers, ports, numbers, ISO date-times) with the flag in their message.
import { parseArgs } from 'node:util';
import { UsageError } from './command.ts';
import { printable, quote } from '../core/input-limits.ts';
import { didYouMean } from '../core/did-you-mean.ts';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** Repeatable: every occurrence is kept, in order. Otherwise the last one wins. */
  multiple?: boolean;
  /** One-letter alias, e.g. `f` for `-f`. */
  short?: string;
  /** What the value is, for "--x needs <needs>" when it is missing (default "a value"). */
  needs?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean' ? boolean : string;

export type FlagValues<O extends FlagSpecs> = {
  [K in keyof O]?: O[K]['multiple'] extends true ? ValueOf<O[K]>[] : ValueOf<O[K]>;
};

export interface ParsedFlags<O extends FlagSpecs> {
  values: FlagValues<O>;
  positionals: string[];
}

export interface ParseOptions {
  /** Most positionals accepted (default 0); one more is refused as an unexpected argument. */
  maxPositionals?: number;
}

/**
 * Parses `args` against `options`: `--name value`, `--name=value`, booleans as bare `--name`, `--` ends the flags.
 * Refused as UsageError: an unknown flag, a string flag without its value (missing, empty, or the next argument looks
 * like a flag; a lone "-", or a minus and a digit, is a value), a value given to a boolean flag, more positionals than `maxPositionals`.
 */
export function parseFlags<const O extends FlagSpecs>(args: string[], options: O, settings: ParseOptions = {}): ParsedFlags<O> {
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) };
  }
  // strict: false only lets the tokens through; every check parseArgs' strict mode makes is made below, with
  // messages that name the flag.
  const { tokens } = parseArgs({ args, options: config, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') {
      if (positionals.length >= (settings.maxPositionals ?? 0)) throw new UsageError(`unexpected argument ${quote(token.value)}`);
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (spec === undefined) {
      const guess = token.rawName.startsWith('--') ? didYouMean(token.name, Object.keys(options)) : undefined;
      // `--=x` has no name (rawName "--"): shown as written.
      const shown = token.name === '' ? (args[token.index] ?? token.rawName) : token.rawName;
      throw new UsageError(`unexpected argument ${quote(shown)}${guess ? ` (did you mean --${guess}?)` : ''}`);
    }
    let value: string | boolean;
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      value = true;
    } else {
      const needs = `${token.rawName} needs ${spec.needs ?? 'a value'}`;
      // An empty value (`--config=`, `--file "$UNSET"`) is none: taken as given, it fell back to a default without a word
      // (`--config=` read no config file) or met a check that named an internal field instead of the flag.
      if (token.value === undefined || token.value === '' || (!token.inlineValue && token.value.startsWith('--'))) throw new UsageError(needs);
      // As in parseArgs' strict mode, "--flag -x" is a forgotten value more likely than a value "-x". A minus and a
      // digit is a value (no cdrflow flag is a digit): a negative number, or a UTC offset as in `--tz -05:00`.
      if (!token.inlineValue && token.value.length > 1 && token.value.startsWith('-') && !/^-[0-9]/.test(token.value)) {
        throw new UsageError(`${needs} (to pass ${quote(token.value)}, write ${printable(`${token.rawName}=${token.value}`)})`);
      }
      value = token.value;
    }
    if (spec.multiple) ((values[token.name] ??= []) as unknown[]).push(value);
    else values[token.name] = value;
  }
  return { values: values as FlagValues<O>, positionals };
}

/** The value of a flag the command cannot run without. */
export function required(flag: string, value: string | undefined): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

/**
 * A decimal integer within [min, max]; the message says what was expected ("a port number", "an integer
 * 1024..65000"). Only digits (and a sign) count: `Number` alone would take "" and " " for 0, "0x50" for 80 and "1e3"
 * for 1000.
 */
export function integer(flag: string, value: string, range: { min?: number; max?: number; expected?: string } = {}): number {
  const { min = -Infinity, max = Infinity } = range;
  const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const expected = range.expected ?? (min === 1 && max === Infinity ? 'a positive integer' : `an integer ${min}..${max}`);
    throw new UsageError(`${flag} needs ${expected}, got ${quote(value)}`);
  }
  return n;
}

/** A TCP port, 0 (any free port) to 65535. */
export function port(flag: string, value: string): number {
  return integer(flag, value, { min: 0, max: 65535, expected: 'a port number' });
}

/**
 * An http(s) URL with a host; `expected` names it in the message ("notaurl" was taken and sent to 127.0.0.1:80). A
 * user and password in a refused value are not repeated back (a registry URL may carry them).
 */
export function httpUrl(flag: string, value: string, expected: string): string {
  if (!/^https?:\/\/[^/\s]+/i.test(value) || !URL.canParse(value)) throw new UsageError(`${flag} needs ${expected}, got ${quote(refusedUrlShown(value))}`);
  return value;
}

/**
 * A refused URL as its refusal repeats it: all before its last `@` is `***` but a leading `scheme://`. redactUrl needs
 * a URL's shape, which a refused value may lack, and its mistake is often where the user-info is: no scheme
 * (`user:pw@host`), one slash, or a raw `/` or `#` in the password, which ends redactUrl's user-info early.
 */
function refusedUrlShown(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  return `${/^[a-z][a-z\d+.-]*:\/\//i.exec(value)?.[0] ?? ''}***${value.slice(at)}`;
}

/** A decimal number ("12", "-0.5", "2.5e3"), else NaN: `Number` alone would take "" and " " for 0 and "0x50" for 80. */
function decimal(value: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : NaN;
}

/** A finite number ≥ min. */
export function numberAtLeast(flag: string, value: string, min: number): number {
  return numberWithin(flag, value, min, Infinity);
}

/** A finite number within [min, max]. */
export function numberWithin(flag: string, value: string, min: number, max: number): number {
  const n = decimal(value);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`${flag} needs a number ${max === Infinity ? `≥ ${min}` : `${min}..${max}`}, got ${quote(value)}`);
  }
  return n;
}

/** A finite number > 0; `expected` names it in the message (default "a positive number"). */
export function positiveNumber(flag: string, value: string, expected = 'a positive number'): number {
  const n = decimal(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${flag} needs ${expected}, got ${quote(value)}`);
  return n;
}

/** YYYY-MM-DD, optionally THH:MM[:SS[.fraction]] and a zone (Z or ±HH:MM); without a zone, UTC (see isoDateTime). */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** Days in a month of the proleptic Gregorian calendar; Date.UTC alone reads years 0-99 as 1900-1999 (0000 is leap). */
function daysInMonth(year: number, month: number): number {
  const last = new Date(0);
  last.setUTCFullYear(year, month, 0);
  return last.getUTCDate();
}

/**
 * A required ISO-8601 date-time; without an offset (a date alone, or a time without Z or ±HH:MM) it is UTC, whatever
 * the machine's time zone. `new Date` alone took "1" (2001), "March 7", "2024/01/01" and "2024-02-30" (as
 * March 1): a backfill of the wrong range, found out only from what it read.
 */
export function isoDateTime(flag: string, value: string | undefined): Date {
  const text = required(flag, value);
  const m = ISO_DATE_TIME.exec(text);
  const [year, month, day, hour, minute, second] = (m?.slice(1, 7) ?? []).map((part) => (part === undefined ? 0 : Number(part)));
  const valid =
    m !== null && month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth(year!, month!) && hour! <= 23 && minute! <= 59 && second! <= 59;
  // A time without an offset is UTC, as a date alone is (JavaScript reads "2026-01-31" as UTC but "2026-01-31T08:00"
  // in the machine's zone): mixing the two forms on a machine outside UTC shifted a range by its offset.
  const zoneless = m !== null && m[4] !== undefined && m[7] === undefined;
  const d = new Date(zoneless ? `${text}Z` : text);
  if (!valid || Number.isNaN(d.getTime())) throw new UsageError(`${flag} is not an ISO date-time (2026-01-31 or 2026-01-31T08:00:00Z): ${quote(text)}`);
  return d;
}

/** Runs a check whose error is the user's mistake (an identifier, a read-only query): its message becomes a UsageError. */
export function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
