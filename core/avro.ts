// Avro through a Confluent-compatible schema registry (Confluent wire format: magic byte 0 + 4-byte schema id).
// Schemas live in schemas/*.avsc and are registered under TopicNameStrategy subjects (`<topic>-value`).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { CdrflowError } from './errors.ts';
import { MAX_REGISTRY_ANSWER_BYTES, redactUrl } from './input-limits.ts';
import { subjectFor } from './topology.ts';
import { installBlockCountBounds } from './avro-block-counts.ts';

// Before any type is built or any value read in this thread: a record's array or map count is held to its bytes.
installBlockCountBounds();

/** The registry client; the rest of the project reaches the registry only through this module. */
export type { SchemaRegistry };

const SCHEMA_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** The schema file's text, parsed (still plain JSON, usable by avsc and by the registry). */
export function loadSchemaJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as Record<string, unknown>;
}

/**
 * `timestamp-millis` as a JS Date in both directions, so records carry real instants (and JSON.stringify prints
 * ISO-8601 UTC strings ending in Z). Without it avsc would hand out bare longs.
 */
class TimestampMillis extends avro.types.LogicalType {
  override _fromValue(value: unknown): Date {
    const date = new Date(value as number);
    // A long beyond ±8.64e15 ms is no instant JS can hold: an Invalid Date that every later step (a row's text, a
    // comparison) would trip over. Thrown here, the value is a record that does not decode (a bad_record).
    if (Number.isNaN(date.getTime())) throw new RangeError(`timestamp-millis ${String(value)} is beyond the range of a date (±8.64e15 ms)`);
    return date;
  }
  override _toValue(value: unknown): number | undefined {
    return value instanceof Date && !Number.isNaN(value.getTime()) ? value.getTime() : undefined;
  }
  override _resolve(type: avro.Type): ((value: unknown) => Date) | undefined {
    if (avro.Type.isType(type, 'long', 'logical:timestamp-millis')) return (v) => this._fromValue(v);
    return undefined;
  }
}

/**
 * The logical types of time the contract does not use, kept as a writer declared them (values as they are), so that
 * one is never read as another: avsc drops a logical type it has no class for, and a writer's `timestamp-micros`
 * long was read as the contract's millis without a word (1970-01-31 stored as 2052-02-20). Now such a writer cannot
 * be resolved against a millis field: its records are dead letters that say so. Only the same logical type reads it.
 */
class DeclaredLogicalType extends avro.types.LogicalType {
  override _fromValue(value: unknown): unknown {
    return value;
  }
  override _toValue(value: unknown): unknown {
    return value;
  }
  override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
    return type.typeName === this.typeName ? (v) => v : undefined;
  }
}
const OTHER_TIME_TYPES = ['timestamp-micros', 'timestamp-nanos', 'local-timestamp-millis', 'local-timestamp-micros', 'local-timestamp-nanos', 'time-millis', 'time-micros'];

/**
 * avsc options used everywhere (local types and the registry client), so both agree on logical types.
 * A fresh object per call: avsc stores its name registry on the options object it is given.
 */
export function avroOptions(): Partial<avro.ForSchemaOptions> {
  const logicalTypes: Record<string, unknown> = { 'timestamp-millis': TimestampMillis };
  for (const name of OTHER_TIME_TYPES) logicalTypes[name] = DeclaredLogicalType;
  return { logicalTypes } as unknown as Partial<avro.ForSchemaOptions>;
}

const localTypes = new Map<string, avro.Type>();

/** A local avsc Type for a schema file (no registry): used by pure code and tests to validate records. */
export function avroType(file: string): avro.Type {
  let type = localTypes.get(file);
  if (!type) {
    type = avro.Type.forSchema(loadSchemaJson(file) as avro.Schema, avroOptions());
    localTypes.set(file, type);
  }
  return type;
}

/** Each client's base URL, for a look at an answer the client words away (fetchWriter's 404). */
const registryUrls = new WeakMap<SchemaRegistry, string>();

