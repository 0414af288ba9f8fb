// A registry URL may carry its user and password (https://user:secret@registry/…: how some Confluent-compatible
// registries are reached). Whatever reports registry trouble names the registry by its host, never by its secret.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefusedWriters, TopicCodec, createRegistry, fetchWriter } from './avro.ts';
import { classifyRegistryError } from './dead-letter.ts';
import { serializeError } from './errors.ts';
import { redactUrl } from './input-limits.ts';
import { SCHEMA_FILES, TOPICS } from './topology.ts';

const SECRET = 's3cret-pw';
let status = 500;
let server: Server;
let host = '';
/** The Authorization header of each request, in order. */
const authorizations: (string | undefined)[] = [];

beforeAll(async () => {
  // Answers every request with `status` and a body that is no registry's (a proxy, a web server, a registry failing).
  server = createServer((req, res) => (authorizations.push(req.headers.authorization), res).writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ title: 'nope' })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const withSecret = () => `http://user:${SECRET}@${host}/apis/ccompat/v7`;

async function failure(run: () => Promise<unknown>): Promise<Error> {
  const err = await run().then(() => undefined, (e: unknown) => e as Error);
  if (err === undefined) throw new Error('expected the registry call to fail');
  return err;
}

describe('redactUrl', () => {
  it('drops the user and password of every URL in a text, keeping scheme, host and path', () => {
    expect(redactUrl('https://user:pw@registry.example:8081/apis/ccompat/v7')).toBe('https://***@registry.example:8081/apis/ccompat/v7');
    expect(redactUrl('post http://u:p%40ss@127.0.0.1:1/x and http://v@h/y')).toBe('post http://***@127.0.0.1:1/x and http://***@h/y');
    // An unescaped @ in the password: the host is what follows the last one.
    expect(redactUrl('http://u:p@ss@h:1/x?a=b@c')).toBe('http://***@h:1/x?a=b@c');
    expect(redactUrl('http://127.0.0.1:1/x?to=a@b')).toBe('http://127.0.0.1:1/x?to=a@b');
  });

  it("drops a TRTC UserSig from a query, in any case and URL-encoded, keeping the query's other values", () => {
    expect(redactUrl('POST /v4/x?sdkappid=1&UserSig=eJw*ab_c-d&random=7 HTTP/1.1')).toBe('POST /v4/x?sdkappid=1&UserSig=***&random=7 HTTP/1.1');
    expect(redactUrl('"bad %2Fv4%2Fx%3Fusersig%3DeJw*ab%26random%3D7"')).toBe('"bad %2Fv4%2Fx%3Fusersig%3D***%26random%3D7"');
    expect(redactUrl('usersig=eJw*ab\\"}')).toBe('usersig=***\\"}');
  });
});

describe('a registry URL with credentials in it', () => {
  it.each([500, 404, 401])('registering against an answer %i: the message names the host, not the password', async (answer) => {
    status = answer;
    const err = await failure(() => new TopicCodec(createRegistry(withSecret()), TOPICS.normalized, SCHEMA_FILES.normalized).register());
    const shown = serializeError(err).message;
    expect(shown).not.toContain(SECRET);
    if (answer === 404) expect(shown).toContain(`http://***@${host}/apis/ccompat/v7/subjects/`);
  });

  // A stage registering its schemas with credentials the registry refuses: said as such, naming the registry, and
  // classified as every refused credential is (auth: the stage stops, retrying cannot help). It was a `schema` error
  // in the client's words, as though the contract were wrong.
  it.each([401, 403])('registering against an answer %i: the registry refused the credentials (auth), naming it without the password', async (answer) => {
    status = answer;
    const err = await failure(() => new TopicCodec(createRegistry(withSecret()), TOPICS.normalized, SCHEMA_FILES.normalized).register());
    expect(serializeError(err)).toMatchObject({ kind: 'auth' });
    expect(err.message).toMatch(
      new RegExp(`^could not register ${SCHEMA_FILES.normalized} for subject ${TOPICS.normalized}-value: the schema registry at http://\\*\\*\\*@${host}/apis/ccompat/v7 refused the credentials \\(HTTP ${answer}\\)`),
    );
    expect(err.message).not.toContain(SECRET);
  });

  it.each([500, 404, 401])('reading a writer schema against an answer %i: the message does not hold the password', async (answer) => {
    status = answer;
    const registry = createRegistry(withSecret());
    const err = await failure(() => fetchWriter(registry, 7, new RefusedWriters(registry)));
    expect(classifyRegistryError(err, 'reading writer schema 7').message).not.toContain(SECRET);
  });

  it('a registry that refuses connections: the message does not hold the password', async () => {
    const err = await failure(() => new TopicCodec(createRegistry(`http://user:${SECRET}@127.0.0.1:1`), TOPICS.normalized, SCHEMA_FILES.normalized).register());
    expect(err.message).not.toContain(SECRET);
    expect(err.message).toContain('127.0.0.1:1');
  });

  // The plain look at a writer's 404 (is it the registry's word?) failed before it was sent: fetch refuses a URL with
  // credentials in it, so a proxy's 404 was taken for the registry's and every record became a dead letter.
  it("looks at a writer's 404 with the URL's credentials as the client sends them (Basic), and sees it is no registry's", async () => {
    status = 404;
    authorizations.length = 0;
    const registry = createRegistry(withSecret());
    const err = await failure(() => fetchWriter(registry, 7, new RefusedWriters(registry)));
    expect(err.message).toMatch(/^registry answer not understood: HTTP 404 for \/schemas\/ids\/7/);
    expect(classifyRegistryError(err, 'reading writer schema 7').kind).toBe('transient');
    expect(authorizations.length).toBeGreaterThan(1);
    expect(new Set(authorizations)).toEqual(new Set([`Basic ${Buffer.from(`user:${SECRET}`).toString('base64')}`]));
  });
});
