// How `cdrflow sql` and `cdrflow status` reach a running `cdrflow start`: its ops port on 127.0.0.1. The embedded
// engine allows one process per data directory, so while the job runs other commands must ask it.
import type { StatusSnapshot } from './status.ts';
import { OPS_SERVER_HEADER, SQL_CONTENT_TYPE } from '../core/ops-server.ts';

export class OpsRequestError extends Error {
  override readonly name = 'OpsRequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The running job's base URL when one answers on `port`, else undefined (nothing listening, or not cdrflow). */
export async function findRunningJob(port: number, timeoutMs = 2_000): Promise<string | undefined> {
  const base = `http://127.0.0.1:${port}`;
  // A timer of our own, not AbortSignal.timeout: that one is unref'd, and a port whose holder accepts and then drops
  // or ignores the connection leaves nothing else keeping the process alive, which then ended silently (exit 13).
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer on ${base} within ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(`${base}/healthz`, { signal: abort.signal });
    if (res.status !== 200 || res.headers.get(OPS_SERVER_HEADER) !== 'cdrflow' || (await res.text()).trim() !== 'ok') return undefined;
    return base;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** `color`: the caller's own terminal decides (the job's stdout may be a terminal when the caller's is not). */
export async function opsQuery(base: string, sql: string, format: string, color = false): Promise<string> {
  // application/sql: the ops port refuses the content types a web page could send cross-site without a preflight.
  const res = await fetch(`${base}/sql?format=${encodeURIComponent(format)}&color=${color ? 1 : 0}`, {
    method: 'POST',
    body: sql,
    headers: { 'content-type': SQL_CONTENT_TYPE },
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new OpsRequestError(res.status, text.trim());
  return text;
}

export async function opsStatus(base: string): Promise<StatusSnapshot> {
  const res = await fetch(`${base}/status`, { signal: AbortSignal.timeout(60_000) });
  if (res.status !== 200) throw new OpsRequestError(res.status, (await res.text()).trim());
  return (await res.json()) as StatusSnapshot;
}
