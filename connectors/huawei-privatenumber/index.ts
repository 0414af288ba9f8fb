// Huawei PrivateNumber (隐私保护通话): fee and call-event pushes verified by X-AKSK/X-WSSE and stored raw
// (cdr.raw.huawei-privatenumber, key sessionId; events on cdr.events.huawei-privatenumber), recording links (the vendor's stand-in is in simulators/huawei-privatenumber/).
export { createHuaweiRoute, HUAWEI_CONNECTOR, CALL_EVENT_TYPES, MAX_FEE_RECORDS } from './receiver-route.ts';
export { buildAuthHeaders, parseAuthHeaders, verifyDigest, akskDigest, wsseDigest, formatCreated } from './aksk.ts';
export { huaweiNaturalKey, type HuaweiKeySource } from '../../core/records/huawei-key.ts';
export * from './config.ts';
export { resolveRecordingUrl, type RecordingLink, type RecordingResolverOptions } from './recording.ts';
export { resolveRecordingLinks, needsRecordingLink, RECORDING_URL_ATTRIBUTE, RECORDING_RESOLVED_AT_ATTRIBUTE, RECORDING_ERROR_ATTRIBUTE } from './recording-links.ts';
export { findRawEnvelope } from './raw-lookup.ts';
