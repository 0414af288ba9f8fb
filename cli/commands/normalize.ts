// `cdrflow normalize --vendor <vendor> [--tenant <id>]`: the normalize mapping as a filter, JSON lines in (bare vendor
// records or raw envelopes), normalized CDRs out (Avro field names, ISO-8601 UTC times), in input order.
import type { Command } from '../command.ts';
import { readingStdin, refuseDirectoryOnStdin, UsageError } from '../command.ts';
import { EXIT_SOME_LINES_BAD } from '../../core/exit-codes.ts';
import { parseFlags } from '../args.ts';
import { avroType } from '../../core/avro.ts';
import { MAX_LINE_BYTES, printable, quote, tenantProblem, terminalJson, terminalReason } from '../../core/input-limits.ts';
import { byteLines, overlongReason } from '../../core/byte-lines.ts';
import { readUserJsonFile } from '../../app/config.ts';
import { SCHEMA_FILES, VENDORS, isVendor } from '../../core/topology.ts';
import type { Vendor } from '../../core/topology.ts';
import { normalizeOptionsSchema, parseNormalizeOptions } from '../../transforms/normalize/config.ts';
import { zodIssues } from '../../core/zod-issues.ts';
import { z } from 'zod';
import type { NormalizeContext, NormalizeOptions } from '../../transforms/normalize/context.ts';
import { normalizeLine } from '../../transforms/normalize/lines.ts';
import { TENANT_FIELDS } from '../../transforms/normalize/normalize.ts';

const usage = `Usage: cdrflow normalize --vendor <vendor> [--tenant <id>] [--options <file.json>] < records.jsonl

Reads JSON lines on stdin and writes one normalized CDR (cdr-normalized.avsc field names, timestamps ISO-8601 UTC)
per good line on stdout, in input order. Each line is either
  - a bare vendor record (as the vendor sends it), or
  - a raw envelope ({"vendor","tenant_id","natural_key","payload":"<record as JSON text>",...}), recognised by shape.

  --vendor    ${VENDORS.join(' | ')}
  --tenant    tenant of bare records that do not name their own. Records that do (${Object.entries(TENANT_FIELDS)
    .filter(([, f]) => f.length > 0)
    .map(([v, f]) => `${v}: ${f.join('/')}`)
    .join(', ')})
              use it, and a line naming a different tenant than --tenant is an error. CCC query-API records and
              LVMS records carry no tenant, so they need --tenant.
  --options   JSON file with normalize options (billing rules per vendor/tenant, LVMS time zones, piiKey)

Blank lines are skipped. A bad line (invalid UTF-8, malformed or too deep JSON, duplicate members, a line over
${MAX_LINE_BYTES} bytes, a record that breaks a consistency rule, even a mapping bug) is reported on stderr as
"line <n>: <reason>" (one line, escaped, cut to a few hundred characters) and processing continues: every non-blank
line is an output or a report.
Exit status: 0 when every line was normalized, 2 when at least one line was bad, 66 when standard input is a directory
or cannot be read.`;

interface Args {
  vendor: Vendor;
  tenant: string | null;
  options: NormalizeOptions;
}

function parse(args: string[]): Args {
  const { values } = parseFlags(args, { vendor: { type: 'string' }, tenant: { type: 'string' }, options: { type: 'string' } });
  const { vendor, options: optionsFile } = values;
  const tenant = values.tenant ?? null;
  if (vendor === undefined) throw new UsageError('--vendor is required');
  if (!isVendor(vendor)) throw new UsageError(`unknown vendor ${quote(vendor)}; one of ${VENDORS.join(', ')}`);
  if (tenant !== null && tenant.trim() === '') throw new UsageError('--tenant must not be empty');
  const tenantBad = tenant === null ? null : tenantProblem(tenant);
  if (tenantBad !== null) throw new UsageError(`--tenant ${tenantBad}`);
  let options: NormalizeOptions;
  try {
    options = parseNormalizeOptions(optionsFile === undefined ? {} : readUserJsonFile(optionsFile));
  } catch (err) {
    // The config's reading of zod's problems: an unknown key in an object that holds the piiKey (the root) is counted,
    // not quoted, unless it is a near miss of a known key; quoted, a piiKey pasted as a key was printed.
    const detail = err instanceof z.ZodError ? zodIssues(err, normalizeOptionsSchema).map((p) => `${p.path}: ${p.message}`).join('; ') : (err as Error).message;
    // A key the file names is quoted in its problem as it is (zod's paths and unknown keys): escaped like any text
    // read from a file, a bidi override or a C1 control included.
    throw new UsageError(`--options ${printable(optionsFile ?? '')}: ${terminalReason(detail)}`);
  }
  return { vendor, tenant, options };
}

