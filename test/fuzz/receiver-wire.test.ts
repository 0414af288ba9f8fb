// Fuzz (d): the receiver's framing over raw loopback sockets, where fetch cannot go: a Content-Length that lies or is
// written oddly, requests pipelined on one keep-alive connection, bodies cut at every point or sent slowly, and
// declared bodies that together exceed bodyBudgetBytes. Whatever arrives, after each case: a push answered 200 was
// stored exactly once and a push stored was answered 200, no request is answered twice or left unanswered on a
// connection still open, the body budget is whole again, and nothing failed unhandled. Seeded and bounded: three tests
// draw from a seed (slow bodies from it, the budget from it + 1, the pipelined mix from it + 2), each running every
// seed of the range in turn, and a failure (printed with its seed) replays alone: CDRFLOW_FUZZ_RECEIVER_WIRE_ONLY=
// <seed>[,<seed>] runs just those; CDRFLOW_FUZZ_RECEIVER_WIRE_SEED (first, 41) and CDRFLOW_FUZZ_RECEIVER_WIRE_COUNT
// (how many seeds, 1) move the range, and those tests' timeouts grow with the seeds run (test/fuzz/seeds.ts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { startReceiver } from '../../connectors/push-vendors.ts';
import { type RunningReceiver } from '../../connectors/receiver/receiver.ts';
import { MemorySink } from '../../connectors/receiver/fixtures/memory-sink.ts';
import { Wire } from '../../connectors/receiver/fixtures/wire.ts';
import { memoryLog } from '../../core/log.ts';
import { waitFor } from '../helpers.ts';
import { huaweiAuthHeaders } from '../../simulators/huawei-privatenumber/sign.ts';
import { HuaweiFeeGenerator } from '../../simulators/huawei-privatenumber/generator.ts';
import { seededRandom } from '../../simulators/kit.ts';
import { campaignSeeds } from './seeds.ts';

const KIB = 1024;
const APP = { appKey: 'hwWireApp', appSecret: 'hwWireSecret' };
const FEE_PATH = '/huawei/privatenumber/fee';
const BUDGET = 100 * KIB;
const BODY_TIMEOUT_MS = 1_000;
const { eachSeed, timeoutMs } = campaignSeeds('RECEIVER_WIRE', 1, undefined, 41);

const sink = new MemorySink();
const log = memoryLog();
const registry = new Registry();
let r: RunningReceiver;
const wires: Wire[] = [];

const CONFIG = {
  port: 0,
  bodyLimitBytes: 64 * KIB,
  bodyBudgetBytes: BUDGET,
  bodyTimeoutMs: BODY_TIMEOUT_MS,
  headersTimeoutMs: 1_000,
  // Cases here pipeline thousands of requests behind a push held for Kafka, to fill the answers Node queues; the
  // bound on such requests (connectors/receiver/body-budget.test.ts) would close those connections first.
  maxPipelinedRequests: 1_000_000,
  huawei: { apps: [APP], topics: { fee: 'w.fee', events: 'w.events' } },
};

beforeAll(async () => {
  r = await startReceiver(CONFIG, { sink, log, registry });
});
afterAll(() => r.stop());
function cleanUp(): void {
  sink.release();
  for (const w of wires.splice(0)) w.destroy();
}
afterEach(cleanUp);


let pushes = 0;
/** A signed Huawei fee push with a sessionId of its own (its id), `pad` bytes longer for size cases. */
function push(opts: { pad?: number; secret?: string } = {}) {
  const id = `wire-${pushes++}`;
  const record = { ...new HuaweiFeeGenerator({ seed: pushes, appKey: APP.appKey }).batch(1)[0], sessionId: id };
  const body = Buffer.from(JSON.stringify({ eventType: 'fee', feeLst: [record], ...(opts.pad ? { pad: 'p'.repeat(opts.pad) } : {}) }));
  const auth = huaweiAuthHeaders(APP.appKey, opts.secret ?? APP.appSecret);
  const head = (framing: string) =>
    `POST ${FEE_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json;charset=UTF-8\r\n${Object.entries(auth).map(([k, v]) => `${k}: ${v}\r\n`).join('')}${framing}\r\n`;
  return {
    id,
    body,
    /** Framed by Content-Length, written as `length` (the true length unless given). */
    cl: (length: string | number = body.length) => Buffer.concat([Buffer.from(head(`content-length: ${length}\r\n`)), body]),
    /** Framed chunked, cut into `pieces` chunks. */
    chunked: (pieces = 2, framing = 'transfer-encoding: chunked\r\n') => {
      const step = Math.ceil(body.length / pieces);
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length; at += step) {
        const part = body.subarray(at, at + step);
        chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
      }
      return Buffer.concat([Buffer.from(head(framing)), ...chunks, Buffer.from('0\r\n\r\n')]);
    },
    head,
  };
}

