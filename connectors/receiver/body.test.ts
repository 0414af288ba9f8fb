// readBody against Node's own HTTP parser: a declared body lands in one buffer of its size, byte for byte; a body
// shorter than declared ends as a timeout or an abort, and bytes past Content-Length are never part of the body.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { BodyBudget, readBody, type BodyResult } from './body.ts';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server whose every request is read by readBody; `results` resolves with the first request's result and the budget held then. */
async function serve(timeoutMs = 5_000) {
  const budget = new BodyBudget(1 << 20);
  let first: (r: { result: BodyResult; held: number }) => void;
  const result = new Promise<{ result: BodyResult; held: number }>((resolve) => (first = resolve));
  const server = createServer((req, res) => {
    const lease = budget.lease();
    void readBody(req, 64 * 1024, timeoutMs, lease).then((r) => {
      first({ result: r, held: budget.held });
      lease.release();
      res.end();
    });
  });
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  const write = (data: string | Buffer) => new Promise<void>((resolve) => socket.write(data, () => resolve()));
  return { result, socket, write };
}

const head = (headers: string) => `POST / HTTP/1.1\r\nHost: x\r\n${headers}\r\n`;

describe('readBody', () => {
  it('reads a declared body into one buffer of its size, byte for byte, without joining chunks', async () => {
    const concat = vi.spyOn(Buffer, 'concat');
    const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
    const { result, write } = await serve();
    await write(head(`Content-Length: ${body.length}\r\n`));
    for (let at = 0; at < body.length; at += 6_000) await write(body.subarray(at, at + 6_000));
    const { result: read, held } = await result;
    expect(read.kind).toBe('ok');
    const got = (read as { body: Buffer }).body;
    expect(got.equals(body)).toBe(true);
    expect(got.buffer.byteLength).toBe(body.length);
    expect(held).toBe(body.length);
    expect(concat).not.toHaveBeenCalled();
  });

  it('still joins a chunked body, byte for byte', async () => {
    const { result, write } = await serve();
    const parts = [Buffer.from([0, 1, 0xff]), Buffer.from('中文 text', 'utf8')];
    await write(head('Transfer-Encoding: chunked\r\n'));
    for (const p of parts) await write(Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]));
    await write('0\r\n\r\n');
    const { result: read } = await result;
    expect(read.kind === 'ok' && read.body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('takes only the declared bytes as the body: what follows is read as the next request', async () => {
    const { result, write } = await serve();
    await write(`${head('Content-Length: 10\r\n')}0123456789EXTRA BYTES`);
    const { result: read } = await result;
    expect(read.kind === 'ok' && read.body.toString('latin1')).toBe('0123456789');
  });

  it('ends a body shorter than declared as a timeout while the sender waits, and as aborted once it goes away', async () => {
    const waiting = await serve(300);
    await waiting.write(`${head('Content-Length: 100\r\n')}only 19 bytes of it`);
    expect((await waiting.result).result).toEqual({ kind: 'timeout' });

    const leaving = await serve();
    await leaving.write(`${head('Content-Length: 100\r\n')}only 19 bytes of it`);
    leaving.socket.destroy();
    expect((await leaving.result).result).toEqual({ kind: 'aborted' });
  });

  it('ends a declared body that ends short as aborted, never as a body, and gives its budget back', async () => {
    // Node's parser never ends a message short of its Content-Length; should one ever, the bytes so far are no push.
    for (const sent of [0, 1, 99]) {
      const req = Object.assign(new PassThrough(), { headers: { 'content-length': '100' } }) as unknown as IncomingMessage & PassThrough;
      const budget = new BodyBudget(1 << 20);
      const lease = budget.lease();
      const read = readBody(req, 64 * 1024, 5_000, lease);
      req.end(Buffer.alloc(sent, 0x61));
      expect(await read, `${sent} of 100 bytes`).toEqual({ kind: 'aborted' });
      lease.release();
      expect(budget.held).toBe(0);
    }
  });
});
