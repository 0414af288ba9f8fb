// `node bin/run-ts.mjs bench/profile-summary.ts <file.cpuprofile> [top]`: where a CPU profile's time went, as self
// time per area (GC, idle, avsc, kafkajs, ClickHouse client, libphonenumber, the mappings, …) and per function, so a
// bound can be named from a real run (`npm run bench -- pipeline --profile DIR` writes the profiles).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { integer, parseFlags } from '../cli/args.ts';
import { UsageError } from '../cli/command.ts';

// The fields of a `.cpuprofile` (V8's Profiler.Profile) this summary reads; anything else in the file is ignored.
const ProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
type Profile = z.infer<typeof ProfileSchema>;
type ProfileNode = Profile['nodes'][number];

const AREAS: [string, RegExp][] = [
  ['kafkajs', /node_modules\/kafkajs\//],
  ['avsc', /node_modules\/avsc\//],
  ['schema registry client', /confluent-schema-registry/],
  ['libphonenumber', /libphonenumber/],
  ['clickhouse client / chdb', /node_modules\/(@clickhouse|chdb)\//],
  ['zod', /node_modules\/zod\//],
  ['tsx loader', /node_modules\/(tsx|esbuild)\//],
  ['normalize mapping', /transforms\/normalize\//],
  ['sink (rows, batcher, insert)', /sinks\/clickhouse\//],
  ['cdrflow core', /\/core\//],
  ['bench harness', /\/bench\//],
  ['node internals', /^node:/],
];

function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle (waiting on I/O)';
    if (functionName === '(program)') return 'native / VM (program)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  for (const [name, re] of AREAS) if (re.test(url)) return name;
  return 'other';
}

/** The summary's text: time sampled and busy, self time by area, then the `top` functions by self time. */
export function summarizeProfile(name: string, profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const busy = total - [...selfUs.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, t] of selfUs) {
    // A sample naming no node of the profile is counted, under an area of its own, not dropped.
    const node = byId.get(id) ?? { id, callFrame: { functionName: '(unknown node)', url: '', lineNumber: -1 } };
    const area = areaOf(node);
    areas.set(area, (areas.get(area) ?? 0) + t);
    const short = node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(core|sinks|transforms|bench|connectors|app)\//, '$1/');
    const key = `${node.callFrame.functionName || '(anonymous)'} ${short}:${node.callFrame.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  const pct = (t: number, of: number) => `${of > 0 ? ((100 * t) / of).toFixed(1).padStart(5) : '    –'}%`;
  const lines = [`${name}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (not idle)`, '', 'self time by area (share of busy time):'];
  for (const [area, t] of [...areas].sort((a, b) => b[1] - a[1])) if (!area.startsWith('idle')) lines.push(`  ${pct(t, busy)}  ${area}`);
  lines.push(`  idle: ${pct(areas.get('idle (waiting on I/O)') ?? 0, total)} of all sampled time`, '', 'top functions by self time (share of busy time):');
  for (const [fn, t] of [...fns].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(t, busy)}  ${fn}`);
  return lines.join('\n');
}

/** The command: one line naming the problem (exit 64 for the command line, 1 for the file) instead of a stack. */
function main(args: string[]): number {
  let file: string;
  let top: number;
  try {
    const { positionals } = parseFlags(args, {}, { maxPositionals: 2 });
    if (positionals[0] === undefined) throw new UsageError('a .cpuprofile file is required');
    file = positionals[0];
    top = integer('top', positionals[1] ?? '25', { min: 1, max: 10_000 });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`profile-summary: ${err.message}\nusage: profile-summary <file.cpuprofile> [top]`);
    return 64;
  }
  let profile: Profile;
  try {
    const parsed = ProfileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new Error('not a CPU profile (a JSON object with nodes, samples and timeDeltas)');
    profile = parsed.data;
  } catch (err) {
    console.error(`profile-summary: ${file}: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ')}`);
    return 1;
  }
  console.log(summarizeProfile(file, profile, top));
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
