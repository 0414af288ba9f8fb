// `cdrflow start` runs the sources and normalize as one pipeline, so a source writing to a topic normalize does not
// read is refused with exit 78 before anything starts (app/config.ts sourceTopicProblems): it used to run, store that
// vendor's records and never normalize, load or reconcile one. Kafka is on a closed port: a config it accepted would
// fail differently.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cdrflowWithoutServers } from '../../test/cli-without-servers.ts';

it('refuses a source whose raw topic normalize does not read, naming the setting (exit 78)', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'cdrflow-start-topics-')), 'c.yaml');
  writeFileSync(file, 'connectors:\n  tencent-ccc:\n    topics: { raw: ccc-in }\n');
  const r = cdrflowWithoutServers(['start', '--config', file]);
  expect(r.status, r.stderr).toBe(78);
  expect(r.stderr).toContain('connectors.tencent-ccc.topics.raw: topic ccc-in is not among normalize.inputTopics');
});
