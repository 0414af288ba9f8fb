// Limits on what any stage accepts from outside, checked at the door (receivers) and again by normalize (which also
// reads what pollers and imports wrote). No real vendor comes near them; hostile or broken senders do. One strict JSON
// scanner checks nesting depth, duplicate member names and unpaired surrogates in one iterative pass, so a 5,000-deep
// record never reaches recursive code (JSON.stringify, the mappers, Avro) and a repeated member is never silently
// dropped by JSON.parse's "last one wins".
import { skipString } from './records/json-raw.ts';

/** Deepest JSON nesting accepted. The deepest real payload is a Huawei push: {feeLst:[{...}]} = 3; CCC records 4. */
export const MAX_JSON_DEPTH = 16;
/** Natural keys (call ids) are Kafka keys and ClickHouse ids; the vendors' ids are well under 100 bytes. */
export const MAX_NATURAL_KEY_BYTES = 256;
/** One vendor record (one CDR). Real ones are 1-10 KiB; a CCC record with many legs and key presses stays far below. */
export const MAX_RECORD_BYTES = 64 * 1024;

/**
 * One line of JSON-lines input (`cdrflow import`, `cdrflow normalize`): a whole Huawei push body (the receivers' default
 * body limit) or an envelope around one record. Longer lines are reported by length and never held (core/byte-lines.ts).
 */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * One answer of a polled vendor API (a page of records), read at most this far: a page of the largest size holds 100
 * records, so even at MAX_RECORD_BYTES each it stays under half of this. A longer answer is refused unread
 * (`answer-too-large`, which shrinks the page where the API allows) instead of being buffered whole.
 */
export const MAX_VENDOR_ANSWER_BYTES = 16 * 1024 * 1024;

/**
 * One answer of the schema registry (a schema by id, a subject's versions, a verdict), read at most this far, by the
 * registry client and by the project's own looks alike (core/avro.ts, registryAgent). The largest schema cdrflow
 * registers is about 16 KB (cdr-normalized.avsc), about 20 KB as the JSON string a registry answers it in: 4 MiB leaves
 * two hundred times that for schemas others register in a shared registry, and still holds a misconfigured URL that
 * streams without end (or a schema of hundreds of MB) to a few MB in every stage's process.
 */
export const MAX_REGISTRY_ANSWER_BYTES = 4 * 1024 * 1024;

export type StrictJson = { ok: true; value: unknown } | { ok: false; problem: string };

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

interface Scan {
  tooDeep: boolean;
  duplicate: string | null;
  loneSurrogate: boolean;
}

/**
 * One pass with an explicit stack (never recursion). Only structure is tracked; syntax is JSON.parse's job, so on
 * malformed text the result may be incomplete, and parseJsonStrict then reports JSON.parse's error instead.
 */
function scan(text: string, maxDepth: number): Scan {
  const result: Scan = { tooDeep: false, duplicate: null, loneSurrogate: false };
  // One frame per open container: a Set of member names for objects, null for arrays.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  // Where the next `\u` escape is: only strings holding one are decoded (to find escaped lone surrogates).
  let nextEscape = text.indexOf('\\u');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = skipString(text, i);
      if (nextEscape >= 0 && nextEscape < i) nextEscape = text.indexOf('\\u', i);
      const escaped = nextEscape >= 0 && nextEscape < end;
      if (escaped && LONE_SURROGATE.test(decodeString(text.slice(i, end)))) result.loneSurrogate = true;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const raw = text.slice(i + 1, end - 1);
        const key = raw.includes('\\') ? decodeString(text.slice(i, end)) : raw;
        if (top.has(key)) result.duplicate ??= key;
        else top.add(key);
        expectKey = false;
      }
      i = end - 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) {
        result.tooDeep = true;
        return result;
      }
      stack.push(c === 0x7b ? new Set<string>() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    }
  }
  // Raw (unescaped) surrogates: a cheap test first, the exact one only when there are any.
  if (ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text)) result.loneSurrogate = true;
  return result;
}

