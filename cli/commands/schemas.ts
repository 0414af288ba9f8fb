// `cdrflow schemas register|check`: registers the Avro contracts under their TopicNameStrategy subjects, or checks
// (through the registry's own compatibility endpoint) that the files in schemas/ are BACKWARD compatible with what
// the registry holds — exit 1 when one is not, so CI can stop a breaking change before it ships.
import type { Command } from '../command.ts';
import { ExitError, UsageError } from '../command.ts';
import { EXIT_CONFIG, EXIT_UNAVAILABLE } from '../../core/exit-codes.ts';
import { boundReason, printable, quote, redactUrl, terminalReason } from '../../core/input-limits.ts';
import { httpUrl, parseFlags } from '../args.ts';
import avro from 'avsc';
import { NOT_A_REGISTRY_API, REGISTRY_REQUEST_TIMEOUT_MS, TopicCodec, createRegistry, loadSchemaJson, registryFetch, registryNotFound } from '../../core/avro.ts';
import { classifyRegistryError } from '../../core/dead-letter.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig } from '../app-config.ts';
import { ALL_RAW_TOPICS, SCHEMA_FILES, TOPICS, subjectFor } from '../../core/topology.ts';

const usage = `Usage: cdrflow schemas <register|check> [--registry URL] [--config FILE]

  register  registers every contract (idempotent: an identical schema keeps its id)
  check     asks the registry whether each file in schemas/ is compatible with the latest registered version of
            its subject (the registry applies its compatibility rule, BACKWARD for cdrflow); exits 1 if any is not.
            A subject the registry does not know yet is reported as new, not as a failure.

Exit status: 0 done (check: every file compatible or new); 1 check: a file incompatible or not a valid schema;
69 the registry is not reachable; 78 the URL answers, but not as a registry's API (its 404s lack the registry's
'not found' code), or the registry refuses the credentials (401, 403, or a proxy's 407).

Subjects (TopicNameStrategy): ${[...ALL_RAW_TOPICS, TOPICS.huaweiCallEvents].map(subjectFor).join(', ')} -> ${SCHEMA_FILES.rawEnvelope};
  ${subjectFor(TOPICS.normalized)} -> ${SCHEMA_FILES.normalized}; ${subjectFor(TOPICS.deadLetter)} -> ${SCHEMA_FILES.deadLetter}

Environment: SCHEMA_REGISTRY_URL (default: the local stack of \`cdrflow infra up\`).`;

export interface SubjectContract {
  topic: string;
  file: string;
}

export function contracts(): SubjectContract[] {
  return [
    ...[...ALL_RAW_TOPICS, TOPICS.huaweiCallEvents].map((topic) => ({ topic, file: SCHEMA_FILES.rawEnvelope })),
    { topic: TOPICS.normalized, file: SCHEMA_FILES.normalized },
    { topic: TOPICS.deadLetter, file: SCHEMA_FILES.deadLetter },
  ];
}

/** The URL given answers, but not as a registry's API: a configuration to mend (exit 78). */
class NotARegistryError extends Error {}

export type CompatibilityVerdict = { subject: string; verdict: 'compatible' | 'new' } | { subject: string; verdict: 'incompatible'; reasons: string[] };

/**
 * A subject answered 404 is new only on the registry's own word (its "not found" code): a 404 from something that is
 * no registry API passed every check (exit 0).
 */
function newSubject(subject: string, asked: string, body: string): CompatibilityVerdict {
  if (registryNotFound(body)) return { subject, verdict: 'new' };
  throw new NotARegistryError(`${redactUrl(asked)} answered 404: ${NOT_A_REGISTRY_API}`);
}

/** POST /compatibility/subjects/<subject>/versions/latest (Confluent API; Apicurio serves it under /apis/ccompat/v7). */
export async function checkCompatibility(registryUrl: string, subject: string, schema: object): Promise<CompatibilityVerdict> {
  const base = registryUrl.replace(/\/$/, '');
  // Asked about an unknown subject, some registries (Apicurio) answer "compatible": look first.
  // A registry that takes the connection and never answers must not hang the check (it did, for good).
  const versionsUrl = `${base}/subjects/${encodeURIComponent(subject)}/versions`;
  const versions = await registryFetch(versionsUrl, { signal: AbortSignal.timeout(REGISTRY_REQUEST_TIMEOUT_MS) });
  const listed = versions.text;
  if (versions.status === 404) return newSubject(subject, versionsUrl, listed);
  if (!versions.ok) throw answered(versions.status, `listing the versions of ${subject}`, listed);
  const url = `${base}/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`;
  const response = await registryFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schemaType: 'AVRO', schema: JSON.stringify(schema) }),
    signal: AbortSignal.timeout(REGISTRY_REQUEST_TIMEOUT_MS),
  });
  const text = response.text;
  if (response.status === 404) return newSubject(subject, url, text);
  if (!response.ok) {
    // Some registries answer an incompatible schema with 409/422 instead of is_compatible=false.
    if (response.status === 409 || response.status === 422) return { subject, verdict: 'incompatible', reasons: [text] };
    throw answered(response.status, `for ${subject}`, text);
  }
  // Only the registry's own verdict is one: a maintenance page served with 200, or JSON without is_compatible, said
  // "INCOMPATIBLE" (exit 1, a breaking change to CI) or gave JSON.parse's words. It is the registry not answering.
  const body = parseJson(text) as { is_compatible?: unknown; messages?: unknown } | null | undefined;
  if (typeof body?.is_compatible !== 'boolean') {
    throw new Error(`registry answer not understood: HTTP ${response.status} for ${subject} without a verdict (is_compatible): ${boundReason(text, 100)}`);
  }
  if (body.is_compatible) return { subject, verdict: 'compatible' };
  return { subject, verdict: 'incompatible', reasons: Array.isArray(body.messages) && body.messages.length > 0 ? body.messages.map(String) : [text] };
}

