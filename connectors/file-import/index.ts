// File import for push vendors (Huawei PrivateNumber, Alibaba LVMS): JSON lines → raw envelopes (mode `import`) in
// cdr.raw.<vendor>, acknowledged by Kafka; bad lines reported by line number and skipped.
export { importFile, envelopesFromLine, countLines, fileStartProblem, utf16Problem, IMPORT_CONNECTOR, MAX_SKIPPED_LINE_BYTES, type ImportSummary, type BadLine } from './import.ts';
export { ImportOptionsSchema, IMPORT_VENDORS, type ImportOptions } from './config.ts';
export { checkTargetTopic, defaultRawTopic, targetTopicProblem, type TargetTopicVerdict } from './target-topic.ts';