/** A JSON string token's value; the token itself when it is malformed (JSON.parse then reports the text). */
function decodeString(token: string): string {
  try {
    return JSON.parse(token) as string;
  } catch {
    return token;
  }
}

/**
 * JSON.parse with the door's rules: at most `maxDepth` levels of nesting, no member name twice in one object, no
 * unpaired UTF-16 surrogate (which no UTF-8 text can carry: it is what invalid UTF-8 or a broken escape leaves).
 *
 * Every record of every stage passes here, and the exact scan below (a Set of names per object, every character
 * visited in JS) cost as much as JSON.parse itself. So clean text — nearly all of it — is proved clean the cheap way
 * first (cleanParse); anything else goes through the exact scan, which alone words the problem.
 */
export function parseJsonStrict(text: string, maxDepth: number = MAX_JSON_DEPTH): StrictJson {
  const clean = cleanParse(text, maxDepth);
  if (clean !== undefined) return { ok: true, value: clean.value };
  return exactParse(text, maxDepth);
}

/**
 * The parsed value when `text` provably breaks no rule, else undefined (then exactParse decides and words why). Never
 * a false "clean":
 * - syntax: JSON.parse accepted it (V8's parser is iterative: deep text cannot overflow the stack here);
 * - depth: the parsed value is walked, never deeper than `maxDepth` + 1;
 * - duplicates: JSON.parse keeps one property per distinct name, so an object with a repeated member has fewer keys
 *   than the text has member names. The text's member names are counted from the string tokens followed by `:`
 *   (exact for text JSON.parse accepted); equal counts mean no name was given twice. That count walks every string
 *   token, so a cheaper upper bound on it is tried first (nameColonBound): keys <= names <= bound, so keys equal to
 *   the bound prove keys equal to names just as well, and the exact count is only taken when the bound is loose;
 * - surrogates: text with a `\u` escape is left to the exact scan (an escape can spell a lone surrogate); raw ones get
 *   the same test as there.
 */
function cleanParse(text: string, maxDepth: number): { value: unknown } | undefined {
  if (text.includes('\\u')) return undefined;
  if (ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const keys = keyCount(value, 1, maxDepth);
  if (keys < 0) return undefined;
  return keys === nameColonBound(text) || keys === memberNameCount(text) ? { value } : undefined;
}

/** Own keys in `value` and everything below it; -1 when a container sits deeper than `maxDepth` (recursion stops there). */
function keyCount(value: unknown, depth: number, maxDepth: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (depth > maxDepth) return -1;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      const below = keyCount(item, depth + 1, maxDepth);
      if (below < 0) return -1;
      n += below;
    }
    return n;
  }
  // JSON.parse makes only own, enumerable data properties (`__proto__` included), all of which for…in lists; own
  // ones only are counted, so even a polluted Object.prototype cannot make up for a dropped duplicate.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const below = keyCount((value as Record<string, unknown>)[key], depth + 1, maxDepth);
    if (below < 0) return -1;
    n += below + 1;
  }
  return n;
}

/**
 * An upper bound on memberNameCount, found by visiting only the colons: those whose last non-space character before
 * them is an unescaped `"` (one with an even run of backslashes before it). Every member name's colon is one of them
 * (a name is a string token, then JSON spaces, then `:`); the others sit inside strings that begin with a colon
 * (`":"`), which vendor records hardly ever hold. Their times and links (`08:00:00`, `https://`) put a colon after a
 * digit or a letter, and JSON carried in a string (LVMS `properties`: `"{\"loan_id\":…}"`) after an escaped quote. So on
 * real records the bound is exact and costs a fraction of the full count (one indexOf per colon instead of two per
 * string token, on every record).
 */
function nameColonBound(text: string): number {
  let n = 0;
  for (let i = text.indexOf(':'); i >= 0; i = text.indexOf(':', i + 1)) {
    let j = i - 1;
    while (j >= 0 && isJsonSpace(text.charCodeAt(j))) j--;
    if (text.charCodeAt(j) !== 0x22 /* " */) continue;
    let backslashes = 0;
    for (let k = j - 1; k >= 0 && text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) n++;
  }
  return n;
}

