// `npm run bench [-- <suite>... [--flag value]...]`: runs bench/suites/<suite>.ts (all suites when none is named), prints each
// suite's figures as JSON and keeps them in bench/results/<suite>-<timestamp>.json (git-ignored) for comparison.
// The command line is checked whole before any suite starts (bench/command-line.ts): a mistake exits 64 with one line.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../cli/command.ts';
import { benchUsage, planBench, type Suite } from './command-line.ts';

const SUITES = fileURLToPath(new URL('./suites/', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

const available = readdirSync(SUITES)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const load = async (name: string) => (await import(pathToFileURL(`${SUITES}${name}.ts`).href)) as Suite;

let plan;
try {
  plan = await planBench(
    process.argv.slice(2).filter((a) => a !== '--'),
    available,
    load,
  );
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`bench: ${err.message}\n(npm run bench -- --help lists the suites and their flags)`);
  process.exit(64);
}
if (plan.help) {
  console.log(benchUsage(await Promise.all(available.map(async (name) => ({ name, suite: await load(name) })))));
  process.exit(0);
}

mkdirSync(RESULTS, { recursive: true });
for (const { name, options } of plan.runs) {
  const suite = await load(name);
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
