// A registry's answers are read at most MAX_REGISTRY_ANSWER_BYTES far, on every path that reads one: the client's
// (a writer by id, a registration) and the plain looks (fetchWriter's second look at a 404, `schemas check`). A URL
// pointing at a server that streams without end, or a registry answering a schema of hundreds of MB, was read whole
// into memory in every stage's process.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { checkCompatibility } from '../cli/commands/schemas.ts';
import { createRegistry, fetchWriter, RefusedWriters, TopicCodec } from './avro.ts';
import { classifyRegistryError } from './dead-letter.ts';
import { MAX_REGISTRY_ANSWER_BYTES } from './input-limits.ts';
import { SCHEMA_FILES, TOPICS } from './topology.ts';
import { streamUntilClosed } from '../test/endless-answer.ts';

/** What the stand-in would send at most: far over the limit, so that an answer read whole is told from one cut. */
const CAP = 16 * MAX_REGISTRY_ANSWER_BYTES;
const CHUNK = Buffer.alloc(64 * 1024, ' ');

let server: Server | undefined;
afterEach(() => server?.close());

/** A loopback server answering every request with `answer`; resolves with its base URL and what each answer sent. */
async function endlessRegistry(answer: (res: ServerResponse) => Promise<{ sent: number; whole: boolean }>): Promise<{ url: string; outcomes: Promise<{ sent: number; whole: boolean }>[] }> {
  const outcomes: Promise<{ sent: number; whole: boolean }>[] = [];
  server = createServer((req, res) => {
    req.resume();
    outcomes.push(answer(res));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, outcomes };
}

/** 200 with a JSON body that opens a schema's string and never closes it, chunked, until the client hangs up. */
const endlessSchema = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
  res.write('{"schema":"');
  return streamUntilClosed(res, CHUNK, CAP);
};

/** The error said names the limit and the URL, is one a stage waits out, and the answer was cut near the limit. */
async function expectCut(err: unknown, url: string, outcomes: Promise<{ sent: number; whole: boolean }>[]): Promise<void> {
  for (const { sent, whole } of await Promise.all(outcomes)) {
    expect(whole).toBe(false);
    // What the socket buffers take beyond the limit before the hang-up is seen: a few MB at most, never the whole.
    expect(sent).toBeLessThan(3 * MAX_REGISTRY_ANSWER_BYTES);
  }
  expect(classifyRegistryError(err, 'reading')).toMatchObject({ kind: 'transient', message: expect.stringContaining(`over ${MAX_REGISTRY_ANSWER_BYTES} bytes`) });
  expect((err as Error).message).toContain(url);
}

describe('a registry answer over MAX_REGISTRY_ANSWER_BYTES', () => {
  it('is refused unread past the limit when the client fetches a writer', async () => {
    const { url, outcomes } = await endlessRegistry(endlessSchema);
    const registry = createRegistry(url);
    const err = await fetchWriter(registry, 1, new RefusedWriters(registry)).then(() => new Error('read whole'), (e: unknown) => e);
    await expectCut(err, `${url}/schemas/ids/1`, outcomes);
  });

  it('is refused unread past the limit when the client registers', async () => {
    const { url, outcomes } = await endlessRegistry((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      return streamUntilClosed(res, CHUNK, CAP);
    });
    const err = await new TopicCodec(createRegistry(url), TOPICS.deadLetter, SCHEMA_FILES.deadLetter).register().then(() => new Error('registered'), (e: unknown) => e);
    await expectCut(err, url, outcomes);
  });

  it("is refused unread past the limit in fetchWriter's plain look at a 404", async () => {
    let asked = 0;
    const { url, outcomes } = await endlessRegistry((res) => {
      // The client's request: a 404 without the registry's code (the client keeps only its status); the look: endless.
      if (++asked === 1) return new Promise((resolve) => res.writeHead(404, { 'content-type': 'text/html' }).end('<html>no</html>', () => resolve({ sent: 0, whole: false })));
      res.writeHead(404, { 'content-type': 'text/html' });
      return streamUntilClosed(res, CHUNK, CAP);
    });
    const registry = createRegistry(url);
    const err = await fetchWriter(registry, 1, new RefusedWriters(registry)).then(() => new Error('read whole'), (e: unknown) => e);
    await expectCut(err, `${url}/schemas/ids/1`, outcomes);
  });

  it("is refused unread past the limit by `schemas check`'s look at a subject's versions", async () => {
    const { url, outcomes } = await endlessRegistry((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      return streamUntilClosed(res, CHUNK, CAP);
    });
    const err = await checkCompatibility(url, 'x-value', { type: 'string' }).then(() => new Error('read whole'), (e: unknown) => e);
    await expectCut(err, `${url}/subjects/x-value/versions`, outcomes);
  });
});

describe('a registry answer announced over MAX_REGISTRY_ANSWER_BYTES', () => {
  // Announced, then held back: only refusing on the announcement ends the request before its time limit.
  const announced = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(16 * MAX_REGISTRY_ANSWER_BYTES) });
    res.write('{"schema":"');
    return new Promise<{ sent: number; whole: boolean }>((resolve) => res.on('close', () => resolve({ sent: 0, whole: res.writableFinished })));
  };

  it('is refused on its announcement by the client and by a plain look', async () => {
    const { url, outcomes } = await endlessRegistry(announced);
    const registry = createRegistry(url);
    const client = await fetchWriter(registry, 1, new RefusedWriters(registry)).then(() => new Error('read whole'), (e: unknown) => e);
    const look = await checkCompatibility(url, 'x-value', { type: 'string' }).then(() => new Error('read whole'), (e: unknown) => e);
    for (const err of [client, look]) expect((err as Error).message).toContain(`answered ${16 * MAX_REGISTRY_ANSWER_BYTES} bytes (announced), over ${MAX_REGISTRY_ANSWER_BYTES} bytes`);
    await expectCut(client, `${url}/schemas/ids/1`, outcomes);
  });
});