/** String tokens followed by `:` in text JSON.parse accepted: its member names, repeats included. */
function memberNameCount(text: string): number {
  let n = 0;
  for (let i = text.indexOf('"'); i >= 0; ) {
    let j = skipString(text, i);
    while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 0x3a /* : */) n++;
    // Between string tokens there is no quote: the next one opens the next token.
    i = text.indexOf('"', j);
  }
  return n;
}

const isJsonSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The rules checked exactly, with the first problem worded; the path for any text cleanParse could not prove clean.
 * Exported so a test can hold parseJsonStrict to it on hostile text.
 */
export function exactParse(text: string, maxDepth: number = MAX_JSON_DEPTH): StrictJson {
  const s = scan(text, maxDepth);
  if (s.tooDeep) return { ok: false, problem: `JSON nested deeper than ${maxDepth} levels` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `malformed JSON: ${(err as Error).message}` };
  }
  if (s.duplicate !== null) return { ok: false, problem: `duplicate JSON member ${quote(s.duplicate, 80)} in one object` };
  if (s.loneSurrogate) return { ok: false, problem: 'invalid UTF-8: the text carries an unpaired surrogate' };
  return { ok: true, value };
}

/**
 * A problem with a parsed value's nesting, or null. For values parsed elsewhere (a vendor SDK's JSON.parse), before
 * anything recursive (JSON.stringify, the mappers) touches them; the walk itself goes no deeper than `maxDepth` + 1.
 */
export function nestingProblem(value: unknown, maxDepth: number = MAX_JSON_DEPTH): string | null {
  return keyCount(value, 1, maxDepth) < 0 ? `JSON nested deeper than ${maxDepth} levels` : null;
}

/**
 * JSON.stringify's text of a value JSON.parse produced (objects, arrays, strings, numbers, booleans, null), at any
 * depth. JSON.stringify recurses and overflows the stack a few thousand levels down, which V8's JSON.parse reads
 * without trouble: a vendor's client hands over records 200,000 levels deep, and a refused record still needs its
 * text (what its dead letter keeps, what it is known by when keyless). Meant for values nestingProblem refuses:
 * within the limits JSON.stringify itself is faster. No toJSON, undefined or functions: JSON.parse makes none.
 */
export function jsonText(value: unknown): string {
  const out: string[] = [];
  /** The containers being written, outermost first, with the next member or element to write. */
  const open: { container: object; keys: string[] | null; next: number }[] = [];
  let current: unknown = value;
  for (;;) {
    if (typeof current !== 'object' || current === null) out.push(JSON.stringify(current));
    else if (Array.isArray(current)) {
      out.push('[');
      open.push({ container: current, keys: null, next: 0 });
    } else {
      out.push('{');
      // Object.keys lists own enumerable string keys in the order JSON.stringify writes them (integer keys first).
      open.push({ container: current, keys: Object.keys(current), next: 0 });
    }
    // Close every finished container, then move on to the next member or element, if any is left.
    for (;;) {
      const top = open.at(-1);
      if (top === undefined) return out.join('');
      const { container, keys } = top;
      const length = keys === null ? (container as unknown[]).length : keys.length;
      if (top.next < length) {
        const at = top.next++;
        if (at > 0) out.push(',');
        if (keys === null) current = (container as unknown[])[at];
        else {
          out.push(JSON.stringify(keys[at]), ':');
          current = (container as Record<string, unknown>)[keys[at]!];
        }
        break;
      }
      out.push(keys === null ? ']' : '}');
      open.pop();
    }
  }
}

/** A problem with a natural key's length, or null. `shown` is what the reason quotes (normalize: a key without PII). */
export function naturalKeyProblem(key: string, field = 'natural key', shown = key): string | null {
  // A key is a call's identity: where bytes were lost (U+FFFD stands for any that were not UTF-8), two different calls
  // could read as one and be counted once.
  if (key.includes('\uFFFD')) return `${field} carries U+FFFD, left where bytes were not valid UTF-8: ${quote(shown, 40)}`;
  // Cheap upper bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (key.length * 3 <= MAX_NATURAL_KEY_BYTES) return null;
  const bytes = Buffer.byteLength(key, 'utf8');
  return bytes > MAX_NATURAL_KEY_BYTES ? `${field} is ${bytes} bytes long (limit ${MAX_NATURAL_KEY_BYTES}): ${quote(shown, 40)}` : null;
}

