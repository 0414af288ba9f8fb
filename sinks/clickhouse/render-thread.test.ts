// The sink's render thread (render.ts ThreadRenderer) as its caller meets it when the thread goes away: every batch
// handed to it gets an answer. Registry look-ups stay on the main thread, so a batch may still be waiting on the
// registry when the thread ends; no network here (the registry is a stand-in).
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { avroType, encodeFramed, type SchemaRegistry } from '../../core/avro.ts';
import { SCHEMA_FILES } from '../../core/topology.ts';
import { sampleCdr } from './fixtures/sample-cdrs.ts';
import { createRenderer } from './render.ts';

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
