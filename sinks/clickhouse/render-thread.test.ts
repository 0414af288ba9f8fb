// The sink's render thread (render.ts ThreadRenderer) as its caller meets it when the thread goes away or hangs: every
// batch handed to it gets an answer. Registry look-ups stay on the main thread, so a batch may still be waiting on the
// registry when the thread ends; no network here (the registry is a stand-in).
import avro from 'avsc';
import { describe, expect, it, vi } from 'vitest';
import { avroType, encodeFramed, type SchemaRegistry } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { memoryLog } from '../../core/log.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { createRenderer, type RenderResult } from './render.ts';

const type = avroType(SCHEMA_FILES.normalized);

/** A registry whose answers wait until the test lets them go; `asked` settles when the first question arrives. */
function heldRegistry() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let asked!: () => void;
  const wasAsked = new Promise<void>((resolve) => (asked = resolve));
  const registry = {
    async getSchema(): Promise<avro.Type> {
      asked();
      await released;
      return type;
    },
  } as unknown as SchemaRegistry;
  return { registry, release, wasAsked };
}

/** `promise`'s outcome, or 'pending' when it has not settled within `ms`. */
const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => 'resolved', (err: unknown) => err), new Promise((r) => setTimeout(() => r('pending'), ms).unref())]);

describe('the render thread going away', () => {
  it('answers a batch that was waiting on the registry when the thread ended, instead of leaving it hanging', async () => {
    const { registry, release, wasAsked } = heldRegistry();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true });
    await renderer.ready();
    const value = encodeFramed(type, 41, sampleCdr(1));
    const rendering = renderer.render([{ topic: 'cdr.normalized', partition: 0, offset: 0, key: null, value, timestamp: 0 }]);
    await wasAsked;
    // The thread ends (here: the sink closes it, as a crash would end it) while the batch's writer is being fetched.
    await renderer.close();
    release();
    const outcome = await settledWithin(rendering, 2_000);
    expect(outcome).toBeInstanceOf(Error);
    expect(String(outcome)).toMatch(/closed|exited/);
  });
});

/** The render thread with hostile inputs (fixtures/hostile-render-worker.ts): "HANG" loops it, "EXIT" ends it, "GROW" grows its heap, "QUIT" ends it after its answer. */
const HOSTILE = new URL('./fixtures/hostile-render-worker.ts', import.meta.url);
const registry = { getSchema: async () => type } as unknown as SchemaRegistry;
const at = (offset: number, value: Buffer) => ({ topic: 'cdr.normalized', partition: 0, offset, key: null, value, timestamp: 0 });
const good = (offset: number) => at(offset, encodeFramed(type, 41, sampleCdr(offset)));
const kinds = (results: RenderResult[]) => results.map((r) => ('error' in r ? r.error.kind : 'row'));

describe('the render thread not answering', () => {
  it('is terminated after its deadline with one log line; the batch is rendered in halves and the record that hangs the thread alone is a dead letter', async () => {
    const log = memoryLog();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE, deadlineMs: () => 4_000, log });
    await renderer.ready();
    try {
      const results = await renderer.render([good(0), at(1, Buffer.from('HANG')), good(2)]);
      expect(results.map((r) => ('error' in r ? r.error.kind : 'row'))).toEqual(['row', 'bad_record', 'row']);
      expect(results[1]).toMatchObject({ error: { message: expect.stringMatching(/sink render thread did not answer within 4000 ms/) } });
      const lines = log.entries.filter((e) => e.event === 'sink.render_thread_timeout');
      // The whole batch, then the half holding the record, then the record alone.
      expect(lines.map((e) => e.fields.doing)).toEqual(['rendering cdr.normalized[0] offsets 0-2 (3 records)', 'rendering cdr.normalized[0] offsets 1-2 (2 records)', 'rendering cdr.normalized[0] offsets 1-1 (1 records)']);
      expect(lines[0]!.fields).toMatchObject({ thread: 'sink render', waitedMs: 4_000 });
      // The thread that took its place renders the next batch.
      expect(await renderer.render([good(3)])).toHaveLength(1);
    } finally {
      await renderer.close();
    }
  }, 60_000);

  it('dead-letters a lone record only once it hung a thread twice (a first time may be the thread, not the record)', async () => {
    const log = memoryLog();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE, deadlineMs: () => 4_000, log });
    await renderer.ready();
    try {
      const [result] = await renderer.render([at(7, Buffer.from('HANG'))]);
      expect(result).toMatchObject({ error: { kind: 'bad_record' } });
      expect(log.entries.filter((e) => e.event === 'sink.render_thread_timeout')).toHaveLength(2);
    } finally {
      await renderer.close();
    }
  }, 60_000);
});