export function createRegistry(url: string): SchemaRegistry {
  // The URL's user and password go to the client as its Basic auth, never in its host: the client's errors carry the
  // URL they asked in their own `url` field, and ours keep those errors as their cause, where a logger or anything
  // printing an error whole would show it.
  const { host, auth } = registryTarget(url);
  // The registry client spreads these options into a new object for every schema it parses.
  const agent = host.startsWith('https:') ? REGISTRY_AGENTS.https : REGISTRY_AGENTS.http;
  const registry = new SchemaRegistry({ host, ...(auth ? { auth } : {}), agent, middlewares: [requestTimeout as never] }, { [SchemaType.AVRO]: avroOptions() as never });
  registryUrls.set(registry, url);
  return registry;
}

/** A registry URL as the client's host without user-info, and that user and password (decoded) apart. */
function registryTarget(url: string): { host: string; auth?: { username: string; password: string } } {
  if (!URL.canParse(url)) return { host: url };
  const target = new URL(url);
  if (target.username === '' && target.password === '') return { host: url };
  const auth = { username: decodeURIComponent(target.username), password: decodeURIComponent(target.password) };
  target.username = '';
  target.password = '';
  return { host: target.href.replace(/\/$/, url.endsWith('/') ? '/' : ''), auth };
}

/** A URL the client asked, as messages show it: under the configured URL redacted, whose `***@` says credentials were sent. */
function shownUrl(registry: SchemaRegistry, url: string): string {
  const base = registryUrls.get(registry);
  if (base === undefined) return redactUrl(url);
  const host = registryTarget(base).host.replace(/\/$/, '');
  return url.includes(host) ? url.replace(host, redactUrl(base).replace(/\/$/, '')) : redactUrl(url);
}

/**
 * Every registry request ends within this: a registry that took the connection and never answered hung `cdrflow
 * schemas register` for good (an operator walk). The client's own retries do not repeat a timeout; a stage's do.
 */
export const REGISTRY_REQUEST_TIMEOUT_MS = 10_000;

/**
 * A registry that is away or not answering, by the words of the client's HTTP layer (it says "status 400" for them).
 * An answer over MAX_REGISTRY_ANSWER_BYTES is one not understood: waited out as for a registry away (the stage says
 * why, with the URL, at every try), never a record's fault (a dead letter) nor a crash.
 */
const REGISTRY_AWAY = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket hang up|fetch failed|EAI_AGAIN|Timeout \(\d+ms\)|registry answer not understood|registry answer too large/i;

/** The error of an answer over MAX_REGISTRY_ANSWER_BYTES: the URL asked (without credentials) and the limit. */
function registryAnswerTooLarge(url: string, bytes: string): Error {
  return new Error(`registry answer too large: ${redactUrl(url)} answered ${bytes}, over ${MAX_REGISTRY_ANSWER_BYTES} bytes (the limit of a registry answer), refused unread`);
}

type AddRequest = (this: http.Agent, req: http.ClientRequest, options: { port?: number | string }) => void;

/**
 * The registry client's agent (its HTTP layer, mappersmith, reads every answer whole into memory and has no limit of
 * its own): an answer announced or streamed past MAX_REGISTRY_ANSWER_BYTES ends its request with
 * registryAnswerTooLarge, which the client reports as its other network errors, and its connection is closed unread.
 * Answers are watched through `addRequest`, as connectors/poller/vendor-answer.ts does; keep-alive as Node's own.
 */
function answerBoundedAgent(Base: typeof http.Agent): http.Agent {
  const agent = new Base({ keepAlive: true });
  const hooks = agent as unknown as { addRequest: AddRequest };
  const addRequest = hooks.addRequest;
  hooks.addRequest = function (req, options) {
    req.once('response', (res: http.IncomingMessage) => {
      const host = req.host.includes(':') ? `[${req.host}]` : req.host;
      const refuse = (bytes: string) => req.destroyed || req.destroy(registryAnswerTooLarge(`${req.protocol}//${host}:${String(options.port)}${req.path}`, bytes));
      const announced = Number(res.headers['content-length']);
      if (announced > MAX_REGISTRY_ANSWER_BYTES) return void refuse(`${announced} bytes (announced)`);
      let bytes = 0;
      // The client reads text (strings), so bytes are counted as such.
      res.on('data', (chunk: Buffer | string) => {
        bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        if (bytes > MAX_REGISTRY_ANSWER_BYTES) refuse(`${bytes} bytes so far`);
      });
    });
    addRequest.call(this, req, options);
  };
  return agent;
}
const REGISTRY_AGENTS = { http: answerBoundedAgent(http.Agent), https: answerBoundedAgent(https.Agent) };