/** One connection and the pushes written on it, in order (null: a request that is not a push of ours). */
interface Conn {
  wire: Wire;
  sent: (string | null)[];
}

function open(port = r.port): Wire {
  const w = new Wire(port);
  wires.push(w);
  return w;
}

const storedCount = (id: string, into = sink) => into.envelopes().filter((e) => e.natural_key === id).length;

/**
 * The campaign's invariants, once the receiver has nothing in flight: answers in order never outnumber the requests
 * (one more, a refusal of bytes that were no request, only as the connection's last word), every push answered 200 is
 * stored exactly once and every push stored was answered 200, an open connection has an answer for each request, the
 * budget is whole and no request failed unhandled. `expectAnswered`: requests that must have their answer, open or not.
 */
async function settle(conns: Conn[], opts: { expectAnswered?: boolean } = {}) {
  const answeredAll = (c: Conn) => c.wire.responses.length >= c.sent.filter((s) => s !== null).length;
  await waitFor(() => r.metrics.inFlight.value() === 0 && conns.every((c) => (opts.expectAnswered ? answeredAll(c) : c.wire.closed || answeredAll(c))), {
    timeoutMs: 10_000,
    message: 'every request answered or its connection closed',
    details: () => conns.map((c) => `sent ${JSON.stringify(c.sent)} answers ${c.wire.responses.map((a) => a.status).join(',')} closed ${c.wire.closed} held ${r.bodyBytesHeld()} inFlight ${r.metrics.inFlight.value()}`).join('\n'),
  });
  const answered200 = new Set<string>();
  for (const c of conns) {
    const pushesSent = c.sent.filter((s) => s !== null).length;
    expect(c.wire.responses.length, `answers on a connection with ${JSON.stringify(c.sent)}`).toBeLessThanOrEqual(c.sent.length + 1);
    c.wire.responses.forEach((answer, i) => {
      const id = c.sent[i];
      if (answer.status === 200) {
        expect(id, `a 200 for request ${i} of ${JSON.stringify(c.sent)}`).toBeTypeOf('string');
        answered200.add(id!);
      }
      if (i >= pushesSent) expect(answer.status, 'an answer past the last request').toBeGreaterThanOrEqual(400);
    });
  }
  for (const c of conns) {
    for (const id of c.sent) {
      if (id === null) continue;
      expect(storedCount(id), `push ${id} answered ${answered200.has(id) ? '200' : 'otherwise'}`).toBe(answered200.has(id) ? 1 : 0);
    }
  }
  expect(r.bodyBytesHeld()).toBe(0);
  expect(log.entries.filter((e) => e.event === 'receiver.answer_failed')).toEqual([]);
  const errors = (await registry.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values.filter((v) => v.labels['outcome'] === 'error' && v.value > 0);
  expect(errors).toEqual([]);
}

const statuses = (c: Conn) => c.wire.responses.map((a) => a.status);

/** Requests Node refused before they reached a route (counted under vendor `none`). */
async function refusedByNode(on = registry): Promise<number> {
  const values = (await on.getSingleMetric('cdrflow_receiver_requests_total')!.get()).values;
  return values.filter((v) => v.labels['vendor'] === 'none').reduce((n, v) => n + v.value, 0);
}

describe('fuzz: the receiver on the wire', () => {
  it('pipelined on one keep-alive connection: two good pushes both answered; behind a refusal that closes, nothing read', async () => {
    const two = { wire: open(), sent: [] as (string | null)[] };
    const [a, b] = [push(), push()];
    two.sent.push(a.id, b.id);
    two.wire.write(Buffer.concat([a.cl(), b.chunked(3)]));

    const unsignedFirst = { wire: open(), sent: [] as (string | null)[] };
    const [bad, good] = [push({ secret: 'wrong' }), push()];
    unsignedFirst.sent.push(bad.id, good.id);
    unsignedFirst.wire.write(Buffer.concat([bad.cl(), good.cl()]));

    // Over the budget is decided a moment after the headers (not at once like the signature).
    const holder = open();
    holder.write(push().head(`content-length: ${60 * KIB}\r\n`));
    await waitFor(() => r.bodyBytesHeld() === 60 * KIB);
    const busyFirst = { wire: open(), sent: [] as (string | null)[] };
    const [big, small] = [push({ pad: 50 * KIB }), push()];
    busyFirst.sent.push(big.id, small.id);
    busyFirst.wire.write(Buffer.concat([big.cl(), small.cl()]));
    await busyFirst.wire.whenClosed;
    holder.destroy();

    await settle([two, unsignedFirst, busyFirst]);
    expect(statuses(two)).toEqual([200, 200]);
    expect(two.wire.closed).toBe(false);
    expect(statuses(unsignedFirst)).toEqual([401]);
    expect(statuses(busyFirst)).toEqual([503]);
  });

  it('a good push, then bytes that are no request while the push waits for Kafka: the pushes get their 200s, then the garbage its 400', async () => {
    sink.hold();
    const c = { wire: open(), sent: [] as (string | null)[] };
    const p = push();
    c.sent.push(p.id);
    c.wire.write(p.cl());
    await sink.heldCount(1);
    const before = await refusedByNode();
    c.wire.write('NOT HTTP AT ALL\r\n\r\n');
    // The garbage is refused by Node's parser meanwhile; the push must still be answered once Kafka acknowledges.
    await waitFor(async () => (await refusedByNode()) > before);
    sink.release();
    await settle([c], { expectAnswered: true });
    expect(statuses(c)).toEqual([200, 400]);

    // Two pushes, then garbage while the first waits for Kafka and the second for its turn: both are answered.
    sink.hold();
    const [a, b] = [push(), push()];
    const two = { wire: open(), sent: [a.id, b.id] as (string | null)[] };
    two.wire.write(Buffer.concat([a.cl(), b.chunked(2)]));
    await sink.heldCount(1);
    const refusedBefore = await refusedByNode();
    two.wire.write('GARBAGE\r\n\r\n');
    await waitFor(async () => (await refusedByNode()) > refusedBefore);
    sink.release();
    await settle([two], { expectAnswered: true });
    expect(statuses(two)).toEqual([200, 200, 400]);
  });

  it('a client that does not read its answers, garbage behind its pushes: the refusal waits for the answers Node still holds', async () => {
    // Loopback takes about 4 MB of answers a client leaves unread; the health answers beyond that wait in Node's queue
    // for the socket. A refusal written past them took their place, and the close dropped them: the last push stored,
    // its 200 never sent. The requests waiting behind the held push count their headers (about 0.9 MB here) in the
    // body budget, so this case has a receiver whose budget holds them.
    const fills = 26_000;
    const own = { sink: new MemorySink(), registry: new Registry() };
    const receiver = await startReceiver({ ...CONFIG, bodyBudgetBytes: 2 * 1024 * KIB }, { ...own, log: memoryLog() });
    try {
      own.sink.hold();
      const [a, b] = [push(), push()];
      const c = { wire: open(receiver.port), sent: [a.id, b.id] as (string | null)[] };
      c.wire.socket.pause();
      c.wire.write(Buffer.concat([a.cl(), Buffer.from('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(fills)), b.cl(), Buffer.from('GARBAGE\r\n\r\n')]));
      await own.sink.heldCount(1);
      const before = await refusedByNode(own.registry);
      await waitFor(async () => (await refusedByNode(own.registry)) > before, { message: 'the garbage refused by Node' });
      own.sink.release();
      await waitFor(() => storedCount(b.id, own.sink) === 1, { message: 'the last push stored' });
      c.wire.socket.resume();
      await c.wire.whenClosed;
      const answers = statuses(c);
      expect({ answers: answers.length, last: answers.slice(-3) }).toEqual({ answers: fills + 3, last: [200, 200, 400] });
      expect([storedCount(a.id, own.sink), storedCount(b.id, own.sink)]).toEqual([1, 1]);
      await waitFor(() => receiver.metrics.inFlight.value() === 0);
      expect(receiver.bodyBytesHeld()).toBe(0);
    } finally {
      own.sink.release();
      await receiver.stop();
    }
  });

  it('a Content-Length smaller than the body: the rest is read as the next request after the push is answered', async () => {
    sink.hold();
    const conns: Conn[] = [];
    for (const short of [1, 10, 40]) {
      const p = push();
      const c = { wire: open(), sent: [p.id] as (string | null)[] };
      conns.push(c);
      c.wire.write(Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length - short}\r\n`)), p.body]));
    }
    // A good push whose Content-Length leaves out trailing whitespace: stored, then the whitespace is no request.
    const p = push();
    const spaced = { wire: open(), sent: [p.id] as (string | null)[] };
    conns.push(spaced);
    spaced.wire.write(Buffer.concat([p.cl(), Buffer.from('  \r\n\r\n')]));
    await sink.heldCount(1);
    sink.release();
    await settle(conns);
    expect(conns.slice(0, 3).map((c) => c.wire.responses[0]?.status)).toEqual([400, 400, 400]);
    expect(spaced.wire.responses[0]?.status).toBe(200);
  });

  it('a Content-Length larger than the bytes sent: a timeout answer while the connection stays open, a 400 from Node when the client ends', async () => {
    const held = [1, 20, 200].map((more) => {
      const p = push();
      const c = { wire: open(), sent: [p.id] as (string | null)[] };
      c.wire.write(Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length + more}\r\n`)), p.body]));
      return c;
    });
    const closed = [1, 20].map((more) => {
      const p = push();
      const c = { wire: open(), sent: [p.id] as (string | null)[] };
      c.wire.write(Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length + more}\r\n`)), p.body]));
      return c;
    });
    await waitFor(() => r.metrics.inFlight.value() === 5);
    for (const c of closed) c.wire.end();
    await settle([...held, ...closed], { expectAnswered: false });
    expect(held.map((c) => c.wire.responses.map((a) => a.status))).toEqual([[408], [408], [408]]);
    // A half-closed connection can still read: Node refuses the cut message itself.
    expect(closed.map((c) => c.wire.responses.map((a) => a.status))).toEqual([[400], [400]]);
  });

  it('Content-Length written oddly, twice, or beside Transfer-Encoding: read as Node reads it, never stored unanswered', async () => {
    const cases: [string, (p: ReturnType<typeof push>) => Buffer, number][] = [
      ['leading zeros', (p) => p.cl(`000${p.body.length}`), 200],
      ['a plus sign', (p) => p.cl(`+${p.body.length}`), 400],
      ['a minus sign', (p) => p.cl(`-${p.body.length}`), 400],
      ['hexadecimal', (p) => p.cl(`0x${p.body.length.toString(16)}`), 400],
      ['an exponent', (p) => p.cl(`${p.body.length / 10}e1`), 400],
      ['a list', (p) => p.cl(`${p.body.length}, ${p.body.length}`), 400],
      ['empty', (p) => p.cl(''), 400],
      ['beyond 2^64', (p) => p.cl('99999999999999999999999'), 400],
      ['given twice, equal', (p) => Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length}\r\ncontent-length: ${p.body.length}\r\n`)), p.body]), 400],
      ['given twice, different', (p) => Buffer.concat([Buffer.from(p.head(`content-length: 3\r\ncontent-length: ${p.body.length}\r\n`)), p.body]), 400],
      ['beside chunked', (p) => p.chunked(2, `content-length: ${p.body.length}\r\ntransfer-encoding: chunked\r\n`), 400],
      ['chunked then Content-Length', (p) => p.chunked(2, `transfer-encoding: chunked\r\ncontent-length: 5\r\n`), 400],
      ['chunked twice', (p) => p.chunked(2, 'transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n'), 400],
      // Node undoes only the chunking and would hand the body as sent, still gzipped: a transfer coding the receiver
      // does not implement is refused 501 unread (RFC 9112 6.1), as is a body in a content coding (415).
      ['gzip, chunked', (p) => p.chunked(2, 'transfer-encoding: gzip, chunked\r\n'), 501],
      ['identity, chunked', (p) => p.chunked(2, 'transfer-encoding: identity, chunked\r\n'), 501],
      ['chunked in capitals', (p) => p.chunked(2, 'transfer-encoding: Chunked\r\n'), 200],
      ['gzip content', (p) => p.chunked(2, 'transfer-encoding: chunked\r\ncontent-encoding: gzip\r\n'), 415],
      ['deflate content', (p) => Buffer.concat([Buffer.from(p.head(`content-encoding: deflate\r\ncontent-length: ${p.body.length}\r\n`)), p.body]), 415],
      ['identity content', (p) => Buffer.concat([Buffer.from(p.head(`content-encoding: identity\r\ncontent-length: ${p.body.length}\r\n`)), p.body]), 200],
    ];
    const conns = cases.map(([, frame]) => {
      const p = push();
      const c = { wire: open(), sent: [p.id] as (string | null)[] };
      c.wire.write(frame(p));
      return c;
    });
    await settle(conns);
    expect(Object.fromEntries(cases.map(([name], i) => [name, conns[i]!.wire.responses[0]?.status]))).toEqual(Object.fromEntries(cases.map(([name, , status]) => [name, status])));
  });

  it('a transfer or content coding refused: the body is never read, and a push pipelined behind it is not either', async () => {
    const conns = ['transfer-encoding: gzip, chunked\r\n', 'transfer-encoding: chunked\r\ncontent-encoding: gzip\r\n'].map((framing) => {
      const [refused, behind] = [push(), push()];
      const c = { wire: open(), sent: [refused.id, behind.id] as (string | null)[] };
      c.wire.write(Buffer.concat([refused.chunked(2, framing), behind.cl()]));
      return c;
    });
    await Promise.all(conns.map((c) => c.wire.whenClosed));
    await settle(conns);
    expect(conns.map(statuses)).toEqual([[501], [415]]);
    for (const c of conns) expect(c.wire.responses[0]!.headers['connection']).toBe('close');
  });

  it("pipelined behind a push held by Kafka past Node's requestTimeout: a complete request is answered 200, one whose body Node has not taken in 408 after, unstored", async () => {
    // Node's backstop (headers + body + 1 s = 3 s here) runs from when it began a message to when it has taken the
    // message in whole, not to its answer. A small body is taken in at once however long its request waits for its
    // turn; a body over the request stream's 16 KiB buffer is taken in only once its turn comes, so Node times it out
    // while it waits, and the refusal is its answer, after those of the requests before it.
    sink.hold();
    const [a, small, big] = [push(), push(), push({ pad: 40 * KIB })];
    const c = { wire: open(), sent: [a.id, small.id, big.id] as (string | null)[] };
    const bigFrame = big.cl();
    const bigHead = bigFrame.length - big.body.length;
    const before = await refusedByNode();
    // The first 20 KiB of the big body come with the requests before it and fill its stream; the rest waits unread.
    c.wire.write(Buffer.concat([a.cl(), small.cl(), bigFrame.subarray(0, bigHead + 20 * KIB)]));
    await sink.heldCount(1);
    c.wire.write(bigFrame.subarray(bigHead + 20 * KIB));
    await waitFor(async () => (await refusedByNode()) > before, { timeoutMs: 6_000, message: "Node's requestTimeout for the big push" });
    expect(c.wire.responses).toEqual([]);
    sink.release();
    await settle([c], { expectAnswered: true });
    expect(statuses(c)).toEqual([200, 200, 408]);
  });

  it('bodies cut at every point: nothing stored; a timeout answer for a body still awaited, none once the client is gone', async () => {
    const conns: Conn[] = [];
    const awaited: Conn[] = [];
    const cut: string[] = [];
    for (const framing of ['cl', 'chunked'] as const) {
      const frameOf = () => {
        const p = push();
        cut.push(p.id);
        return { id: p.id, frame: framing === 'cl' ? p.cl() : p.chunked(3) };
      };
      // Inside the request line, inside and at the end of the headers, then every few bytes of the body (for chunked,
      // that crosses each size line, chunk and its CRLF), and one and two bytes before the end.
      const cutsOf = (frame: Buffer) => {
        const text = frame.toString('latin1');
        const headEnd = text.indexOf('\r\n\r\n') + 4;
        const cuts = new Set([1, 5, text.indexOf('\r\n'), text.indexOf('\r\n') + 2, headEnd - 3, headEnd - 1, headEnd, frame.length - 2, frame.length - 1]);
        for (let at = headEnd + 1; at < frame.length; at += Math.floor((frame.length - headEnd) / 23)) cuts.add(at);
        return { headEnd, cuts: [...cuts].sort((x, y) => x - y) };
      };
      for (const ending of ['end', 'destroy', 'wait'] as const) {
        // Each cut its own push (its own nonce and sessionId); pushes differ in length, so the cuts are taken from each.
        for (let k = 0; ; k++) {
          const { id, frame } = frameOf();
          const { headEnd, cuts } = cutsOf(frame);
          const at = cuts[k];
          if (at === undefined) break;
          const c = { wire: open(), sent: at >= headEnd ? [id] : [] };
          c.wire.write(frame.subarray(0, at));
          if (ending === 'end') c.wire.end();
          if (ending === 'destroy') c.wire.socket.destroySoon();
          // A body still awaited is answered; headers still awaited are Node's to time out (headersTimeoutMs).
          if (ending === 'wait' && at >= headEnd) awaited.push(c);
          else conns.push(c);
        }
      }
    }
    expect(conns.length + awaited.length).toBeGreaterThan(150);
    await waitFor(() => conns.every((c) => c.wire.closed), { timeoutMs: 10_000, message: 'cut connections closed' });
    await settle([...conns, ...awaited], { expectAnswered: false });
    await waitFor(() => awaited.every((c) => c.wire.responses.length === 1), { timeoutMs: 5_000, message: 'awaited bodies answered' });
    expect(new Set(awaited.map((c) => c.wire.responses[0]!.status))).toEqual(new Set([408]));
    for (const c of [...conns, ...awaited]) expect(c.wire.responses.length).toBeLessThanOrEqual(1);
    for (const c of conns) expect(c.wire.responses.every((a) => a.status >= 400)).toBe(true);
    expect(cut.filter((id) => storedCount(id) > 0)).toEqual([]);
    expect(r.bodyBytesHeld()).toBe(0);
  });

  it('slow bodies: a few bytes at a time within bodyTimeoutMs are stored, slower ones answered 408 and not stored', async () => {
    await eachSeed(async (seed) => {
      const rnd = seededRandom(seed);
      const slow = async (framing: 'cl' | 'chunked', pieces: number, gapMs: number) => {
        const p = push();
        const frame = framing === 'cl' ? p.cl() : p.chunked(5);
        const c = { wire: open(), sent: [p.id] as (string | null)[] };
        const step = Math.ceil(frame.length / pieces);
        // bodyTimeoutMs runs from the end of the headers, so only the gaps after the piece that ends them count: the
        // body takes at least this long (each gap is at least half of gapMs).
        const headPieces = Math.ceil((frame.indexOf('\r\n\r\n') + 4) / step);
        const bodyAtLeastMs = (Math.ceil(frame.length / step) - headPieces) * gapMs * 0.5;
        for (let at = 0; at < frame.length && !c.wire.closed; at += step) {
          c.wire.write(frame.subarray(at, at + step));
          await new Promise((resolve) => setTimeout(resolve, gapMs * (0.5 + rnd())));
        }
        return { ...c, bodyAtLeastMs };
      };
      const quick = await Promise.all([slow('cl', 20, 15), slow('chunked', 20, 15), slow('cl', 200, 1)]);
      // A late body must miss bodyTimeoutMs whatever the draw: one that arrives within it is on time and stored (with
      // gaps of 125-375 ms, a body whose headers took 3 of its 8 pieces could arrive in 831 ms and was rightly stored).
      const late = await Promise.all([slow('cl', 8, BODY_TIMEOUT_MS * 0.6), slow('chunked', 8, BODY_TIMEOUT_MS * 0.6)]);
      await settle([...quick, ...late]);
      for (const c of late) expect(c.bodyAtLeastMs).toBeGreaterThan(BODY_TIMEOUT_MS * 1.25);
      expect(quick.map(statuses)).toEqual([[200], [200], [200]]);
      expect(late.map(statuses)).toEqual([[408], [408]]);
    }, cleanUp);
  }, timeoutMs(30_000));

  it('declared bodies that together exceed bodyBudgetBytes: the first that fit are stored, the rest answered 503 unread', async () => {
    await eachSeed(async (seed) => {
      const rnd = seededRandom(seed + 1);
      for (let round = 0; round < 4; round++) {
        const sizes = Array.from({ length: 6 + Math.floor(rnd() * 7) }, () => Math.floor((5 + rnd() * 55) * KIB));
        const all = sizes.map((pad) => push({ pad }));
        const conns = all.map((p) => ({ wire: open(), sent: [p.id] as (string | null)[], p }));
        // Every header first, so every lease is taken before any body comes in and gives its lease back.
        for (const c of conns) c.wire.write(c.p.head(`content-length: ${c.p.body.length}\r\n`));
        await waitFor(() => conns.filter((c) => c.wire.closed).length + r.metrics.inFlight.value() === conns.length, { message: 'every request admitted or refused' });
        expect(r.bodyBytesHeld()).toBeLessThanOrEqual(BUDGET);
        for (const c of conns) c.wire.write(c.p.body);
        await settle(conns);
        const admitted = conns.filter((c) => statuses(c)[0] === 200);
        const refused = conns.filter((c) => statuses(c)[0] === 503);
        expect(admitted.length + refused.length).toBe(conns.length);
        const heldByAdmitted = admitted.reduce((n, c) => n + c.p.body.length, 0);
        expect(heldByAdmitted).toBeLessThanOrEqual(BUDGET);
        for (const c of refused) {
          expect(heldByAdmitted + c.p.body.length).toBeGreaterThan(BUDGET);
          expect(c.wire.responses[0]!.headers['connection']).toBe('close');
        }
        expect(admitted.length).toBeGreaterThan(0);
        for (const w of wires.splice(0)) w.destroy();
      }
    }, cleanUp);
  }, timeoutMs(30_000));

  it('a seeded mix of pushes, refusals and garbage pipelined on keep-alive connections, written in random pieces', async () => {
    await eachSeed(async (seed) => {
      const rnd = seededRandom(seed + 2);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
      const kinds = ['cl', 'chunked', 'zeros', 'wrong-secret', 'not-json', 'short', 'garbage', 'dup-cl', 'cl+te'] as const;
      for (let round = 0; round < 30; round++) {
        if (rnd() < 0.5) sink.hold();
        const conns: Conn[] = [];
        for (let n = 0; n < 6; n++) {
          const c = { wire: open(), sent: [] as (string | null)[] };
          const frames: Buffer[] = [];
          for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
            const kind = pick(kinds);
            const p = kind === 'wrong-secret' ? push({ secret: 'wrong' }) : push();
            c.sent.push(kind === 'garbage' ? null : p.id);
            frames.push(
              kind === 'cl' ? p.cl()
              : kind === 'chunked' ? p.chunked(1 + Math.floor(rnd() * 4))
              : kind === 'zeros' ? p.cl(`00${p.body.length}`)
              : kind === 'wrong-secret' ? p.cl()
              : kind === 'not-json' ? Buffer.concat([Buffer.from(p.head('content-length: 5\r\n')), Buffer.from('{"a":')])
              // The blank line ends the leftover as a request Node refuses at once, not one waiting for headersTimeoutMs.
              : kind === 'short' ? Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length - 1 - Math.floor(rnd() * 20)}\r\n`)), p.body, Buffer.from('\r\n\r\n')])
              : kind === 'garbage' ? Buffer.from(pick(['GARBAGE\r\n\r\n', '\x00\x01\x02\r\n\r\n', 'POST / HTTP/9.9\r\n\r\n', 'POST /x HTTP/1.1\r\nbad header\r\n\r\n']))
              : kind === 'dup-cl' ? Buffer.concat([Buffer.from(p.head(`content-length: ${p.body.length}\r\ncontent-length: ${p.body.length}\r\n`)), p.body])
              : p.chunked(2, `content-length: ${p.body.length}\r\ntransfer-encoding: chunked\r\n`),
            );
          }
          conns.push(c);
          const bytes = Buffer.concat(frames);
          for (let at = 0; at < bytes.length; ) {
            const next = Math.min(bytes.length, at + 1 + Math.floor(rnd() * 400));
            c.wire.write(bytes.subarray(at, next));
            at = next;
          }
        }
        // A held sink is released once a push waits on it (or none can), so garbage and refusals meet pushes in flight.
        await waitFor(() => sink.heldNow() > 0 || conns.every((c) => c.wire.closed || c.wire.responses.length >= c.sent.length));
        sink.release();
        await settle(conns);
        for (const w of wires.splice(0)) w.destroy();
      }
    }, cleanUp);
  }, timeoutMs(30_000));
});
