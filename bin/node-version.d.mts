// Types of bin/node-version.mjs (plain JavaScript: bin/cdrflow.mjs reads it before any TypeScript loader exists).

/** The oldest Node.js major version cdrflow runs on. */
export const MIN_NODE_MAJOR: number;
/** What to say when `version` (process.version) is older than cdrflow needs; null when it will do. */
export function nodeVersionProblem(version: string): string | null;