/**
 * A registry's API answers 404 only with its own error code (40401 subject, 40402 version, 40403 schema not found).
 * A 404 without one is a server that has no such API at that URL: a registry's root instead of its Confluent API, a
 * web server, another service. It said "[object Object]" (registering) or every subject "new" (`schemas check`).
 */
export const NOT_A_REGISTRY_API = "no registry's 'not found' answer at that URL: is it the base of a Confluent-compatible API? Apicurio serves one under /apis/ccompat/v7";
export function registryNotFound(body: string): boolean {
  try {
    const code = (JSON.parse(body) as { error_code?: unknown } | null)?.error_code;
    return code === 40401 || code === 40402 || code === 40403;
  } catch {
    return false;
  }
}

/** A registry's answer to a plain look: its status and its body's text, read at most MAX_REGISTRY_ANSWER_BYTES far. */
export interface RegistryAnswer {
  status: number;
  ok: boolean;
  text: string;
}

/**
 * fetch for a plain look at the registry, the URL's user and password (if any) sent as HTTP Basic, as the client sends
 * them: fetch refuses a URL with credentials in it, with a message that quotes the URL, password and all. The body is
 * read as the client's agent reads it: past MAX_REGISTRY_ANSWER_BYTES, refused (registryAnswerTooLarge) and cancelled.
 */
