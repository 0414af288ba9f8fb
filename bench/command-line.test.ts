import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/command.ts';
import { seededRandom } from '../simulators/kit.ts';
import { benchUsage, planBench, type Suite } from './command-line.ts';
import * as pipeline from './suites/pipeline.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

/** Two suites: one with a flag, one without; run() is never called by the plan. */
const fakeSuites: Record<string, Suite> = {
  alpha: {
    flags: { count: { type: 'string', needs: 'a count' } },
    parseOptions: (values) => ({ count: Number(values['count'] ?? 1) }),
    run: () => Promise.reject(new Error('not run by a plan')),
  },
  beta: { run: () => Promise.reject(new Error('not run by a plan')) },
};
const loadFake = (name: string) => Promise.resolve(fakeSuites[name]!);
const plan = (args: string[]) => planBench(args, Object.keys(fakeSuites), loadFake);
const realPlan = (args: string[]) => planBench(args, ['pipeline'], () => Promise.resolve(pipeline as unknown as Suite));

async function usageMessage(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return (err as Error).message;
}

describe('planBench', () => {
  it('runs every suite when none is named, each with its own options', async () => {
    expect(await plan([])).toEqual({ help: false, runs: [{ name: 'alpha', options: { count: 1 } }, { name: 'beta', options: undefined }] });
    expect(await plan(['beta', 'alpha', '--count', '7'])).toEqual({
      help: false,
      runs: [
        { name: 'beta', options: undefined },
        { name: 'alpha', options: { count: 7 } },
      ],
    });
    expect((await plan(['alpha', 'alpha'])).runs).toHaveLength(1);
  });

  it('refuses an unknown suite, with a guess when one is close', async () => {
    expect(await usageMessage(plan(['alpah']))).toBe('unknown suite "alpah" (did you mean alpha?); suites: alpha, beta');
    expect(await usageMessage(plan(['zzz']))).toMatch(/^unknown suite "zzz"; suites/);
  });

  it('refuses a flag no named suite takes, a flag without its value, and a suite name after the flags', async () => {
    expect(await usageMessage(plan(['beta', '--count', '3']))).toBe('unexpected argument "--count"');
    expect(await usageMessage(plan(['alpha', '--cuont', '3']))).toBe('unexpected argument "--cuont" (did you mean --count?)');
    expect(await usageMessage(plan(['alpha', '--count']))).toBe('--count needs a count');
    expect(await usageMessage(plan(['alpha', '--count', '3', 'beta']))).toBe('unexpected argument "beta"');
  });

  it('answers --help without checking the other flags', async () => {
    expect(await plan(['--help'])).toEqual({ runs: [], help: true });
    expect(await plan(['alpha', '-h'])).toEqual({ runs: [], help: true });
    const usage = benchUsage(Object.entries(fakeSuites).map(([name, suite]) => ({ name, suite })));
    expect(usage).toContain('alpha\n      --count <a count>');
    expect(usage).toContain('  beta');
  });
});

