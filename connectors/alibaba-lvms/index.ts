// Alibaba LVMS `alibaba.lvms.lvr.receivecallrecord`: a TOP-shaped endpoint (signed md5/hmac/hmac-sha256) storing
// each ivr_call_record_d_t_o verbatim in cdr.raw.alibaba-lvms, key call_record_id or `job:<job>|<called>|<start>`.
export { createLvmsRoute, LVMS_CONNECTOR, LVMS_METHOD, LVMS_RESPONSE_ROOT, LVMS_DTO_PARAM, renderTop } from './receiver-route.ts';
export { lvmsNaturalKey, checkLvmsDto, type LvmsNaturalKey, type LvmsKeySource } from '../../core/records/lvms-key.ts';
export { topSign, topSignString, verifyTopSign, formatTopTimestamp, parseTopTimestamp } from './top-sign.ts';
export * from './config.ts';
