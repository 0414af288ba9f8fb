// Each test file's temporary files under one directory of its own, removed when the file's tests are done: many tests
// make a directory with mkdtemp(tmpdir()) and leave it (a config file, a log, a lock, a ClickHouse data dir), and the
// children they start inherit TMPDIR, so theirs go there too. os.tmpdir() reads TMPDIR at every call.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const outer = tmpdir();
const root = mkdtempSync(join(outer, 'cdrflow-test-'));
// As /tmp is (sticky, anyone may write): a test runs a child as another user (app/preflight.test.ts), whose own
// temporary files (tsx's cache) go here too.
chmodSync(root, 0o1777);
process.env.TMPDIR = root;

afterAll(() => {
  process.env.TMPDIR = outer;
  rmSync(root, { recursive: true, force: true });
});