describe('the pipeline suite’s flags', () => {
  it('defaults to the documented run: the round modes, 100,000 records, 3 rounds, 500 and 2,000 CDR/s', async () => {
    const { runs } = await realPlan(['pipeline']);
    const options = runs[0]!.options as pipeline.PipelineOptions;
    expect(options.modes).toEqual(['k1', 'k2', 'normalize', 'normalize_w2', 'c1', 'sink', 'e2e']);
    expect(options.total).toBe(100_000);
    expect(options.rounds).toBe(3);
    expect(options.keepTopics).toBe(false);
    expect(options.profileDir).toBeUndefined();
    expect(options.latency).toEqual({ rates: [500, 2000], seconds: 20, batch: 4, connections: 32, drainTimeoutSec: 600, rampSeconds: 10 });
    expect(pipeline.parseOptions({ modes: 'all' }, {}).modes).toContain('latency');
    expect(pipeline.parseOptions({}, { BENCH_RECORDS: '5000' }).total).toBe(5000);
    expect(pipeline.parseOptions({ records: '20000' }, { BENCH_RECORDS: '5000' }).total).toBe(20_000);
    expect(pipeline.parseOptions({ modes: ' sink,e2e,sink ', 'keep-topics': true }, {})).toMatchObject({ modes: ['sink', 'e2e'], keepTopics: true });
  });

  it.each([
    [{ records: '0' }, '--records'],
    [{ records: '1e99' }, '--records'],
    [{ records: '2.5' }, '--records'],
    [{ rounds: '' }, '--rounds'],
    [{ rounds: '21' }, '--rounds'],
    [{ 'e2e-workers': '17' }, '--e2e-workers'],
    [{ modes: '' }, '--modes'],
    [{ modes: 'e2e,,sink' }, '--modes'],
    [{ modes: 'ALL' }, '--modes'],
    [{ 'latency-rates': '500,' }, '--latency-rates'],
    [{ 'latency-rates': 'Infinity' }, '--latency-rates'],
    [{ 'latency-rates': '50001' }, '--latency-rates'],
    [{ 'latency-seconds': '0' }, '--latency-seconds'],
    [{ 'latency-seconds': ' ' }, '--latency-seconds'],
    [{ 'latency-batch': '51' }, '--latency-batch'],
    [{ 'latency-connections': '0x10' }, '--latency-connections'],
    [{ 'latency-connections': '1025' }, '--latency-connections'],
    [{ 'latency-drain-timeout': 'NaN' }, '--latency-drain-timeout'],
    [{ 'latency-ramp-seconds': '-1' }, '--latency-ramp-seconds'],
  ] as const)('refuses %j, naming %s', (values, flag) => {
    expect(() => pipeline.parseOptions(values, {})).toThrow(UsageError);
    expect(() => pipeline.parseOptions(values, {})).toThrow(flag);
  });

  it('names BENCH_RECORDS when that is what is out of range', () => {
    expect(() => pipeline.parseOptions({}, { BENCH_RECORDS: 'lots' })).toThrow(/^BENCH_RECORDS needs/);
  });

  it('fuzz: any command line is either a plan within the bounds or one UsageError', async () => {
    // The project's seeded generator, so a failure replays.
    const rand = seededRandom(0x5eed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    const names = [...Object.keys(pipeline.flags), 'mode', 'help-me', '', '-', 'records=5'];
    const values = ['1', '0', '-1', '3', '20', '21', '1e3', '1e99', 'all', 'e2e', 'k1,sink', ',', '', ' ', 'NaN', '0x1f', '500,2000', '\u0000', 'é', '--rounds', '2.5', '50000', '1000000'];
    let plans = 0;
    let refusals = 0;
    for (let i = 0; i < 2_000; i++) {
      const args = ['pipeline'];
      for (let n = Math.floor(rand() * 4); n > 0; n--) {
        const flag = `--${pick(names)}`;
        const r = rand();
        if (r < 0.4) args.push(flag, pick(values));
        else if (r < 0.8) args.push(`${flag}=${pick(values)}`);
        else args.push(flag);
      }
      if (args.includes('--help')) continue;
      const outcome = await realPlan(args).then(
        (p) => p,
        (e: unknown) => e,
      );
      if (outcome instanceof Error) {
        expect(outcome, args.join(' ')).toBeInstanceOf(UsageError);
        expect(outcome.message.length).toBeLessThan(300);
        refusals++;
        continue;
      }
      const o = (outcome as Awaited<ReturnType<typeof realPlan>>).runs[0]!.options as pipeline.PipelineOptions;
      expect(Number.isInteger(o.total) && o.total >= 1 && o.total <= 1_000_000, args.join(' ')).toBe(true);
      expect(Number.isInteger(o.rounds) && o.rounds >= 1 && o.rounds <= 20, args.join(' ')).toBe(true);
      expect(o.modes.length).toBeGreaterThan(0);
      expect(o.latency.rates.every((r) => r > 0 && r <= 50_000)).toBe(true);
      plans++;
    }
    // The generator reaches both outcomes, so neither branch's checks are vacuous.
    expect(plans).toBeGreaterThan(50);
    expect(refusals).toBeGreaterThan(50);
  });
});

describe('npm run bench on a bad command line', () => {
  it('exits 64 with one line naming the flag, before connecting to anything or writing a result', () => {
    const before = existsSync(RESULTS) ? readdirSync(RESULTS).length : 0;
    // Nothing listens on port base 1 (ports 1000+), so a run that did start would fail to connect, not hang.
    const r = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/run.ts', 'pipeline', '--mode', 'e2e'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CDRFLOW_PORT_BASE: '1000', KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' },
      timeout: 60_000,
    });
    expect(r.status).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('bench: unexpected argument "--mode" (did you mean --modes?)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(RESULTS) ? readdirSync(RESULTS).length : 0).toBe(before);
  });
});
