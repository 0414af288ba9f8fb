// The main job (`cdrflow start`): configured connectors, receiver, normalize and the ClickHouse sink in one process,
// with the ops port (/healthz /readyz /metrics /status /sql), a status line and `--demo` vendor simulators.
export { startMainJob, type MainJob, type MainJobOptions } from './job.ts';
export { appConfigSchema, loadAppConfig, ConfigError, ENV_OVERRIDES, endpoints, describeTarget, type AppConfig, type Endpoints, type AppConfigInput } from './config.ts';
export { formatStatus, formatStatusLine, type StatusSnapshot } from './status.ts';
export { startDemoVendors, DEMO_CREDENTIALS } from './demo.ts';
export { findRunningJob, opsQuery, opsStatus } from './ops-client.ts';
export { renderConfigReference } from './config-reference.ts';
