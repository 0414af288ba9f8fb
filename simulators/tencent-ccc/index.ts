// Tencent CCC simulator: DescribeProtectedTelCdr over HTTP with TC3 verification, 20 req/s, PageSize <= 100 and
// faults on demand. `startCccSimulator(opts)` → { url, connection, dataset, faults, stats, stop() }.
export { startCccSimulator, CCC_HOST, CCC_ACTION, CCC_VERSION, type CccSimulator, type CccSimulatorOptions } from './server.ts';
export { CccDataset, END_STATUS, type StoredCdr } from './dataset.ts';
export { verifyTc3, tc3Signature } from './tc3.ts';
