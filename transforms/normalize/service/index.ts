// normalize service: consumes cdr.raw.* (read_committed), writes cdr.normalized (Avro, key cdr_id) and cdr.dlq,
// exactly once (Kafka transactions with the consumed offsets). `cdrflow run normalize` runs it.
export { startNormalizeService, registerNormalizeSchemas, type NormalizeService, type NormalizeStats } from './service.ts';
export { parseNormalizeServiceConfig, normalizeServiceConfigSchema, type NormalizeServiceConfig } from './config.ts';
