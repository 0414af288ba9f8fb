// A stand-in for a ClickHouse server at CLICKHOUSE_URL on 127.0.0.1 (another program, or one that misbehaves), for
// tests of what the project's own clients do with its answers: a client made by createClickHouse talks to it, and
// `answer` gets each request once its body is in.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../core/clickhouse.ts';
import type { LogFn } from '../core/log.ts';

export interface LoopbackRequest {
  url: URL;
  body: string;
  /** The request's URL (its `query` parameter decoded) and body: where the statement is, wherever the client put it. */
  statement: string;
}

export interface LoopbackClickHouse {
  client: ClickHouseClient;
  /** Closes the client, then every connection and the server. */
  close(): Promise<void>;
}

/** `urlQuery`: parameters of CLICKHOUSE_URL for the client ("request_timeout=50"). */
export async function loopbackClickHouse(answer: (res: ServerResponse, request: LoopbackRequest) => void, options: { log?: LogFn; urlQuery?: string } = {}): Promise<LoopbackClickHouse> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => answer(res, { url: new URL(req.url ?? '', 'http://x'), body, statement: `${decodeURIComponent(req.url ?? '')}\n${body}` }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = await createClickHouse({ kind: 'http', url: `http://127.0.0.1:${port}${options.urlQuery ? `?${options.urlQuery}` : ''}`, username: 'default', password: '', database: 'cdrflow' }, options.log ? { log: options.log } : {});
  return {
    client,
    async close() {
      await client.close();
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * The block a ClickHouse server (25.11 and later) ends a 200 answer with when an error comes after the answer began,
 * framed by the random `tag` it also sent in the X-ClickHouse-Exception-Tag header (core/clickhouse.ts streamedError).
 * The length counts the message's bytes and its newline.
 */
export function streamedErrorBlock(tag: string, message: string): string {
  return `\r\n__exception__\r\n${tag}\r\n${message}\n${Buffer.byteLength(message) + 1} ${tag}\r\n__exception__\r\n`;
}

/** A 16-character tag as the server makes one. */
export const EXCEPTION_TAG = 'qzjxwkvbnmtplrdf';
