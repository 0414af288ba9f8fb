import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { clientErrorStatus, onAnswerClosed } from './http-answers.ts';

// Not events.once: a socket reset by its client emits an error before its close.
const closed = (e: Socket | ServerResponse) => new Promise<void>((resolve) => e.once('close', () => resolve()));
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

/** A server that leaves its answers to the test, and a client connected to it; `requests(n)` settles once n came. */
async function serve() {
  const answers: ServerResponse[] = [];
  const sockets: Socket[] = [];
  let wanted = 0;
  let arrived = () => {};
  const server: Server = createServer((req, res) => {
    answers.push(res);
    if (answers.length === wanted) arrived();
  });
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    sockets.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => undefined);
  await once(client, 'connect');
  const requests = (count: number) =>
    new Promise<void>((resolve) => {
      wanted = count;
      arrived = resolve;
      if (answers.length === count) resolve();
    });
  return { server, client, answers, sockets, requests };
}

describe('onAnswerClosed', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const started = async () => {
    const s = await serve();
    close = async () => {
      s.client.destroy();
      s.server.closeAllConnections();
      s.server.close();
      await once(s.server, 'close');
    };
    return s;
  };

  it('runs the hook of every answer once when their connection goes with answers still queued', async () => {
    const { client, answers, sockets, requests } = await started();
    client.write(get('/1') + get('/2') + get('/3') + get('/4'));
    await requests(4);
    const ran = [0, 0, 0, 0];
    const ownClose: number[] = [];
    const runNow = answers.map((res, i) => {
      res.once('close', () => ownClose.push(i));
      return onAnswerClosed(res, () => ran[i]!++);
    });
    // A caller that lets go itself: the hook runs then, and not again when the answer or its connection closes.
    runNow[0]!();
    runNow[3]!();
    expect(ran).toEqual([1, 0, 0, 1]);
    const socketClosed = closed(sockets[0]!);
    client.destroy();
    await socketClosed;
    // The first answer, on the socket, closes too; the queued ones never do (the Node behaviour the helper is for).
    if (!ownClose.includes(0)) await closed(answers[0]!);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ownClose).toEqual([0]);
    expect(ran).toEqual([1, 1, 1, 1]);
  });

  it('runs the hook of an answer sent once, on its own close, and not again when its connection closes', async () => {
    const { client, answers, sockets, requests } = await started();
    client.write(get('/1'));
    await requests(1);
    let ran = 0;
    const res = answers[0]!;
    onAnswerClosed(res, () => ran++);
    const answerClosed = closed(res);
    res.end('ok');
    await answerClosed;
    expect([ran, sockets[0]!.closed]).toEqual([1, false]);
    const socketClosed = closed(sockets[0]!);
    client.destroy();
    await socketClosed;
    expect(ran).toBe(1);
  });

  it('runs a hook asked for after its connection closed at once', async () => {
    const { client, answers, sockets, requests } = await started();
    client.write(get('/1') + get('/2'));
    await requests(2);
    const socketClosed = closed(sockets[0]!);
    client.destroy();
    await socketClosed;
    const ran = [0, 0];
    answers.forEach((res, i) => onAnswerClosed(res, () => ran[i]!++));
    expect(ran).toEqual([1, 1]);
    // The first answer's own close may come after its socket's: the hook still ran once.
    if (!answers[0]!.destroyed) await closed(answers[0]!);
    expect(ran).toEqual([1, 1]);
  });
});

// Both servers answer a request Node could not read themselves (after the answers owed before it), as Node would.
describe('clientErrorStatus', () => {
  /** What a server makes of `bytes`: the first line of its answer, and the code of the client error it saw, if any. */
  async function refusal(bytes: string, withListener: boolean): Promise<{ head: string; code?: string }> {
    const server = createServer({ connectionsCheckingInterval: 50, requestTimeout: 300, headersTimeout: 300 }, (req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    let code: string | undefined;
    // Without a listener, Node answers itself; with one, it only says which error it was.
    if (withListener) server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => ((code = err.code), socket.destroy()));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => undefined);
    let got = '';
    client.on('data', (chunk: Buffer) => (got += chunk.toString()));
    client.write(bytes);
    await closed(client);
    server.close();
    return { head: got.split('\r\n')[0]!, ...(code === undefined ? {} : { code }) };
  }

  it.each([
    ['garbage', 'HELLO THERE\r\n\r\n'],
    ['a header block over 16 KiB', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['chunk extensions over 16 KiB', `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`],
    ['headers too slow', 'GET / HTTP/1.1\r\nHost: x\r\n'],
  ])('is the status Node answers %s with', async (_what, bytes) => {
    const [node, seen] = await Promise.all([refusal(bytes, false), refusal(bytes, true)]);
    expect(seen.code).toBeDefined();
    expect(node.head).toMatch(/^HTTP\/1\.1 \d{3} /);
    expect(node.head.split(' ')[1]).toBe(String(clientErrorStatus(seen.code)));
  });
});
