// Tencent RTC (TUICallKit) call-record simulator: v1 get_records_by_filter and v4 get_record_by_filter / _by_callid with UserSig checks, 7-day retention,
// paging and documented errorCodes. `startTrtcSimulator(opts)` → { url, dataset, faults, stats, stop() }.
export { startTrtcSimulator, TRTC_PATH, TRTC_V4_FILTER_PATH, TRTC_V4_CALLID_PATH, RETENTION_SEC, type TrtcSimulator, type TrtcSimulatorOptions } from './server.ts';
export { TrtcDataset, CALL_RESULTS, type StoredCall } from './dataset.ts';
export { verifyUserSig, decodeUserSig, USERSIG_ERRORS } from './usersig.ts';
export { toV4Record, roomIdType } from './v4.ts';
