// `cdrflow normalize --vendor <vendor> [--tenant <id>]`: the normalize mapping as a filter, JSON lines in (bare vendor
// records or raw envelopes), normalized CDRs out (Avro field names, ISO-8601 UTC times), in input order.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';
import { parseFlags } from '../args.ts';
import { avroType } from '../../core/avro.ts';
import { SCHEMA_FILES, VENDORS, isVendor } from '../../core/topology.ts';
import type { Vendor } from '../../core/topology.ts';
import { parseNormalizeOptions } from '../../transforms/normalize/config.ts';
import type { NormalizeOptions } from '../../transforms/normalize/context.ts';
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

Blank lines are skipped. A bad line is reported on stderr as "line <n>: <reason>" and processing continues.
Exit status: 0 when every line was normalized, 2 when at least one line was bad.`;

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
  if (!isVendor(vendor)) throw new UsageError(`unknown vendor "${vendor}"; one of ${VENDORS.join(', ')}`);
  if (tenant !== null && tenant.trim() === '') throw new UsageError('--tenant must not be empty');
  let options: NormalizeOptions;
  try {
    options = parseNormalizeOptions(optionsFile === undefined ? {} : JSON.parse(readFileSync(optionsFile, 'utf8')));
  } catch (err) {
    const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    const detail = issues ? issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') : (err as Error).message;
    throw new UsageError(`--options ${optionsFile}: ${detail}`);
  }
  return { vendor, tenant, options };
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
}

export const command: Command = {
  name: 'normalize',
  summary: 'normalize vendor CDRs (JSON lines on stdin) into the unified CDR v1 (JSON lines on stdout)',
  usage,
  async run(args) {
    const { vendor, tenant, options } = parse(args);
    const ctx = { now: () => new Date(), lineage: null, options };
    const cdrType = avroType(SCHEMA_FILES.normalized);
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    let lineNo = 0;
    let bad = 0;
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const result = normalizeLine(line, { vendor, tenant }, ctx);
      if (!result.ok) {
        bad++;
        process.stderr.write(`line ${lineNo}: ${result.error.message}\n`);
        continue;
      }
      // The mapping guarantees this; a record it lets through that the contract rejects is a bug, so stop loudly.
      if (!cdrType.isValid(result.cdr)) throw new Error(`line ${lineNo}: mapping produced a record outside cdr-normalized.avsc (bug)`);
      await write(`${JSON.stringify(result.cdr)}\n`);
    }
    if (bad > 0) process.stderr.write(`normalize: ${bad} of ${lineNo} lines were bad\n`);
    return bad === 0 ? 0 : 2;
  },
};
