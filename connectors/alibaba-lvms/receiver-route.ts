// Alibaba TOP-shaped endpoint for `alibaba.lvms.lvr.receivecallrecord`: POST (or GET) /router/rest with the common
// TOP parameters in the form body and/or the query string. Checks method, app_key, timestamp (GMT+8, ≤ 10 min skew),
// v=2.0, sign_method and sign; stores `ivr_call_record_d_t_o` verbatim; answers in the requested format (json|xml,
// default xml as TOP does) only after Kafka acknowledged. A refusal made without parsing the body (its size, coding or
// lateness, the receiver's body budget) knows only the query string's `format`: xml when the form body alone asks json.
//
// Errors use TOP's `error_response` {code,msg,sub_code,sub_msg,request_id}. Platform codes (< 100) follow TOP's
// published error-code list; like the TOP gateway these are HTTP 200. Outside TOP's protocol we use HTTP status too:
// 413 oversized (isv.*), 501 / 415 a transfer coding other than chunked / a content coding (code 41, isv.*, unread),
// 408 body timeout and 503 Kafka unavailable (code 10 + an isp.* sub_code: retryable in every TOP client).
import { isUtf8 } from 'node:buffer';
import type { LvmsApp, LvmsReceiverConfig, SignMethod } from './config.ts';
import { SIGN_METHODS } from './config.ts';
import { parseTopTimestamp, verifyTopSign } from './top-sign.ts';
import { checkLvmsDto } from '../../core/records/lvms-key.ts';
import { NonceCache } from '../receiver/nonce-cache.ts';
import { quote } from '../../core/input-limits.ts';
import type { IncomingPush, Outcome, PushReply, Route, RouteContext, TransportFailure } from '../receiver/types.ts';

export const LVMS_CONNECTOR = 'lvms-receiver';
export const LVMS_METHOD = 'alibaba.lvms.lvr.receivecallrecord';
export const LVMS_RESPONSE_ROOT = 'alibaba_lvms_lvr_receivecallrecord_response';
export const LVMS_DTO_PARAM = 'ivr_call_record_d_t_o';

export type TopFormat = 'json' | 'xml';

export interface TopError {
  code: number;
  msg: string;
  sub_code: string;
  sub_msg: string;
}

export function renderTop(format: TopFormat, root: string, fields: Record<string, unknown>): string {
  if (format === 'json') return JSON.stringify({ [root]: fields });
  return `<?xml version="1.0" encoding="utf-8" ?>${xmlElement(root, fields)}`;
}

