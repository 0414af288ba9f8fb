// `cdrflow migrate`: creates / upgrades the ClickHouse tables and views (versioned, idempotent), or prints the SQL,
// optionally in cluster form (ON CLUSTER, Replicated*, Distributed).
import type { Command } from '../command.ts';
import { asUsage, parseFlags } from '../args.ts';
import { createClickHouse } from '../../core/clickhouse.ts';
import { migrate, renderAll } from '../../sinks/clickhouse/migrations.ts';
import { assertIdentifier } from '../../sinks/clickhouse/sql-render.ts';

const usage = `Usage: cdrflow migrate [--database NAME] [--cluster NAME] [--print]

Applies sinks/clickhouse/migrations/*.sql in order, records each in <database>.cdrflow_migrations (an edited,
already-applied migration is refused), and refreshes the end-status code tables. Safe to run again.

Options:
  --database NAME  target database (default: cdrflow, or $CLICKHOUSE_DATABASE when set)
  --cluster NAME   cluster form: ON CLUSTER NAME, Replicated*MergeTree on <table>_local, Distributed <table>
  --print          print the SQL instead of running it

Environment: CLICKHOUSE_URL (+ CLICKHOUSE_USER, CLICKHOUSE_PASSWORD) for a server, else the embedded engine in
CLICKHOUSE_DATA_DIR (default .data/clickhouse).`;

export const command: Command = {
  name: 'migrate',
  summary: 'create or upgrade the ClickHouse tables and analytics views (or --print the SQL, --cluster form)',
  usage,
  async run(args) {
    const { values } = parseFlags(args, { database: { type: 'string' }, cluster: { type: 'string' }, print: { type: 'boolean' } });
    const database = values.database ?? (process.env['CLICKHOUSE_DATABASE'] || 'cdrflow');
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
    const client = await createClickHouse();
    try {
      const result = await migrate(client, { database, cluster }, (line) => console.error(`cdrflow migrate: ${line}`));
      console.log(JSON.stringify({ database, cluster: cluster ?? null, ...result }));
    } finally {
      await client.close();
    }
    return 0;
  },
};
