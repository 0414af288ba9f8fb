#!/usr/bin/env node
// The `cdrflow` command. Runs the compiled copy in dist/ (built by `npm install`, see bin/build-dist.mjs) when it
// matches the sources, which starts in a fraction of the time; otherwise compiles the TypeScript at run time with
// tsx, so `npx cdrflow` also works on an edited tree or when the build did not run.
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './dist-state.mjs';
import { nodeVersionProblem } from './node-version.mjs';

const tooOld = nodeVersionProblem(process.version);
if (tooOld) {
  console.error(tooOld);
  process.exit(1);
}

const root = new URL('../', import.meta.url);
// fileURLToPath, not .pathname: that keeps a space in the path as %20, and dist/ was never found in such a checkout.
if (process.env.CDRFLOW_NO_DIST !== '1' && distIsFresh(fileURLToPath(root))) {
  await import(new URL('dist/cli/main.js', root).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
