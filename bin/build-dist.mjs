#!/usr/bin/env node
// Compiles the project's TypeScript to plain JavaScript in dist/ (git-ignored) so `cdrflow` starts without
// compiling at run time. Run by `npm install` (the `prepare` script) and by `npm run build`. bin/cdrflow.mjs uses
// dist/ only while it is newer than every source file and falls back to tsx otherwise, so an edit never runs stale
// code.
//
// One output file per source file (no bundling): each keeps its imports, relative ones renamed .ts -> .js, and
// packages stay external. `import.meta.url` is rewritten to the SOURCE file's URL because several modules find
// their resources (schemas/, migrations/, the repository root) relative to themselves.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { newestSourceMtime, sourceDirs } from './dist-state.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'dist');

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative imports stay imports of the sibling compiled file; everything else is a package, left to Node. */
const keepImports = {
  name: 'keep-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (args.path.startsWith('.')) return { path: args.path.replace(/\.ts$/, '.js'), external: true };
      return { path: args.path, external: true };
    });
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const compiled = join(OUT, relative(ROOT, args.path)).replace(/\.ts$/, '.js');
      const back = relative(dirname(compiled), args.path).split(sep).join('/');
      const sourceUrl = `new URL(${JSON.stringify(back)}, import.meta.url).href`;
      return { contents: text.replaceAll('import.meta.url', sourceUrl), loader: 'ts' };
    });
  },
};

const started = Date.now();
// The newest source time is read BEFORE compiling: a file saved during the build leaves dist/ stale, not fresh.
const sourceMtime = newestSourceMtime(ROOT);
const entryPoints = sourceDirs(ROOT).flatMap((d) => sources(join(ROOT, d)));
// Built next to nothing a linter or git looks at (.data/ is ignored by both), then moved into place.
const tmp = join(ROOT, '.data', `dist-build-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
await build({
  entryPoints,
  outdir: tmp,
  outbase: ROOT,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
  // Tells the compiled copy it is one: core/worker-thread.ts then starts worker threads on their compiled entries,
  // without registering tsx in each thread.
  define: { __CDRFLOW_DIST__: 'true' },
  plugins: [keepImports],
});
// `cdrflow --help` and `cdrflow help <command>` read the commands' texts from here instead of loading every command
// (and the packages each imports).
const commands = [];
for (const file of readdirSync(join(tmp, 'cli', 'commands')).filter((f) => f.endsWith('.js')).sort()) {
  const { command } = await import(pathToFileURL(join(tmp, 'cli', 'commands', file)).href);
  commands.push({ name: command.name, summary: command.summary, usage: command.usage });
}
writeFileSync(join(tmp, 'commands.json'), JSON.stringify(commands, null, 1) + '\n');
writeFileSync(join(tmp, 'dist-state.json'), JSON.stringify({ sourceMtime, builtAt: new Date().toISOString(), files: entryPoints.length }) + '\n');
// Swap in one step so a `cdrflow` started meanwhile sees the old tree or the new one, never half of one.
const old = join(ROOT, '.data', `dist-old-${process.pid}`);
try {
  renameSync(OUT, old);
} catch {
  /* no previous build */
}
renameSync(tmp, OUT);
rmSync(old, { recursive: true, force: true });
if (!process.argv.includes('--quiet')) {
  console.error(`cdrflow: compiled ${entryPoints.length} files to ${relative(resolve('.'), OUT) || OUT} in ${Date.now() - started} ms`);
}