/** The text's JSON value, or undefined when it is none. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A registry's answer of an error status, its body cut short; the status says whether it is away (5xx, 429). */
function answered(status: number, what: string, text: string): Error {
  return Object.assign(new Error(`registry answered ${status} ${what}: ${boundReason(text, 200)}`), { status });
}

export const command: Command = {
  name: 'schemas',
  summary: 'register the Avro contracts, or check schemas/ for BACKWARD-breaking changes (exit 1)',
  usage,
  async run(args) {
    const { values, positionals } = parseFlags(args, { registry: { type: 'string' }, config: { type: 'string' } }, { maxPositionals: 1 });
    const [action] = positionals;
    const url = values.registry ?? endpoints(loadCommandConfig({ file: values.config })).registryUrl;
    if (action === undefined) throw new UsageError('name the action: register or check');
    if (action !== 'register' && action !== 'check') throw new UsageError(`unknown action ${quote(action)}; use register or check`);
    httpUrl('--registry', url, "the registry's base URL (http://host:port/…)");
    try {
      return await schemasAction(action, url);
    } catch (err) {
      // A registry that is down or does not answer: one line naming it, exit 69 (it was exit 1 with "status 400", or a
      // hang for good when it took the connection and never answered).
      const kind = classifyRegistryError(err, action).kind;
      if (kind === 'transient' || kind === 'rate_limited' || (err as Error).name === 'TimeoutError') {
        throw new ExitError(EXIT_UNAVAILABLE, `the schema registry at ${printable(redactUrl(url))} is not reachable: ${boundReason((err as Error).message, 300)}`);
      }
      // Credentials refused (or missing) are a configuration to mend, as Kafka's elsewhere (exit 78): it was exit 1,
      // which `check` gives a breaking change. The status is the check's own error's, or the client's under register's,
      // whose own words follow (register's error says the refusal too, TopicCodec.register: said once here).
      const refusal = (err as { status?: unknown }).status !== undefined ? (err as Error & { status: unknown }) : (err as { cause?: Error & { status?: unknown } }).cause;
      const status = refusal?.status;
      if (status === 401 || status === 403 || status === 407) {
        throw new ExitError(EXIT_CONFIG, `the schema registry at ${printable(redactUrl(url))} refused the credentials (HTTP ${status}): ${boundReason(redactUrl(refusal!.message), 300)}`);
      }
      const registering404 = (err as { cause?: { status?: unknown } }).cause?.status === 404;
      if (err instanceof NotARegistryError || registering404) {
        throw new ExitError(EXIT_CONFIG, `the schema registry at ${printable(redactUrl(url))}: ${boundReason((err as Error).message, 400)}`);
      }
      throw err;
    }
  },
};

async function schemasAction(action: 'register' | 'check', url: string): Promise<number> {
  if (action === 'register') {
    const registry = createRegistry(url);
    for (const c of contracts()) {
      const id = await new TopicCodec(registry, c.topic, c.file).register();
      console.log(`${subjectFor(c.topic)}  ${c.file}  id ${id}`);
    }
    return 0;
  }
  let failed = 0;
  for (const c of contracts()) {
    // A file that is not a valid Avro schema is said as such, with its name (a registry called it INCOMPATIBLE, and
    // a truncated file gave JSON.parse's words without the file).
    let schema: Record<string, unknown>;
    try {
      schema = loadSchemaJson(c.file);
      avro.Type.forSchema(schema as avro.Schema);
    } catch (err) {
      failed++;
      console.log(`INVALID       ${subjectFor(c.topic)}  ${c.file}\n  ${terminalReason((err as Error).message, 300)}`);
      continue;
    }
    const v = await checkCompatibility(url, subjectFor(c.topic), schema);
    if (v.verdict === 'incompatible') {
      failed++;
      // The registry's own words (a verbose answer quotes the old schema whole): one printable, bounded line each.
      console.log(`INCOMPATIBLE  ${v.subject}  ${c.file}\n  ${v.reasons.map((r) => terminalReason(r)).join('\n  ')}`);
    } else console.log(`${v.verdict === 'new' ? 'new         ' : 'compatible  '}  ${v.subject}  ${c.file}`);
  }
  if (failed > 0) console.error(`cdrflow schemas check: ${failed} subject(s) would break BACKWARD compatibility or are not valid schemas`);
  return failed > 0 ? 1 : 0;
}