function xmlElement(name: string, value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const inner = Object.entries(value as Record<string, unknown>).map(([k, v]) => xmlElement(k, v)).join('');
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function contentTypeOf(format: TopFormat): string {
  return format === 'json' ? 'application/json;charset=UTF-8' : 'text/xml;charset=UTF-8';
}

function errorReply(format: TopFormat, requestId: string, status: number, outcome: Outcome, e: TopError): PushReply {
  return {
    status,
    contentType: contentTypeOf(format),
    body: renderTop(format, 'error_response', { ...e, request_id: requestId }),
    outcome,
    code: `${e.code}/${e.sub_code}`,
    detail: e.sub_msg,
  };
}

/**
 * TOP answers in the requested format; an unknown or absent one means xml (TOP's default). Spelled exactly: the full
 * handling refuses `format=JSON`, so an early refusal must not read it as json either (one answer shape per request).
 */
function formatOf(query: URLSearchParams, params?: Map<string, string>): TopFormat {
  return (params?.get('format') ?? query.get('format')) === 'json' ? 'json' : 'xml';
}

/**
 * TOP's success answer for one call. `stored`: the records this request stored, 0 for a copy of a call stored before,
 * whose answer is its first copy's (the count is of the call received, as TOP's).
 */
function success(format: TopFormat, requestId: string, message: string, stored: 0 | 1): PushReply {
  return {
    status: 200,
    contentType: contentTypeOf(format),
    body: renderTop(format, LVMS_RESPONSE_ROOT, { lvms_result_d_t_o: { count: 1, success: true, code: 'SUCCESS', message }, request_id: requestId }),
    outcome: 'accepted',
    code: stored === 1 ? 'SUCCESS' : 'SUCCESS/already-stored',
    records: stored,
  };
}

export function createLvmsRoute(config: LvmsReceiverConfig, opts: { now: () => number }): Route {
  const apps = new Map<string, LvmsApp>(config.apps.map((a) => [a.appKey, a]));
  const skewMs = config.maxClockSkewSeconds * 1000;
  // TOP has no nonce: the sign, a digest over every parameter and the timestamp, stands in for one. A call sent again
  // with it inside the window is a replay, and stored again its newer received_at would make an older version of the
  // record outrank a newer one. Remembered as long as its timestamp can pass: up to timestamp + skew included (the
  // check refuses `>`), while an entry is gone from its expiry on: one millisecond more.
  const signs = new NonceCache(config.signCacheMaxEntries, opts.now);

  // `format`: the query's, unless the caller read the form body's (a transport failure comes before the body is read).
  const failure = (kind: TransportFailure, push: Pick<IncomingPush, 'query' | 'requestId'>, detail: string, format = formatOf(push.query)): PushReply => {
    switch (kind) {
      case 'too_large':
        return errorReply(format, push.requestId, 413, 'too_large', { code: 41, msg: 'Invalid Arguments', sub_code: 'isv.request-too-large', sub_msg: detail });
      case 'timeout':
        // Retryable (isp.*): nothing was stored and the record is not at fault, so an isv.* answer, which TOP clients
        // take as their own mistake and do not retry, would lose it over a slow network.
        return errorReply(format, push.requestId, 408, 'timeout', { code: 10, msg: 'Service Currently Unavailable', sub_code: 'isp.request-timeout', sub_msg: detail });
      case 'method_not_allowed':
        return errorReply(format, push.requestId, 405, 'method_not_allowed', { code: 9, msg: 'Http Action Not Allowed', sub_code: 'isv.http-action-not-allowed', sub_msg: detail });
      case 'transfer_coding':
        return errorReply(format, push.requestId, 501, 'bad_request', { code: 41, msg: 'Invalid Arguments', sub_code: 'isv.transfer-coding-not-supported', sub_msg: detail });
      case 'content_coding':
        return errorReply(format, push.requestId, 415, 'bad_request', { code: 41, msg: 'Invalid Arguments', sub_code: 'isv.content-coding-not-supported', sub_msg: detail });
      case 'unavailable':
        return errorReply(format, push.requestId, 503, 'unavailable', { code: 10, msg: 'Service Currently Unavailable', sub_code: 'isp.service-unavailable', sub_msg: detail });
      case 'error':
        return errorReply(format, push.requestId, 500, 'error', { code: 15, msg: 'Remote Service Error', sub_code: 'isp.unknown-error', sub_msg: detail });
    }
  };

  const handle = async (push: IncomingPush, ctx: RouteContext): Promise<PushReply> => {
    const collected = collectParams(push);
    const formatGuess = formatOf(push.query, collected.params);
    const bad = (code: number, msg: string, sub_code: string, sub_msg: string, outcome: Outcome = 'bad_request') =>
      errorReply(formatGuess, push.requestId, 200, outcome, { code, msg, sub_code, sub_msg });
    if (!collected.ok) return bad(41, 'Invalid Arguments', collected.subCode ?? 'isv.invalid-parameter', collected.problem);
    const params = collected.params;

    const rawFormat = params.get('format');
    if (rawFormat !== undefined && rawFormat !== 'json' && rawFormat !== 'xml') {
      return bad(23, 'Invalid Format', 'isv.invalid-parameter:format', 'format must be json or xml');
    }
    const method = params.get('method');
    if (!method) return bad(21, 'Missing Method', 'isv.missing-parameter:method', 'method is required');
    if (method !== LVMS_METHOD) return bad(22, 'Invalid Method', 'isv.invalid-parameter:method', `only ${LVMS_METHOD} is served here`);
    const appKey = params.get('app_key');
    if (!appKey) return bad(28, 'Missing App Key', 'isv.missing-parameter:app_key', 'app_key is required', 'auth_failed');
    const app = apps.get(appKey);
    if (!app) return bad(29, 'Invalid App Key', 'isv.appkey-not-exists', `unknown app_key ${quote(appKey, 40)}`, 'auth_failed');
    const timestamp = params.get('timestamp');
    if (!timestamp) return bad(30, 'Missing Timestamp', 'isv.missing-parameter:timestamp', 'timestamp is required', 'auth_failed');
    const ts = parseTopTimestamp(timestamp);
    if (ts === undefined) {
      return bad(31, 'Invalid Timestamp', 'isv.invalid-parameter:timestamp', 'timestamp must be yyyy-MM-dd HH:mm:ss (GMT+8)', 'auth_failed');
    }
    if (Math.abs(ctx.now() - ts) > skewMs) {
      return bad(31, 'Invalid Timestamp', 'isv.invalid-parameter:timestamp', `timestamp is more than ${config.maxClockSkewSeconds} s away from server time`, 'auth_failed');
    }
    const v = params.get('v');
    if (!v) return bad(32, 'Missing Version', 'isv.missing-parameter:v', 'v is required');
    if (v !== '2.0') return bad(34, 'Unsupported Version', 'isv.invalid-parameter:v', 'only v=2.0 is supported');
    // TOP clients that omit sign_method sign with md5 (the protocol's original default).
    const signMethod = (params.get('sign_method') ?? 'md5') as SignMethod;
    if (!(SIGN_METHODS as readonly string[]).includes(signMethod) || !config.signMethods.includes(signMethod)) {
      return bad(25, 'Invalid Signature', 'isv.invalid-parameter:sign_method', `sign_method must be one of ${config.signMethods.join(', ')}`, 'auth_failed');
    }
    const sign = params.get('sign');
    if (!sign) return bad(24, 'Missing Signature', 'isv.missing-parameter:sign', 'sign is required', 'auth_failed');
    if (!verifyTopSign(params, app.appSecret, signMethod, sign)) {
      return bad(25, 'Invalid Signature', 'isv.invalid-signature', 'sign does not match the parameters and the app secret', 'auth_failed');
    }

    const dto = params.get(LVMS_DTO_PARAM);
    if (dto === undefined || dto.trim() === '') {
      return bad(40, 'Missing Required Arguments', `isv.missing-parameter:${LVMS_DTO_PARAM}`, `${LVMS_DTO_PARAM} is required`);
    }
    const check = checkLvmsDto(dto);
    if (!check.ok) return bad(41, 'Invalid Arguments', `isv.invalid-parameter:${LVMS_DTO_PARAM}`, check.problem);

    // Upper case: the hex case is not part of the digest. Spent only once the call is stored, like a Huawei nonce.
    const spent = sign.toUpperCase();
    const spentUntil = ts + skewMs + 1;
    const claim = signs.claim(app.appKey, spent, spentUntil);
    // The sign covers every parameter, so a sign claimed within the window is the very call stored (or being stored): a
    // client re-sending it after a lost answer, or a replay. Stored again, its newer received_at would outrank a newer
    // version; refused, a client would take the success it is owed for an error. So it is answered as its first copy
    // was, and nothing is stored: success once that copy is stored, "retry later" while Kafka has not yet answered for
    // it (the first copy may still fail and give its sign back).
    if (claim === 'pending') return failure('unavailable', push, 'the same call (the same sign) is being stored now; retry later', formatGuess);
    if (claim === 'used') return success(formatGuess, push.requestId, 'already stored (the same call, with the same sign, was stored before)', 0);
    if (claim === 'full') return failure('unavailable', push, `too many calls whose timestamp is still within ${config.maxClockSkewSeconds} s to remember their signs (signCacheMaxEntries)`, formatGuess);

    const attributes: Record<string, string> = { sign_method: signMethod, format: rawFormat ?? 'xml', key_source: check.key.source, v };
    for (const extra of ['rpc_context', 'partner_id', 'target_app_key', 'session']) {
      const value = params.get(extra);
      // The session is a user credential: record that one was sent, never its value.
      if (value !== undefined) attributes[extra] = extra === 'session' ? 'present' : value;
    }
    try {
      await ctx.publish(
        [
          {
            vendor: 'alibaba-lvms',
            tenant_id: app.appKey,
            natural_key: check.key.key,
            received_at: push.receivedAt,
            connector: LVMS_CONNECTOR,
            mode: 'live',
            request_id: push.requestId,
            payload: dto,
            payload_format: 'json',
            attributes,
          },
        ],
        config.topic,
      );
    } catch (err) {
      signs.release(app.appKey, spent, spentUntil);
      return failure('unavailable', push, `could not store the record, retry later: ${err instanceof Error ? err.message : String(err)}`, formatGuess);
    }
    signs.keep(app.appKey, spent, spentUntil);
    return success(formatGuess, push.requestId, 'accepted', 1);
  };

  // No `authorize`: the TOP sign covers the form body's parameters (app_key and timestamp may be in it too), so nothing
  // can be checked before the body is read; the receiver's bodyBudgetBytes bounds what unsigned calls hold.
  return { name: 'alibaba-lvms', paths: [config.path], topics: [config.topic], methods: ['POST', 'GET'], handle, failure };
}

/** A form refused for its charset still yields its (ASCII) `format`, so the refusal comes in the format asked for. */
type Collected = { ok: true; params: Map<string, string> } | { ok: false; problem: string; subCode?: string; params?: Map<string, string> };

// TOP's protocol: every request and answer is UTF-8 (form values percent-encoded as UTF-8) and the sign is a digest of
// the values' UTF-8 bytes. A form in another charset (GBK) decodes into other strings than were signed, so it is
// refused as what it is, not as an invalid sign.
const NOT_UTF8 = 'TOP requests are UTF-8 only: send the form percent-encoded as UTF-8 (charset=UTF-8)';

/** Query string plus url-encoded form body. A name given twice is refused: the signature would be ambiguous. */
function collectParams(push: IncomingPush): Collected {
  const params = new Map<string, string>();
  const add = (source: URLSearchParams): string | undefined => {
    for (const [name, value] of source) {
      if (params.has(name)) return `parameter ${quote(name, 40)} is given more than once`;
      params.set(name, value);
    }
    return undefined;
  };
  const fromQuery = add(push.query);
  if (fromQuery) return { ok: false, problem: fromQuery };
  if (push.body.length > 0) {
    const type = String(push.headers['content-type'] ?? 'application/x-www-form-urlencoded').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      return { ok: false, problem: `content-type ${quote(type, 60)} is not supported; send application/x-www-form-urlencoded` };
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(push.body);
    } catch {
      return { ok: false, problem: 'body is not UTF-8' };
    }
    const fromBody = add(new URLSearchParams(text));
    if (fromBody) return { ok: false, problem: fromBody };
    const charset = /;\s*charset\s*=\s*"?([^";\s]*)/.exec(type)?.[1];
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return { ok: false, subCode: 'isv.invalid-parameter:charset', problem: `the form is declared charset=${quote(charset, 20)}; ${NOT_UTF8}`, params };
    }
    if (!percentDecodesToUtf8(push.body.toString('latin1'))) {
      return { ok: false, subCode: 'isv.invalid-parameter:charset', problem: `the form carries invalid UTF-8 (percent-encoded bytes of another charset, such as GBK); ${NOT_UTF8}`, params };
    }
  }
  if (!percentDecodesToUtf8(push.rawQuery)) {
    return { ok: false, subCode: 'isv.invalid-parameter:charset', problem: `the query string carries invalid UTF-8 (percent-encoded bytes of another charset, such as GBK); ${NOT_UTF8}`, params };
  }
  return { ok: true, params };
}

/**
 * Whether url-encoded text (its bytes as latin1 characters) is UTF-8 once percent-decoded. URLSearchParams turns bytes
 * that are not UTF-8 into U+FFFD, which no sign would match.
 */
function percentDecodesToUtf8(latin1: string): boolean {
  return isUtf8(Buffer.from(latin1.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1'));
}
