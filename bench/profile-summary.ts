// `node bin/run-ts.mjs bench/profile-summary.ts <file.cpuprofile> [top]`: where a CPU profile's time went, as self
// time per area (GC, idle, avsc, kafkajs, ClickHouse client, libphonenumber, the mappings, …) and per function, so a
// bound can be named from a real run (`npm run bench -- pipeline --profile DIR` writes the profiles).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

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

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary <file.cpuprofile> [top]');
  process.exit(64);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const busy = total - [...selfUs.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
const areas = new Map<string, number>();
const fns = new Map<string, number>();
for (const [id, t] of selfUs) {
  const node = byId.get(id)!;
  const area = areaOf(node);
  areas.set(area, (areas.get(area) ?? 0) + t);
  const short = node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(core|sinks|transforms|bench|connectors|app)\//, '$1/');
  const key = `${node.callFrame.functionName || '(anonymous)'} ${short}:${node.callFrame.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + t);
}
const pct = (t: number, of: number) => `${((100 * t) / of).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (not idle)`);
console.log('\nself time by area (share of busy time):');
for (const [area, t] of [...areas].sort((a, b) => b[1] - a[1])) if (!area.startsWith('idle')) console.log(`  ${pct(t, busy)}  ${area}`);
console.log(`  idle: ${pct(areas.get('idle (waiting on I/O)') ?? 0, total)} of all sampled time`);
console.log(`\ntop functions by self time (share of busy time):`);
for (const [fn, t] of [...fns].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) console.log(`  ${pct(t, busy)}  ${fn}`);
