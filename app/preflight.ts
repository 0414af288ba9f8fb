// What `cdrflow start` checks before anything starts or is created: a setting the job cannot use (a data directory
// it may not write, a receiver port another process holds) is one line naming the setting and its environment
// variable (CdrflowError 'config', exit 78), found before a server, an engine file or a topic exists.
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { CdrflowError } from '../core/errors.ts';
import type { ReceiverConfig } from '../connectors/push-vendors.ts';
import { receiverListenError } from '../connectors/receiver/receiver.ts';

const DATA_DIR_SETTING = 'clickhouse.dataDir (env CLICKHOUSE_DATA_DIR)';

/**
 * The embedded engine's data directory must be a directory this process may write, or one it may create: a file in
 * the way, a parent that is a file or missing rights are one line naming the setting (kind config) before anything
 * starts or is created — not mkdir's errno text from inside the engine's start, classified as a bug. Nothing is
 * created here (the engine creates the directory when it opens).
 */
export function checkDataDir(dir: string): void {
  // The directory itself, else its nearest existing parent (which the engine's mkdir writes into).
  let existing = dir;
  for (;;) {
    try {
      statSync(existing);
      break;
    } catch (err) {
      const parent = dirname(existing);
      // Missing, below a file, or below a directory this user may not search: the parent tells which.
      const code = (err as { code?: unknown }).code;
      if (!(code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') || parent === existing) throw dataDirError(dir, existing, err);
      existing = parent;
    }
  }
  try {
    if (!statSync(existing).isDirectory()) throw Object.assign(new Error(`${existing} is not a directory`), { code: 'ENOTDIR' });
    accessSync(existing, fsConstants.W_OK | fsConstants.X_OK);
  } catch (err) {
    throw dataDirError(dir, existing, err);
  }
}

/** The one line for a data directory `dir` that cannot be used because of `err` on `at` (dir or its parent). */
function dataDirError(dir: string, at: string, err: unknown): CdrflowError {
  const code = (err as { code?: unknown } | undefined)?.code;
  const where = at === dir ? dir : `${dir} cannot be created: ${at}`;
  let what: string;
  switch (code) {
    case 'ENOTDIR':
      what = `${where} is a file, not a directory`;
      break;
    case 'EACCES':
    case 'EPERM':
      what = `${where} is not writable by this user`;
      break;
    case 'EROFS':
      what = `${where} is on a read-only file system`;
      break;
    default:
      what = `${where}: ${err instanceof Error ? err.message : String(err)}`;
  }
  return new CdrflowError('config', `${DATA_DIR_SETTING}: ${what}; set it to a directory this user may write (it is created when missing), or set CLICKHOUSE_URL to use a ClickHouse server`, {
    ...(typeof code === 'string' ? { code } : {}),
    cause: err,
  });
}

/**
 * A configured receiver's host:port, tried (bound and released at once) before anything starts, so a port in use is
 * found before the stages start and create their topics; the receiver's own listen reports the same way should the
 * port be taken in between.
 */
export async function checkReceiverPort(receiver: Pick<ReceiverConfig, 'host' | 'port'>): Promise<void> {
  if (receiver.port === 0) return;
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: receiver.host, port: receiver.port, exclusive: true }, () => resolve());
    });
  } catch (err) {
    throw receiverListenError(err, receiver.host, receiver.port);
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
