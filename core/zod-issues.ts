// Zod validation problems as "path: message": every config loader and command reports them the same way, so a
// user sees where in the file or flags each problem is.
import type { z } from 'zod';

export interface ConfigProblem {
  /** Dotted path, e.g. `connectors.tencent-ccc.sdkAppIds.0`; `(root)` for the document itself. */
  path: string;
  message: string;
}

export function zodIssues(error: z.ZodError): ConfigProblem[] {
  return tightestBounds(error.issues).map((i) => ({ path: i.path.length > 0 ? i.path.map(String).join('.') : '(root)', message: i.message }));
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

/** One problem per line, each after `bullet`. */
export function formatZodIssues(error: z.ZodError, bullet = '  - '): string {
  return zodIssues(error)
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
