// Whether dist/ (bin/build-dist.mjs) still matches the TypeScript sources: it records the newest modification time
// of the source tree when it is built; an edited, added or removed file (its directory's time changes) makes it stale.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Folders that hold no source of the CLI (everything else at the top level is compiled and watched). */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'coverage', 'docs', 'deploy', 'schemas']);

/** The top-level folders with the project's TypeScript (a new component folder is picked up by itself). */
export function sourceDirs(root) {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !NOT_SOURCE.has(e.name))
    .map((e) => e.name);
}

/**
 * Folders inside the source tree that hold only what runs write (no source): the benchmark's JSON results. Their
 * times must not count, or every benchmark run after the first would find the build stale and start the job it
 * measures through the TypeScript loader instead of dist/.
 */
const RUN_OUTPUT = new Set([join('bench', 'results')]);

function newest(dir, root) {
  let max = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && RUN_OUTPUT.has(relative(root, path))) continue;
    if (entry.isDirectory()) max = Math.max(max, newest(path, root));
    else if (entry.name.endsWith('.ts')) max = Math.max(max, statSync(path).mtimeMs);
  }
  return max;
}

export function newestSourceMtime(root) {
  return Math.max(...sourceDirs(root).map((d) => newest(join(root, d), root)), statSync(join(root, 'package.json')).mtimeMs);
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