export async function registryFetch(url: string, init: RequestInit = {}): Promise<RegistryAnswer> {
  const { host, auth } = registryTarget(url);
  const basic = auth === undefined ? undefined : Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  const response = await (basic === undefined ? fetch(url, init) : fetch(host, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Basic ${basic}` } }));
  const announced = Number(response.headers.get('content-length'));
  if (announced > MAX_REGISTRY_ANSWER_BYTES) {
    await response.body?.cancel();
    throw registryAnswerTooLarge(url, `${announced} bytes (announced)`);
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  if (response.body) {
    for (const reader = response.body.getReader(); ; ) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      if (bytes > MAX_REGISTRY_ANSWER_BYTES) {
        await reader.cancel();
        throw registryAnswerTooLarge(url, `${bytes} bytes so far`);
      }
      chunks.push(value);
    }
  }
  return { status: response.status, ok: response.ok, text: Buffer.concat(chunks, bytes).toString('utf8') };
}

/**
 * A writer's id answered 404: the registry's own word that it does not know the id (its code, 40403), or something
 * else answering (a proxy routing wrong, a URL that lost its API path)? The client keeps only the status, so the id
 * is asked once more, plainly. Not the registry's word: an error the stages wait out as for a registry away, where
 * every record would otherwise have become a dead letter. When the look itself fails, `err` stands as it was.
 */
async function notFoundOrAway(registry: SchemaRegistry, id: number, err: unknown): Promise<unknown> {
  const base = registryUrls.get(registry);
  if (base === undefined) return err;
  const url = `${base.replace(/\/$/, '')}/schemas/ids/${id}`;
  try {
    const answer = await registryFetch(url, { signal: AbortSignal.timeout(REGISTRY_REQUEST_TIMEOUT_MS) });
    if (answer.status !== 404 || registryNotFound(answer.text)) return err;
    return new Error(`registry answer not understood: HTTP 404 for /schemas/ids/${id} (${NOT_A_REGISTRY_API})`);
  } catch (lookFailed) {
    // An answer too large is said as such (the 404 alone said nothing of it); any other failure leaves `err` as it was.
    return /^registry answer too large/.test(String((lookFailed as Error | undefined)?.message)) ? lookFailed : err;
  }
}

export function registryAway(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return REGISTRY_AWAY.test(`${String(e?.code ?? '')} ${String(e?.message ?? '')}`);
}

/** What the registry client's HTTP layer (mappersmith) hands a middleware as an answer. */
interface RegistryResponse {
  status(): number;
  data(): unknown;
  header(name: string): string | undefined;
}

/** A request whose answer the registry client reads as a schema: a writer by id, or a reference's subject version. */
function readsSchema(request: { method(): string; path(): string }): boolean {
  return request.method().toLowerCase() === 'get' && /\/schemas\/ids\/|\/versions\/[^/]+$/.test(request.path());
}

/**
 * A middleware of the registry client's HTTP layer (mappersmith): a timeout on every request that has none, and a
 * deadline on its whole answer. The HTTP gateway's own timeout is the socket's idle time, and it waits for the end of
 * an answer's body: an answer cut off mid-body (a registry restarting, a proxy dropping the connection) left the
 * request pending for good, and the stage waiting on it with it.
 */
function requestTimeout() {
  return {
    async prepareRequest(next: () => Promise<{ timeout(): number | undefined; enhance(changes: { timeout: number }): unknown }>) {
      const request = await next();
      return request.timeout() ? request : request.enhance({ timeout: REGISTRY_REQUEST_TIMEOUT_MS });
    },
    async response(next: () => Promise<RegistryResponse>, _renew: unknown, request: { method(): string; path(): string }): Promise<RegistryResponse> {
      const ms = REGISTRY_REQUEST_TIMEOUT_MS + 1_000;
      let timer: NodeJS.Timeout | undefined;
      // The words registryAway knows a timeout by: the stages wait the registry out (transient). The client's own
      // retries of a 5xx answer run inside it.
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`registry request not answered in full: Timeout (${ms}ms)`)), ms);
      });
      const response = await Promise.race([next(), deadline]).finally(() => clearTimeout(timer));
      // The client takes any answer below 400 for the registry's (a redirect too: it follows none). One that is not
      // (a proxy's maintenance page served with 200, a redirect's empty body, a JSON body of another shape where a
      // schema is read) is the registry not answering: the client would read fields of nothing, which stopped a stage
      // registering, or build a schema of nothing, which a stage remembers as refused for good (every record of that
      // writer a dead letter).
      const status = response.status();
      if (status >= 300 && status < 400) {
        const to = response.header('location');
        throw new Error(`registry answer not understood: HTTP ${status}, a redirect${to ? ` to ${redactUrl(to)}` : ''} that the registry client does not follow: configure the URL it leads to`);
      }
      // (204, no content, is no answer read: a registry may give it to the config the client sets after registering.)
      if (status >= 200 && status < 300 && status !== 204) {
        const data = response.data();
        if (data === null || typeof data !== 'object' || (readsSchema(request) && typeof (data as { schema?: unknown }).schema !== 'string')) {
          const shown = typeof data === 'string' ? JSON.stringify(data.slice(0, 60)) : typeof data === 'object' && data !== null ? JSON.stringify(data).slice(0, 60) : String(data);
          throw new Error(`registry answer not understood: HTTP ${status} with a body that is no ${readsSchema(request) ? 'schema' : 'JSON object'} (${shown})`);
        }
      }
      return response;
    },
  };
}

/**
 * Encodes/decodes one topic's values under the registry id registered for that topic's subject.
 * `register()` is idempotent (the registry returns the existing id for an identical schema).
 */
export class TopicCodec {
  /** The in-flight or finished registration: concurrent first writers share it (Apicurio answers 409 to a race). */
  private schemaId: Promise<number> | undefined;

  constructor(
    private readonly registry: SchemaRegistry,
    readonly topic: string,
    private readonly schemaFile: string,
  ) {}

  register(): Promise<number> {
    this.schemaId ??= this.registerOnce().catch((err: unknown) => {
      this.schemaId = undefined; // let a later call try again
      throw err;
    });
    return this.schemaId;
  }

  private async registerOnce(): Promise<number> {
    try {
      const answer: unknown = await this.registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(loadSchemaJson(this.schemaFile)) },
        { subject: subjectFor(this.topic) },
      );
      const id = (answer as { id?: unknown } | null)?.id;
      // The client hands on whatever the answer held (a maintenance page gave undefined): every value would have been
      // framed with it, as id 0 or a negative one, and no reader could have read one of them. An id is what a frame's
      // 4 bytes hold and framedSchemaId reads back.
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0x7fffffff) {
        throw new Error(`registry answer not understood: registered, but the answer's id is ${JSON.stringify(id)?.slice(0, 60) ?? 'missing'}, no schema id`);
      }
      return id as number;
    } catch (err) {
      // A registry that is away is waited out by the stages (transient); one that refuses the schema stops them, and
      // so does one that refuses the credentials (401, 403, a proxy's 407): auth, as classifyRegistryError and every
      // refused credential, named with the registry's URL without its password; it was a schema error in the client's
      // words, as though the contract were wrong. (The client words a 404 whose body has no `message` as "[object Object]".)
      const { status, url } = err as { status?: unknown; url?: unknown };
      const refused = status === 401 || status === 403 || status === 407;
      const base = registryUrls.get(this.registry);
      const why =
        status === 404
          ? `${typeof url === 'string' ? shownUrl(this.registry, url) : 'the registry'} answered 404: ${NOT_A_REGISTRY_API}`
          : refused
            ? `the schema registry${base === undefined ? '' : ` at ${redactUrl(base)}`} refused the credentials (HTTP ${status}): ${redactUrl((err as Error).message)}`
            : (err as Error).message;
      const kind = refused ? 'auth' : registryAway(err) ? 'transient' : 'schema';
      throw new CdrflowError(kind, `could not register ${this.schemaFile} for subject ${subjectFor(this.topic)}: ${why}`, { cause: err });
    }
  }

  /** The registered id and its avsc type, once resolved: encoding a record then waits on nothing. */
  private writer: { id: number; type: avro.Type } | undefined;

  /** The avsc type of the registered schema (the registry client caches it per id: built once). */
  private async writerType(): Promise<{ id: number; type: avro.Type }> {
    const id = await this.register();
    return { id, type: (await this.registry.getSchema(id)) as unknown as avro.Type };
  }

  /**
   * The framed value at once, once the registered schema is known (after the first `encode`); undefined before, or
   * when the record does not fit (then `encode` words the error). Per-record loops call this first: an await per
   * record was a few % of the normalize worker's CPU.
   */
  encodeReady(record: unknown): Buffer | undefined {
    if (!this.writer) return undefined;
    try {
      return encodeFramed(this.writer.type, this.writer.id, record);
    } catch {
      return undefined;
    }
  }

  async encode(record: unknown): Promise<Buffer> {
    // Kept after the first record: the id of a registered schema never changes, and the registry client's own
    // per-id cache still cost several awaits per record (a few % of the normalize service's CPU).
    const { id, type } = this.writer ?? (this.writer = await this.writerType());
    try {
      return encodeFramed(type, id, record);
    } catch {
      // Let the registry client name the invalid paths in its error (the slow path, only for a bad record).
      return this.registry.encode(id, record);
    }
  }

  /** Decodes any registry-framed value (the writer schema comes from the id in the frame). */
  async decode<T>(value: Buffer): Promise<T> {
    return (await this.registry.decode(value)) as T;
  }
}