/**
 * Writes with the stream's backpressure: a pipe that reads slower than we write is waited for. Reports go to stderr
 * the same way: 10 million bad lines with stderr on a pipe buffered 4.9 GB of reports, and 100 million ran out of
 * memory (an operator walk).
 */
async function write(text: string, stream: NodeJS.WriteStream = process.stdout): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

/** What one line became: an output line, or a one-line report. Never throws: every line is accounted for. */
type LineOutcome = { ok: true; json: string } | { ok: false; reason: string };

function contractProblems(cdrType: ReturnType<typeof avroType>, cdr: unknown): string | null {
  const problems: string[] = [];
  if (cdrType.isValid(cdr, { errorHook: (path, value) => problems.push(`${path.join('.')} = ${quote(value, 60)}`) })) return null;
  return problems.join('; ') || 'invalid';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function processLine(bytes: Buffer, run: { vendor: Vendor; tenant: string | null; ctx: NormalizeContext; cdrType: ReturnType<typeof avroType> }): LineOutcome | null {
  let stage = 'decode';
  try {
    let line: string;
    try {
      line = utf8.decode(bytes);
    } catch {
      return { ok: false, reason: 'invalid UTF-8 in the line' };
    }
    if (line.trim() === '') return null;
    stage = 'mapping';
    const result = normalizeLine(line, { vendor: run.vendor, tenant: run.tenant }, run.ctx);
    if (!result.ok) return { ok: false, reason: result.error.message };
    stage = 'contract';
    const problems = contractProblems(run.cdrType, result.cdr);
    // A mapping bug, not bad input: reported as such (and counted), and the next line is still read.
    if (problems !== null) return { ok: false, reason: `mapping produced a record outside the contract (cdr-normalized.avsc, a bug): ${problems}` };
    stage = 'output';
    // Often read on a terminal: vendor text must not drive it (the same values once parsed).
    return { ok: true, json: terminalJson(result.cdr) };
  } catch (err) {
    return { ok: false, reason: `internal error in stage ${stage} (a bug; the line is reported, not lost): ${err instanceof Error ? `${err.name}: ${err.message}` : quote(err)}` };
  }
}

export const command: Command = {
  name: 'normalize',
  summary: 'normalize vendor CDRs (JSON lines on stdin) into the unified CDR (JSON lines on stdout)',
  usage,
  async run(args) {
    const { vendor, tenant, options } = parse(args);
    // `< /tmp`: a directory on stdin reads as nothing, so this printed nothing and exited 0 (an operator walk).
    refuseDirectoryOnStdin('give a file of JSON lines or a pipe');
    const ctx: NormalizeContext = { now: () => new Date(), lineage: null, options };
    const run = { vendor, tenant, ctx, cdrType: avroType(SCHEMA_FILES.normalized) };
    let lineNo = 0;
    let bad = 0;
    await readingStdin(async () => {
      for await (const bytes of byteLines(process.stdin, MAX_LINE_BYTES)) {
        lineNo++;
        const outcome = Buffer.isBuffer(bytes) ? processLine(bytes, run) : { ok: false as const, reason: overlongReason(bytes) };
        if (outcome === null) continue;
        if (!outcome.ok) {
          bad++;
          // A reason quotes the line's own values (a tenant, a vendor name): a bidi override or a C1 control there,
          // which boundReason leaves as they are, must not reach the terminal raw.
          await write(`line ${lineNo}: ${terminalReason(outcome.reason)}\n`, process.stderr);
          continue;
        }
        await write(`${outcome.json}\n`);
      }
    });
    if (bad > 0) process.stderr.write(`normalize: ${bad} of ${lineNo} lines were bad\n`);
    return bad === 0 ? 0 : EXIT_SOME_LINES_BAD;
  },
};