/**
 * Why a tenant cannot be one, or null. The tenant is the middle of every cdr_id (`<vendor>:<tenant>:<natural key>`,
 * transforms/normalize/identity.ts) and natural keys hold `:` (Huawei `icid:…`, LVMS `job:…`, `sha256:…`), so with a
 * `:` in it tenant `a:b` key `c` and tenant `a` key `b:c` are one id: two calls, one row. Real appKeys have none
 * (Huawei's are letters and digits, TOP's digits); CCC and TRTC tenants are integers.
 */
export function tenantProblem(tenant: string): string | null {
  return tenant.includes(':') ? 'must not contain ":" (the tenant is the middle of every cdr_id, <vendor>:<tenant>:<natural key>, and natural keys hold ":" too)' : null;
}

/** A problem with one record's size, or null. */
export function recordSizeProblem(text: string): string | null {
  if (text.length * 3 <= MAX_RECORD_BYTES) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > MAX_RECORD_BYTES ? `record is ${bytes} bytes (limit ${MAX_RECORD_BYTES} per record)` : null;
}

/** Text decoded by a lenient decoder (Avro strings, readline) carries U+FFFD where the bytes were not UTF-8. */
export function replacementCharProblem(text: string): string | null {
  return text.includes('\uFFFD') ? 'invalid UTF-8: the text carries U+FFFD, left where bytes were not valid UTF-8' : null;
}

/**
 * The longest download link handed on: a recording API's Location, a vendor record's own recording link. It is stored
 * in the envelope and the CDR's recording_url; a signed storage link, even one carrying a temporary security token,
 * is far shorter.
 */
export const MAX_RECORDING_URL_CHARS = 8192;

/** What usableDownloadUrl requires, in words for a note or an error. */
export const USABLE_DOWNLOAD_URL = `an absolute http(s) URL of printable ASCII within ${MAX_RECORDING_URL_CHARS} characters`;

/** A URL as sent on the wire is printable ASCII; fetch reads other bytes of a header as latin1 (C1 controls among them). */
const DOWNLOAD_URL = /^https?:\/\/[!-~]+$/i;

/**
 * Whether a link can be handed on as it is, to a terminal, a dashboard or a tool that renders it as a link: not a
 * `javascript:` or `data:` link, no escape sequence, bidi override or line break. What the Huawei recording API's
 * Location must be, what `cdrflow recording` prints bare and what normalize keeps in recording_url.
 */
export function usableDownloadUrl(link: string): boolean {
  if (link.length > MAX_RECORDING_URL_CHARS || !DOWNLOAD_URL.test(link)) return false;
  return URL.canParse(link);
}