const FRAME_HEADER_BYTES = 5;

/** Where values are encoded before their exact-size copy is handed out; grows to the largest value seen. */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

/**
 * One value in the Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro body. Written
 * into a reused scratch buffer behind the header, then copied once into a pooled buffer of the exact size. avsc's
 * toBuffer instead writes into a 1 KiB buffer, allocates a zero-filled unpooled one, and writes a value over 1 KiB
 * twice; framing it took one more copy. Throws as toBuffer does when `record` does not fit the type.
 */
export function encodeFramed(type: avro.Type, id: number, record: unknown): Buffer {
  for (;;) {
    // A negative result is the number of bytes missing: grow and write again (rare: the buffer only grows).
    const end = type.encode(record, scratch, FRAME_HEADER_BYTES);
    if (end >= 0) {
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      out[0] = 0;
      out.writeInt32BE(id, 1);
      return out;
    }
    scratch = Buffer.allocUnsafeSlow(2 * (scratch.length - end));
  }
}

/** The schema id of a registry-framed value; a value that is not framed is the record's fault (bad_record). */
export function framedSchemaId(value: Buffer): number {
  if (value.length < FRAME_HEADER_BYTES || value[0] !== 0) {
    throw new CdrflowError('bad_record', `not a schema-registry framed Avro value (${value.length} bytes, first byte ${value[0] ?? 'none'})`);
  }
  const id = value.readInt32BE(1);
  // No registry gives out a negative id; and a caller that marks "no value" with one must not meet it in a frame.
  if (id < 0) throw new CdrflowError('bad_record', `schema id ${id} in the registry frame: no registry gives out a negative id`);
  return id;
}

