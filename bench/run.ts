// `npm run bench [-- <suite>... [--option value]...]`: runs bench/suites/<suite>.ts (all suites when none is named), prints each
// suite's figures as JSON and keeps them in bench/results/<suite>-<timestamp>.json (git-ignored) for comparison.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SUITES = fileURLToPath(new URL('./suites/', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

interface Suite {
  /** Options given as `--name value` on the command line (e.g. `--records 20000`), for the suites that take any. */
  run(options: Record<string, string>): Promise<Record<string, unknown>>;
}

const available = readdirSync(SUITES)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const requested: string[] = [];
const options: Record<string, string> = {};
const args = process.argv.slice(2).filter((a) => a !== '--');
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (!arg.startsWith('--')) requested.push(arg);
  else if (arg.includes('=')) options[arg.slice(2, arg.indexOf('='))] = arg.slice(arg.indexOf('=') + 1);
  // A flag followed by another flag (or by nothing) takes no value: `--keep-topics --modes sink`.
  else options[arg.slice(2)] = args[i + 1] === undefined || args[i + 1]!.startsWith('--') ? '' : args[++i]!;
}
const unknown = requested.filter((s) => !available.includes(s));
if (unknown.length > 0) {
  console.error(`bench: unknown suite(s) ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(64);
}

mkdirSync(RESULTS, { recursive: true });
for (const name of requested.length > 0 ? requested : available) {
  const suite = (await import(pathToFileURL(`${SUITES}${name}.ts`).href)) as Suite;
  const startedAt = new Date();
  const figures = await suite.run(options);
  const report = {
    suite: name,
    started_at: startedAt.toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...figures,
  };
  const json = JSON.stringify(report, null, 2);
  const file = `${RESULTS}${name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${json}\n`);
  console.log(json);
  console.error(`bench: wrote ${file}`);
}
