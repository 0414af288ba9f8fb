// ClickHouse sink: cdr.normalized (read_committed) -> `<db>.cdr` with one dedup-tokened insert per contiguous offset
// range, offsets committed after ClickHouse acked, rejected rows to cdr.dlq. `cdrflow run sink` / `cdrflow migrate`.
export { startClickHouseSink, assertTableReady, type ClickHouseSink } from './sink.ts';
export { parseSinkConfig, sinkConfigSchema, type SinkConfig } from './config.ts';
export { migrate, renderAll, loadMigrations } from './migrations.ts';
export { refreshCodeTables } from './code-tables.ts';
export { startDlqLoader, DLQ_LOADER, type DlqLoader } from './dlq-loader.ts';
export { dlqLoaderConfigSchema, type DlqLoaderConfig } from './config.ts';