/**
 * The writer type the registry client gave for `id`, which is an Avro type only when the id's subject is Avro: a
 * registry shared with other teams also holds JSON Schema and Protobuf subjects, and a value framed with one of their
 * ids is the record's problem (bad_record), not a type to call methods on (the sink's render step stopped on one).
 */
function avroWriter(schema: unknown, id: number): avro.Type {
  if (avro.Type.isType(schema)) return schema as avro.Type;
  const kind = (schema as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  throw new CdrflowError('bad_record', `writer schema ${id} is not an Avro schema${typeof kind === 'string' && kind !== 'Object' ? ` (${kind})` : ''}`);
}

/** Every logical type in a type's tree, with where it sits (record fields, union branches, array items, map values). */
function logicalTypesOf(type: avro.Type, path: string, out: string[], seen: Set<avro.Type>): string[] {
  if (seen.has(type)) return out; // a recursive schema
  seen.add(type);
  const t = type as unknown as { fields?: { name: string; type: avro.Type }[]; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type; underlyingType?: avro.Type };
  if (type instanceof avro.types.LogicalType) {
    out.push(`${path} ${type.typeName}`);
    if (t.underlyingType) logicalTypesOf(t.underlyingType, path, out, seen);
  }
  for (const f of t.fields ?? []) logicalTypesOf(f.type, `${path}.${f.name}`, out, seen);
  (t.types ?? []).forEach((branch, i) => logicalTypesOf(branch, `${path}|${i}`, out, seen));
  if (t.itemsType) logicalTypesOf(t.itemsType, `${path}[]`, out, seen);
  if (t.valuesType) logicalTypesOf(t.valuesType, `${path}{}`, out, seen);
  return out;
}

function sameLogicalTypes(a: avro.Type, b: avro.Type): boolean {
  return logicalTypesOf(a, '', [], new Set()).join('\n') === logicalTypesOf(b, '', [], new Set()).join('\n');
}

/** Writer schemas a ReaderCodec keeps built (a few versions in practice; one of them costs up to tens of MB). */
export const MAX_WRITER_SCHEMAS = 64;
/** Writer ids remembered as refused for good (RefusedWriters); the memo is dropped wholesale when full. */
const MAX_REFUSED_WRITER_SCHEMAS = 4_096;
/** Characters of a remembered refusal's reason. */
const MAX_REFUSAL_CHARS = 500;

/**
 * True when fetching writer `id` failed for good: the registry answered its schema and the client could not build it
 * (the client wraps avsc's error). Anything else (an unknown id, the registry away) may mend, and is asked again.
 */
export function schemaCannotBeBuilt(err: unknown): boolean {
  return (err as Error | undefined)?.name === 'ConfluentSchemaRegistryArgumentError';
}

/**
 * Writers refused for good, and why: a registry id never changes its schema, so each later record of one is refused at
 * once instead of fetching and building it again (0.35-0.5 s for a schema of 40,000 fields). One per reader of a
 * registry (ReaderCodec, the sink's render step, `cdrflow tail`).
 */
export class RefusedWriters {
  private readonly reasons = new Map<number, string>();

  constructor(private readonly registry: SchemaRegistry) {}

  /** Why writer `id` was refused for good, or undefined. */
  get(id: number): string | undefined {
    return this.reasons.get(id);
  }

  /** Remembers writer `id` as refused (the reason cut short), lets the client's copy go, and gives the error to throw. */
  refuse(id: number, given: string, cause: unknown): CdrflowError {
    // avsc's words quote the writer's names, which the writer makes as long as it likes.
    const why = given.length > MAX_REFUSAL_CHARS ? `${given.slice(0, MAX_REFUSAL_CHARS)}… (${given.length} characters)` : given;
    if (this.reasons.size >= MAX_REFUSED_WRITER_SCHEMAS) this.reasons.clear();
    this.reasons.set(id, why);
    forgetFetchedSchema(this.registry, id);
    return new CdrflowError('bad_record', why, { cause });
  }
}

/**
 * The Avro type of writer `id`. A writer refused for good (no client can build it, or it is no Avro schema) is
 * remembered in `refused` and thrown as a bad_record, at once from then on; anything else (an unknown id, the
 * registry away) is thrown as the client raised it, for the caller to classify, and asked again next time.
 */
export async function fetchWriter(registry: SchemaRegistry, id: number, refused: RefusedWriters): Promise<avro.Type> {
  const known = refused.get(id);
  if (known !== undefined) throw new CdrflowError('bad_record', known);
  let schema: unknown;
  try {
    schema = await registry.getSchema(id);
  } catch (err) {
    if (schemaCannotBeBuilt(err)) throw refused.refuse(id, `writer schema ${id} cannot be built: ${(err as Error).message}`, err);
    throw (err as { status?: unknown }).status === 404 ? await notFoundOrAway(registry, id, err) : err;
  }
  try {
    return avroWriter(schema, id);
  } catch (err) {
    throw refused.refuse(id, (err as Error).message, err);
  }
}

/**
 * The registry client keeps every schema it fetched, for good; a codec that lets a writer go lets the client's copy
 * go too, or a stream of distinct ids (anyone who may register schemas) grows the process without a bound. Reaches
 * into the client's cache (`cache.schemasByRegistryId`, public in its typings); reader-codec.test.ts pins that shape.
 */
export function forgetFetchedSchema(registry: SchemaRegistry, id: number): void {
  const cache = (registry as { cache?: { schemasByRegistryId?: Record<number, unknown> } }).cache;
  if (cache?.schemasByRegistryId) Reflect.deleteProperty(cache.schemasByRegistryId, id);
}

/**
 * Decodes registry-framed values of any writer version into one reader schema (defaults fill the fields an older
 * writer lacked). The reader type is built once and the resolver once per writer schema id: the registry client's
 * `decode(buf, { readerSchema })` rebuilds the reader type for every record, which cost ~1.5 ms a record and was
 * three quarters of the sink's CPU. Registry errors (unknown id, unreachable) are thrown as the client raised them,
 * for the caller's classifyRegistryError; a writer schema that cannot be built or read as the reader, and bytes that
 * do not match their writer schema, are a bad_record.
 *
 * Bounded for hostile writers: at most MAX_WRITER_SCHEMAS built (the first built is let go first; a writer let go is
 * built again on its next record), and a writer refused for good is remembered (a registry id never changes its
 * schema), so each of its records is refused at once instead of building it again (0.35-0.5 s for a schema of 40,000
 * fields, which held normalize's chunks past the group's session).
 */
export class ReaderCodec<T> {
  /** The reader schema's type. */
  readonly reader: avro.Type;
  private readonly byWriterId = new Map<number, Promise<(body: Buffer) => T>>();
  /** The same readers once fetched: decodeReady uses them without a promise. */
  private readonly ready = new Map<number, (body: Buffer) => T>();
  /** Writer ids already fetched whose schema is the reader's own (read without a resolver). */
  private readonly direct = new Set<number>();
  /** Writers refused for good (checked before a new writer takes a place among the built ones). */
  private readonly refused: RefusedWriters;

  constructor(
    private readonly registry: SchemaRegistry,
    readerSchemaFile: string,
  ) {
    this.reader = avro.Type.forSchema(loadSchemaJson(readerSchemaFile) as avro.Schema, avroOptions());
    this.refused = new RefusedWriters(registry);
  }

  /**
   * The value decoded at once when its writer's reader is already built (every value after a writer's first);
   * undefined when it is not, and the caller awaits `decode`. Throws as `decode` does for a value that is not framed
   * or does not match its writer schema.
   */
  decodeReady(value: Buffer): T | undefined {
    const read = this.ready.get(framedSchemaId(value));
    return read ? this.readBody(read, value) : undefined;
  }

  async decode(value: Buffer): Promise<T> {
    const id = framedSchemaId(value);
    const refused = this.refused.get(id);
    if (refused !== undefined) throw new CdrflowError('bad_record', refused);
    let read = this.byWriterId.get(id);
    if (!read) {
      if (this.byWriterId.size >= MAX_WRITER_SCHEMAS) this.forget(this.byWriterId.keys().next().value!);
      const fetching = this.readerFor(id);
      const current = fetching.then((r) => r.read);
      read = current;
      this.byWriterId.set(id, current);
      fetching.then(
        ({ read: built, direct }) => {
          // Let go while it was fetched (more new writers came meanwhile): used for the records waiting on it only,
          // and the client's copy, cached after the codec let it go, goes too.
          if (this.byWriterId.get(id) !== current) return forgetFetchedSchema(this.registry, id);
          this.ready.set(id, built);
          if (direct) this.direct.add(id);
        },
        () => this.byWriterId.get(id) === current && this.byWriterId.delete(id), // tried again by the next record, unless refused
      );
    }
    return this.readBody(await read, value);
  }

  private readBody(read: (body: Buffer) => T, value: Buffer): T {
    try {
      return read(value.subarray(FRAME_HEADER_BYTES));
    } catch (err) {
      // avsc reads nested records and arrays by recursion: a body nested deep enough runs the stack out.
      const why = err instanceof RangeError && /call stack/i.test(err.message) ? 'nested too deeply to decode' : (err as Error).message;
      throw new CdrflowError('bad_record', `Avro body does not match writer schema ${value.readInt32BE(1)}: ${why}`, { cause: err });
    }
  }

  /**
   * True when values of writer `id` are known to be read with the reader's own schema (no resolver); false also
   * while `id` has not been decoded yet (the first value of a writer goes through decode()).
   */
  readsDirectly(id: number): boolean {
    return this.direct.has(id);
  }

  /** Lets writer `id` go, here and in the registry client (built again if a record of it comes). */
  forget(id: number): void {
    this.byWriterId.delete(id);
    this.ready.delete(id);
    this.direct.delete(id);
    forgetFetchedSchema(this.registry, id);
  }

  private async readerFor(id: number): Promise<{ read: (body: Buffer) => T; direct: boolean }> {
    const writer = await fetchWriter(this.registry, id, this.refused);
    const reader = this.reader;
    // Same canonical schema and logical types: read directly; otherwise through a resolver (the canonical form leaves
    // logical types out, so a writer's timestamp-micros field alone would have been read directly, as millis).
    try {
      if (reader.equals(writer) && sameLogicalTypes(reader, writer)) return { read: (body) => reader.fromBuffer(body) as T, direct: true };
      const resolver = reader.createResolver(writer);
      return { read: (body) => reader.fromBuffer(body, resolver) as T, direct: false };
    } catch (err) {
      // Another subject's record, or a version that breaks the contract: avsc's words, never read as a network error
      // by the caller (a writer named com.acme.network.CallEvent was "transient" and restarted the stage for good).
      throw this.refused.refuse(id, `writer schema ${id} cannot be read as ${reader.name ?? reader.typeName}: ${(err as Error).message}`, err);
    }
  }
}
