// Zod validation problems as "path: message": every config loader and command reports them the same way, so a
// user sees where in the file or flags each problem is.
import type { z } from 'zod';

export interface ConfigProblem {
  /** Dotted path, e.g. `connectors.tencent-ccc.sdkAppIds.0`; `(root)` for the document itself. */
  path: string;
  message: string;
}

export function zodIssues(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((i) => ({ path: i.path.length > 0 ? i.path.map(String).join('.') : '(root)', message: i.message }));
}

/** One problem per line, each after `bullet`. */
export function formatZodIssues(error: z.ZodError, bullet = '  - '): string {
  return zodIssues(error)
    .map((p) => `${bullet}${p.path}: ${p.message}`)
    .join('\n');
}
