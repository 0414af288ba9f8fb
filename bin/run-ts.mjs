#!/usr/bin/env node
// Runs any project TypeScript file: `node bin/run-ts.mjs <file.ts> [args]` (used by npm scripts and child-process tests).
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
register();
const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts <file.ts> [args...]');
  process.exit(64);
}
process.argv = [process.argv[0], resolve(file), ...rest];
await import(pathToFileURL(resolve(file)).href);
