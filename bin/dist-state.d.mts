// Types of bin/dist-state.mjs (plain JavaScript: bin/cdrflow.mjs reads it before any TypeScript loader exists).

/** The top-level folders with the project's TypeScript. */
export function sourceDirs(root: string): string[];
/** The newest modification time (ms) of the source tree and package.json. */
export function newestSourceMtime(root: string): number;
/** True when dist/ exists and no source is newer than the build. */
export function distIsFresh(root: string): boolean;
