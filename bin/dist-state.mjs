// Whether dist/ (bin/build-dist.mjs) still matches the TypeScript sources: it records the newest modification time
// of the source tree when it is built; an edited, added or removed file (its directory's time changes) makes it stale.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Folders that hold no source of the CLI (everything else at the top level is compiled and watched). */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'coverage', 'docs', 'deploy', 'schemas']);

/** The top-level folders with the project's TypeScript (a new component folder is picked up by itself). */
export function sourceDirs(root) {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !NOT_SOURCE.has(e.name))
    .map((e) => e.name);
}

function newest(dir) {
  let max = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) max = Math.max(max, newest(join(dir, entry.name)));
    else if (entry.name.endsWith('.ts')) max = Math.max(max, statSync(join(dir, entry.name)).mtimeMs);
  }
  return max;
}

export function newestSourceMtime(root) {
  return Math.max(...sourceDirs(root).map((d) => newest(join(root, d))), statSync(join(root, 'package.json')).mtimeMs);
}

/** True when dist/ exists and no source is newer than the build. */
export function distIsFresh(root) {
  try {
    const state = JSON.parse(readFileSync(join(root, 'dist', 'dist-state.json'), 'utf8'));
    return typeof state.sourceMtime === 'number' && newestSourceMtime(root) <= state.sourceMtime;
  } catch {
    return false;
  }
}