describe('the render thread ending', () => {
  it('under a batch: one log line per end; the batch is rendered in halves by fresh threads and the record that ends a thread alone is a dead letter', async () => {
    const log = memoryLog();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE, log });
    await renderer.ready();
    try {
      const results = await renderer.render([good(0), at(1, Buffer.from('EXIT')), good(2)]);
      expect(kinds(results)).toEqual(['row', 'bad_record', 'row']);
      expect(results[1]).toMatchObject({ error: { message: "the record ended the render thread: the sink's render thread exited (code 3)" } });
      const lines = log.entries.filter((e) => e.event === 'sink.render_thread_ended');
      // The whole batch, then the half holding the record, then the record alone.
      expect(lines.map((e) => e.fields.error)).toEqual(Array(3).fill("the sink's render thread exited (code 3)"));
      // The thread that took its place renders the next batch.
      expect(kinds(await renderer.render([good(3)]))).toEqual(['row']);
    } finally {
      await renderer.close();
    }
  }, 60_000);

  it('dead-letters a lone record only once it ended a thread twice', async () => {
    const log = memoryLog();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE, log });
    await renderer.ready();
    try {
      const [result] = await renderer.render([at(7, Buffer.from('EXIT'))]);
      expect(result).toMatchObject({ error: { kind: 'bad_record' } });
      expect(log.entries.filter((e) => e.event === 'sink.render_thread_ended')).toHaveLength(2);
    } finally {
      await renderer.close();
    }
  }, 60_000);

  it('through its heap bound: a record that makes the thread allocate without end ends it (not the process) and is a dead letter', async () => {
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE });
    await renderer.ready();
    try {
      const results = await renderer.render([good(0), at(1, Buffer.from('GROW'))]);
      expect(kinds(results)).toEqual(['row', 'bad_record']);
      expect(results[1]).toMatchObject({ error: { message: expect.stringMatching(/^the record ended the render thread: .*memory limit/) } });
    } finally {
      await renderer.close();
    }
  }, 60_000);

  it('idle is replaced, with one log line, and the next batch is rendered', async () => {
    const log = memoryLog();
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: HOSTILE, log });
    await renderer.ready();
    try {
      // Answered, then the thread exits with no batch out.
      expect(await renderer.render([at(0, Buffer.from('QUIT'))])).toMatchObject([{ error: { kind: 'bad_record' } }]);
      await vi.waitFor(() => expect(log.entries.filter((e) => e.event === 'sink.render_thread_ended')).toHaveLength(1), { timeout: 5_000 });
      expect(log.entries.find((e) => e.event === 'sink.render_thread_ended')!.fields).toMatchObject({ error: "the sink's render thread exited (code 4)", batches: 0 });
      expect(kinds(await renderer.render([good(1)]))).toEqual(['row']);
    } finally {
      await renderer.close();
    }
  });

  it('before it said it is ready stops the sink as a bug: no fresh thread would start either', async () => {
    const renderer = createRenderer(registry, 'TabSeparated', { thread: true, entry: new URL('./fixtures/no-such-render-worker.ts', import.meta.url) });
    await expect(renderer.ready()).rejects.toMatchObject({ kind: 'bug' });
    await expect(renderer.render([good(0)])).rejects.toMatchObject({ kind: 'bug' });
    await renderer.close();
  });
});
