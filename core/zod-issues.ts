// Zod validation problems as "path: message": every config loader and command reports them the same way, so a
// user sees where in the file or flags each problem is.
import { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import { tenantProblem } from './input-limits.ts';

export interface ConfigProblem {
  /** Dotted path, e.g. `connectors.tencent-ccc.sdkAppIds.0`; `(root)` for the document itself. */
  path: string;
  message: string;
}

/**
 * The problems of `error`, one per issue. Given the `schema` that refused the document, a key it does not know is
 * answered with the key of that object it most likely meant (`sdkAppId`: did you mean "sdkAppIds"?).
 */
export function zodIssues(error: z.ZodError, schema?: z.ZodType): ConfigProblem[] {
  return tightestBounds(error.issues).map((i) => ({ path: i.path.length > 0 ? i.path.map(String).join('.') : '(root)', message: withGuess(i, schema) }));
}

/** A key that names a secret: an object holding one may have a secret pasted where a key goes. */
const SECRET_KEY = /secret|password|piikey/i;

/**
 * A setting's name as the schemas write them: lower-case words, camelCase or joined by - or _, no digits, at most 32
 * characters (`unknownSection`, `tencent-ccc`). A generated secret (an access key, a hex or base64 token) has digits
 * or runs of capitals, or is longer.
 */
const KEY_SHAPE = /^(?=.{1,32}$)[a-z]+(?:[A-Z][a-z]+|[-_][a-z]+)*$/;

function withGuess(i: Issue, schema: z.ZodType | undefined): string {
  if (i.code !== 'unrecognized_keys') return i.message;
  const known = schema === undefined ? undefined : objectKeysAt(schema, i.path);
  const guesses = new Map(i.keys.map((k) => [k, known === undefined ? undefined : didYouMean(k, known)] as const));
  // An unknown key is shown only where it cannot be a secret: near a known key (a typo of it), or, in an object that
  // holds none, shaped as a setting's name is (KEY_SHAPE). In an object that holds one (the apps' items, the
  // connectors', ClickHouse's, sasl, normalize's mapping; an object not known) any other key is counted, its place
  // named by the path; so is a key of any other shape one level up (the root, `normalize`, `receiver.huawei`), where
  // a secret pasted a line too far out lands, and was printed.
  const secrets = known === undefined || known.some((k) => SECRET_KEY.test(k));
  const shown = i.keys.filter((k) => guesses.get(k) !== undefined || (!secrets && KEY_SHAPE.test(k)));
  const hidden = i.keys.length - shown.length;
  const parts: string[] = [];
  if (shown.length > 0) {
    const named = `Unrecognized key${shown.length > 1 ? 's' : ''}: ${shown.map((k) => JSON.stringify(k)).join(', ')}`;
    const hints = shown.map((k) => [k, guesses.get(k)] as const).filter(([k, g]) => g !== undefined && g !== k);
    if (hints.length === 0) parts.push(named);
    else if (shown.length === 1) parts.push(`${named} (did you mean ${JSON.stringify(hints[0]![1])}?)`);
    else parts.push(`${named} (${hints.map(([k, g]) => `${JSON.stringify(k)}: did you mean ${JSON.stringify(g)}?`).join('; ')})`);
  }
  if (hidden > 0) parts.push(`${hidden === 1 ? 'an unknown key' : `${hidden} unknown keys`} (not shown: a key here may be a secret pasted in the wrong place)`);
  return parts.join('; ');
}

/** zod's definition of a schema: enough of it to walk objects, arrays, records and their wrappers. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}
const defOf = (t: z.ZodType) => (t as unknown as { _zod: { def: Def } })._zod.def;

/**
 * The schema under its wrappers (optional, default, nullable, …). A pipe is not entered: which of its two sides
 * refused a key cannot be told, and the other's keys would be a wrong guess.
 */
function unwrap(t: z.ZodType): z.ZodType {
  for (let d = defOf(t); ; d = defOf(t)) {
    if (d.innerType === undefined) return t;
    t = d.innerType;
  }
}

/** The keys of the object schema at `path`, or undefined when the path leads elsewhere (a union, a non-object). */
function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let t = unwrap(schema);
  for (const segment of path) {
    const d = defOf(t);
    const next = d.type === 'object' ? d.shape?.[String(segment)] : d.type === 'array' ? d.element : d.type === 'record' ? d.valueType : undefined;
    if (next === undefined) return undefined;
    t = unwrap(next);
  }
  const d = defOf(t);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

type Issue = z.core.$ZodIssue;

/** A range problem's limit (the maximum of a too_big, the minimum of a too_small); undefined for any other problem. */
function rangeLimit(i: Issue): number | undefined {
  if (i.code === 'too_big') return Number(i.maximum);
  if (i.code === 'too_small') return Number(i.minimum);
  return undefined;
}

/**
 * Of the range problems of one value, the tightest only: `z.int().max(16)` given 1e20 fails both the int's own safe
 * range (<= 9007199254740991) and the setting's limit (<= 16), and only the second tells the user anything.
 */
function tightestBounds(issues: readonly Issue[]): Issue[] {
  const tightest = new Map<string, Issue>();
  const keyOf = (i: Issue) => `${i.code} ${JSON.stringify(i.path.map(String))}`;
  for (const i of issues) {
    const limit = rangeLimit(i);
    if (limit === undefined) continue;
    const held = tightest.get(keyOf(i));
    if (held === undefined || (i.code === 'too_big' ? limit < rangeLimit(held)! : limit > rangeLimit(held)!)) tightest.set(keyOf(i), i);
  }
  return issues.filter((i) => rangeLimit(i) === undefined || tightest.get(keyOf(i)) === i);
}

/**
 * A URL for an HTTP client: http or https only. z.url() alone took file:, javascript: or data: "URLs", which failed
 * later, far from the setting, or not at all.
 */
export const httpUrl = () => z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

/** A Kafka topic, group or transactional id: the characters Kafka takes in a name. */
export const kafkaName = z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only');
/** A topic name: Kafka's characters, and at most 249 of them. */
export const kafkaTopic = kafkaName.max(249, 'at most 249 characters');

/**
 * The longest delay a Node timer waits (2^31-1 ms, 24.8 days). A longer one runs after 1 ms with only a warning: a
 * monthly reconcile ran back to back, a status line was printed every millisecond. Every setting that ends up as a
 * timer's delay has these bounds.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
export const timerMs = () => z.int().max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (24.8 days, the longest a timer can wait)`);
export const timerSec = () => z.number().max(Math.floor(MAX_TIMER_MS / 1000), `at most ${Math.floor(MAX_TIMER_MS / 1000)} s (24.8 days, the longest a timer can wait)`);

/** One problem per line, each after `bullet`; `schema` as for zodIssues. */
export function formatZodIssues(error: z.ZodError, bullet = '  - ', schema?: z.ZodType): string {
  return zodIssues(error, schema)
    .map((p) => `${bullet}${p.path}: ${p.message}`)
    .join('\n');
}

/**
 * A check for `.superRefine` on an array: no two items share `keyOf(item)`. A second entry for the same app or tenant
 * was taken silently, and the last one won: a push signed with the first entry's secret was refused as unsigned.
 */
export function distinctBy<T>(keyOf: (item: T) => unknown, what: string) {
  return (items: T[], ctx: { addIssue(issue: { code: 'custom'; message: string; path: PropertyKey[] }): void }): void => {
    const first = new Map<unknown, number>();
    items.forEach((item, i) => {
      const key = keyOf(item);
      const at = first.get(key);
      if (at === undefined) first.set(key, i);
      else ctx.addIssue({ code: 'custom', path: [i], message: `${what} ${JSON.stringify(key)} is also item ${at}; each may appear once` });
    });
  };
}

/** A tenant named in a setting (an appKey, `--tenant`): refused where it would make two calls' cdr_ids one (tenantProblem). */
export const tenantName = () =>
  z.string().check((ctx) => {
    const problem = tenantProblem(ctx.value);
    if (problem !== null) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });
