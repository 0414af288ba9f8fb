// Alibaba LVMS's stand-in: a DTO generator and a submitter that calls the TOP-shaped endpoint signed like the vendor
// (md5 / hmac / hmac-sha256) and retries like it. For the demo, `cdrflow simulate` and tests.
export { startLvmsSubmitter, submitLvmsRecord, signedParams, readTopAnswer, LvmsDtoGenerator, type LvmsSubmitter, type LvmsSubmitterOptions, type LvmsSubmitterStats } from './submitter.ts';