/** A URL's user-info: from after `scheme://` to the last `@` before the host ends (a password may hold a raw @). */
const URL_USER_INFO = /\b([a-z][a-z\d+.-]*:\/\/)[^/?#\s]*@/gi;

/**
 * A `usersig` query value (any case, its `=` also URL-encoded): TRTC's REST API takes its UserSig, a bearer credential
 * made from the app's secret key, in the query string, where a proxy's error page or the vendor's error text echoes it.
 */
const USERSIG_VALUE = /(usersig(?:=|%3d))(?:(?!%26)[^&#\s"'<>\\])+/gi;

/**
 * Text with the user and password of every URL in it replaced by `***`: the schema registry's URL may carry them
 * (SCHEMA_REGISTRY_URL), and every message that names the registry names it through this. The host stays, so an
 * operator still sees where; the `***` says credentials were sent. A `usersig` query value is `***` likewise.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_USER_INFO, '$1***@').replace(USERSIG_VALUE, '$1***');
}

export const MAX_QUOTED_CHARS = 200;

/**
 * A value for a human-readable reason: JSON-quoted (so a newline cannot forge a report line), cut to `max` characters
 * with the original length stated. Never throws.
 */
export function quote(value: unknown, max: number = MAX_QUOTED_CHARS): string {
  let text: string;
  if (typeof value === 'string') {
    const cut = value.length > max ? value.slice(0, max) : value;
    return `${escapeInvisible(JSON.stringify(cut))}${value.length > max ? `… (${value.length} chars)` : ''}`;
  }
  try {
    text = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  text = escapeInvisible(text);
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/**
 * Characters JSON.stringify leaves as they are but a terminal acts on or hides: DEL and the C1 controls (U+0085 is a
 * line break to some), line and paragraph separators, and every format character — the bidirectional marks,
 * overrides and isolates that make text read differently from its bytes, zero-width characters, tag characters.
 */
const INVISIBLE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

/** A character as \uXXXX escapes, one per UTF-16 unit (a tag character, U+E0000-U+E007F, is two). */
const unitEscapes = (ch: string) => Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/** JSON text with the INVISIBLE characters as \uXXXX escapes (still valid JSON, still the same string). */
function escapeInvisible(json: string): string {
  return json.replace(INVISIBLE, unitEscapes);
}

/**
 * JSON.stringify's text with the INVISIBLE characters also written as \uXXXX escapes: valid JSON that parses back to
 * the same value, safe to print on a terminal (JSON.stringify itself escapes only the characters below U+0020).
 */
export function terminalJson(value: unknown, space?: number): string {
  return escapeInvisible(JSON.stringify(value, null, space));
}

/**
 * Text for one terminal line: every control character (ESC, CR, NUL, …) and INVISIBLE character as a \uXXXX escape,
 * the rest as it is. For lines that show data (`cdrflow tail --format table`): a record must not drive the terminal.
 */
export function terminalText(text: string): string {
  return text.replace(CONTROL_OR_INVISIBLE, unitEscapes);
}

/**
 * Text of several lines for a terminal: each line as terminalText shows it, the line breaks kept (an error's lines, a
 * status report), where a CR or an escape sequence in one of them must not redraw the screen.
 */
export function terminalLines(text: string): string {
  return text.split('\n').map(terminalText).join('\n');
}

const CONTROL_OR_INVISIBLE = new RegExp(`[\\u0000-\\u001f]|${INVISIBLE.source}`, 'gu');

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** Whether `text` holds a C0 control character or DEL (what a name, an id or a path never holds). */
export const hasControlCharacter = (text: string): boolean => CONTROL_CHARACTER.test(text);

/** Text as it is when it is short and has no control characters (a plain path, a name); quoted and cut otherwise. */
export function printable(text: string, max: number = MAX_QUOTED_CHARS): string {
  return text.length <= max && !hasControlCharacter(text) && !new RegExp(INVISIBLE.source, 'u').test(text) ? text : quote(text, max);
}

export const MAX_REASON_CHARS = 500;
const ESCAPES: Readonly<Record<string, string>> = Object.assign(Object.create(null) as Record<string, string>, { '\n': '\\n', '\r': '\\r', '\t': '\\t' });

/**
 * A reason safe for one report line and a dead-letter field: control characters escaped as in JSON, cut to
 * MAX_REASON_CHARS with the original length stated. The record itself stays whole in the dead letter.
 */
export function boundReason(reason: string, max: number = MAX_REASON_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const escaped = reason.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (ch) => ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}… (reason cut, ${escaped.length} chars)` : escaped;
}

/**
 * A reason for a terminal (a bad line's report, a file's or a server's complaint): boundReason's escapes and length,
 * then every character a terminal acts on, hides or reorders (C1 controls, bidi overrides, zero-width) as terminalText
 * shows it. boundReason alone is what a dead letter stores; this is what a person reads.
 */
export function terminalReason(reason: string, max: number = MAX_REASON_CHARS): string {
  return terminalText(boundReason(reason, max));
}
