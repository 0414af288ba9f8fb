// A schema registry on loopback that serves the writer schemas a test makes up, in front of the project's real client
// (createRegistry): what a stage meets when others register schemas in a shared registry.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, type SchemaRegistry } from '../core/avro.ts';

export interface RegistryStub {
  registry: SchemaRegistry;
  /** Requests per schema id. */
  asked: Map<number, number>;
  close(): void;
}

/** An answer given as it is: a status and a body, by default an HTML page (a proxy's or a web server's). */
export class RawAnswer {
  constructor(
    readonly status: number,
    readonly html: string,
    readonly headers: Record<string, string> = { 'content-type': 'text/html' },
  ) {}
}

/**
 * `schemas(id, n)` is what the n-th request for an id is answered with: a schema, a string (that text as an HTML page
 * with status 200), a RawAnswer, or undefined (404 with the registry's code, as for an id it does not know).
 * `delayMs(id)` holds an answer back.
 */
export async function registryStub(schemas: (id: number, n: number) => object | string | RawAnswer | undefined, delayMs: (id: number) => number = () => 0): Promise<RegistryStub> {
  const asked = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const id = Number(/\/schemas\/ids\/(\d+)/.exec(req.url ?? '')?.[1]);
    asked.set(id, (asked.get(id) ?? 0) + 1);
    const schema = schemas(id, asked.get(id)!);
    if (typeof schema === 'string' || schema instanceof RawAnswer) {
      const { status, html, headers } = typeof schema === 'string' ? new RawAnswer(200, schema) : schema;
      res.writeHead(status, headers).end(html);
      return;
    }
    const answer = () =>
      schema === undefined
        ? res.writeHead(404, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }))
        : res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ schema: JSON.stringify(schema) }));
    const delay = delayMs(id);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { registry: createRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), asked, close: () => server.close() };
}
