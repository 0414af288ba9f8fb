// `cdrflow migrate`: creates / upgrades the ClickHouse tables and views (versioned, idempotent), or prints the SQL,
// optionally in cluster form (ON CLUSTER, Replicated*, Distributed).
import type { Command } from '../command.ts';
import { asUsage, parseFlags } from '../args.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { endpoints } from '../../app/config.ts';
import { loadCommandConfig, settingExit } from '../app-config.ts';
import { checkDataDir } from '../../app/preflight.ts';
import { migrate, renderAll } from '../../sinks/clickhouse/migrations.ts';
import { assertIdentifier } from '../../sinks/clickhouse/sql-render.ts';

const usage = `Usage: cdrflow migrate [--config FILE] [--database NAME] [--cluster NAME] [--print]

Applies sinks/clickhouse/migrations/*.sql in order, records each in <database>.cdrflow_migrations (an edited,
already-applied migration is refused), and refreshes the end-status code tables. Safe to run again.

Options:
  --config FILE    the pipeline's YAML or JSON: its clickhouse section and sink.database
  --database NAME  target database (default: sink.database of the config: CLICKHOUSE_DATABASE or cdrflow)
  --cluster NAME   cluster form: ON CLUSTER NAME, Replicated*MergeTree on <table>_local, Distributed <table>
  --print          print the SQL instead of running it

Environment (as for every command): CLICKHOUSE_URL (+ CLICKHOUSE_USER, CLICKHOUSE_PASSWORD) for a server, else the
embedded engine in CLICKHOUSE_DATA_DIR (default .data/clickhouse, relative to the repository).`;

export const command: Command = {
  name: 'migrate',
  summary: 'create or upgrade the ClickHouse tables and analytics views (or --print the SQL, --cluster form)',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { config: { type: 'string' }, database: { type: 'string' }, cluster: { type: 'string' }, print: { type: 'boolean' } });
    const config = loadCommandConfig({ file: values.config });
    const database = values.database ?? config.sink.database;
    const cluster = values.cluster;
    asUsage(() => {
      assertIdentifier('database', database);
      if (cluster !== undefined) assertIdentifier('cluster', cluster);
    });
    if (values.print) {
      for (const step of renderAll({ database, cluster })) {
        console.log(`-- ${String(step.version).padStart(4, '0')} ${step.name}`);
        for (const s of step.statements) console.log(`${s};\n`);
      }
      return 0;
    }
    // A data directory that is a file, or an engine another process holds (a running `cdrflow start`): one line naming
    // it, exit 78, as for `start` (they were mkdir's EEXIST text or exit 1).
    const target = endpoints(config).clickhouse;
    let client;
    try {
      if (target.kind === 'embedded') checkDataDir(target.dataDir);
      client = await createClickHouse({ ...target, database });
    } catch (err) {
      throw settingExit(err) ?? err;
    }
    try {
      const result = await migrate(client, { database, cluster }, (line) => console.error(`cdrflow migrate: ${line}`));
      console.log(JSON.stringify({ database, cluster: cluster ?? null, ...result }));
    } catch (err) {
      // A database holding tables that are not ours, or an edited migration: a setting
      // this command cannot use, exit 78 as for `start` (it was 1, as for an unknown error).
      throw settingExit(err) ?? err;
    } finally {
      await client.close();
    }
    return 0;
  },
};
