// Huawei PrivateNumber push route: fee notifications ({"eventType":"fee","feeLst":[1..50]}) and call events
// ({"eventType":"callin"|...,"statusInfo":{...}}). Verifies X-AKSK (or legacy X-WSSE), refuses stale and replayed
// requests, stores every record raw, and answers 200 only after Kafka acknowledged all of them.
//
// What is refused (Huawei-style {"resultcode","resultdesc"} body, nothing written): bad or missing auth (401), a
// stale Created (403) and a nonce already spent (403), all before the body is read (a replay of a push still being
// stored is refused once its body is in), a body that is not JSON or not the
// documented envelope shape (400), what no real push carries (400: invalid UTF-8, nesting deeper than 16, a member
// given twice, a sessionId over 256 bytes, a record over 64 KiB — core/input-limits.ts; unread: a Transfer-Encoding
// other than chunked, 501, and a Content-Encoding, 415), an oversized body (413),
// Kafka unavailable (503 → Huawei re-pushes on its 1/4/9/106/203/300-minute schedule).
// What is NOT refused: a record that is wrong inside (no sessionId, odd values). It is stored raw and normalize
// dead-letters it with the reason, because refusing the push would also refuse the up-to-49 good records beside it,
// and after six re-pushes Huawei drops them for good.
// With `recordingLinks.enabled`, recorded fee records get their resolved download link as envelope attributes
// (recording-links.ts); the payload stays verbatim and the push is neither refused nor lost over a link.
import { parseAuthHeaders, verifyDigest, type AuthScheme } from './aksk.ts';
import { CdrflowError } from '../../core/errors.ts';
import { NonceCache } from '../receiver/nonce-cache.ts';
import { huaweiAppAttributes, type HuaweiApp, type HuaweiReceiverConfig } from './config.ts';
import { huaweiNaturalKey, parseHuaweiText } from '../../core/records/huawei-key.ts';
import { resolveRecordingLinks } from './recording-links.ts';
import { rawArrayElements } from '../../core/records/json-raw.ts';
import { naturalKeyProblem, quote, recordSizeProblem } from '../../core/input-limits.ts';
import type { RawEnvelope } from '../../core/envelope.ts';
import type { Authorization, IncomingPush, Outcome, PushReply, Route, RouteContext, TransportFailure } from '../receiver/types.ts';

export const HUAWEI_CONNECTOR = 'huawei-receiver';
export const MAX_FEE_RECORDS = 50;
export const CALL_EVENT_TYPES = ['callin', 'callout', 'alerting', 'answer', 'disconnect'] as const;

const JSON_TYPE = 'application/json;charset=UTF-8';

function reply(status: number, outcome: Outcome, resultcode: string, resultdesc: string, extra: Partial<PushReply> = {}): PushReply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify({ resultcode, resultdesc }), outcome, code: resultcode, detail: resultdesc, ...extra };
}

/** What `authorize` established from a push's headers: its signature checks out for `app`. */
export interface SignedPush {
  app: HuaweiApp;
  scheme: AuthScheme;
  nonce: string;
  created: string;
}

const NONCE_USED = () => reply(403, 'auth_failed', '1010002', 'Invalid request: Nonce already used');

export function createHuaweiRoute(config: HuaweiReceiverConfig, opts: { now: () => number }): Route<SignedPush> {
  const apps = new Map<string, HuaweiApp>(config.apps.map((a) => [a.appKey, a]));
  const skewMs = config.maxClockSkewSeconds * 1000;
  const nonces = new NonceCache(config.nonceCacheMaxEntries, opts.now);

  const failure = (kind: TransportFailure, _push: unknown, detail: string): PushReply => {
    switch (kind) {
      case 'too_large':
        return reply(413, 'too_large', '1010002', `Invalid request: ${detail}`);
      case 'timeout':
        return reply(408, 'timeout', '1010002', `Invalid request: ${detail}`);
      case 'method_not_allowed':
        return reply(405, 'method_not_allowed', '1010002', `Invalid request: ${detail}`);
      // Huawei has no result code of its own for a coding it does not send: the body says 1010002 (invalid request),
      // and the metric's `code` label adds a qualifier of ours, as LVMS's sub_code does, so that these two are not
      // counted with the 400s under the same label (outcome bad_request is the same for all three).
      case 'transfer_coding':
        return reply(501, 'bad_request', '1010002', `Invalid request: ${detail}`, { code: '1010002/transfer-coding-not-supported' });
      case 'content_coding':
        return reply(415, 'bad_request', '1010002', `Invalid request: ${detail}`, { code: '1010002/content-coding-not-supported' });
      case 'unavailable':
        return reply(503, 'unavailable', '1010001', `Internal error, retry later: ${detail}`);
      case 'error':
        return reply(500, 'error', '1010001', `Internal error: ${detail}`);
    }
  };

  const stale = (created: string, now: number) => Math.abs(now - Date.parse(created)) > skewMs;
  // A nonce must be remembered as long as its Created can pass `stale`: up to Created + skew included (`stale` is `>`),
  // read by the same Date.parse, while an entry is gone from its expiry on: one millisecond more.
  const spentUntil = (created: string) => Date.parse(created) + skewMs + 1;
  const TIME_OUT = () => reply(403, 'auth_failed', '1010013', 'Time out limit');

  // The signature covers Nonce and Created, not the body: a push that fails it, or replays a nonce already spent, is
  // refused before its body is read. The nonce is only looked at here: `handle` spends it once the push is stored.
  const authorize = (push: Pick<IncomingPush, 'headers'>): Authorization<SignedPush> => {
    const auth = parseAuthHeaders(push.headers, config.allowWsse);
    if (!auth.ok) return { refusal: reply(auth.status, 'auth_failed', auth.resultcode, auth.resultdesc) };
    const app = apps.get(auth.token.username);
    if (!app) return { refusal: reply(401, 'auth_failed', '1010003', 'Invalid app_key') };
    if (!verifyDigest(auth.scheme, auth.token, app.appSecret)) {
      return { refusal: reply(401, 'auth_failed', '1010003', 'Invalid app_key or PasswordDigest') };
    }
    if (stale(auth.token.created, opts.now())) return { refusal: TIME_OUT() };
    if (nonces.used(app.appKey, auth.token.nonce)) return { refusal: NONCE_USED() };
    return { grant: { app, scheme: auth.scheme, nonce: auth.token.nonce, created: auth.token.created } };
  };

  const handle = async (push: IncomingPush, ctx: RouteContext, signed?: SignedPush): Promise<PushReply> => {
    if (!signed) throw new CdrflowError('bug', 'a Huawei push reached handle without the grant of authorize');
    const { app, nonce } = signed;
    // The signature was checked once, by `authorize`; Created is judged fresh again when the push is stored, as the
    // body may have taken up to bodyTimeoutMs to come in.
    if (stale(signed.created, ctx.now())) return TIME_OUT();
    const expiresAt = spentUntil(signed.created);
    const claim = nonces.claim(app.appKey, nonce, expiresAt);
    // A push still being stored with it is no less a replay: the signature does not cover the body.
    if (claim === 'used' || claim === 'pending') return NONCE_USED();
    // Retryable: Huawei re-pushes after a 503, by when the nonces of the window have expired.
    if (claim === 'full') return failure('unavailable', push, `too many pushes whose Created is still within ${config.maxClockSkewSeconds} s to remember their nonces (nonceCacheMaxEntries)`);

    const result = await accept(push, ctx, app, signed.scheme);
    // The nonce only stays spent when the push was stored: a sender re-sending the same headers after our 503 must
    // get in, or a request we never stored could never be delivered.
    if (result.outcome === 'accepted') nonces.keep(app.appKey, nonce, expiresAt);
    else nonces.release(app.appKey, nonce, expiresAt);
    return result;
  };

  const accept = async (push: IncomingPush, ctx: RouteContext, app: HuaweiApp, scheme: AuthScheme): Promise<PushReply> => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(push.body);
    } catch {
      return reply(400, 'bad_request', '1010002', 'Invalid request: body is not UTF-8 JSON');
    }
    // The door's limits (core/input-limits.ts): a repeated member would be dropped by JSON.parse while we answer
    // success, and a 5,000-deep document would only blow up later in normalize, so both are refused here.
    const strict = parseHuaweiText(text);
    if (!strict.ok) return reply(400, 'bad_request', '1010002', `Invalid request: ${strict.problem}`);
    const doc = strict.value;
    if (!isObject(doc) || typeof doc['eventType'] !== 'string') {
      return reply(400, 'bad_request', '1010002', 'Invalid request: body must be an object with eventType');
    }
    const eventType = doc['eventType'];
    const base = {
      vendor: 'huawei-privatenumber' as const,
      tenant_id: app.appKey,
      received_at: push.receivedAt,
      connector: HUAWEI_CONNECTOR,
      mode: 'live' as const,
      request_id: push.requestId,
      payload_format: 'json',
    };
    const commonAttributes: Record<string, string> = { auth_scheme: scheme, push_path: push.path, event_type: eventType, ...huaweiAppAttributes(app) };

    let envelopes: RawEnvelope[];
    let topic: string;
    if (eventType === 'fee') {
      const feeLst = doc['feeLst'];
      if (!Array.isArray(feeLst) || feeLst.length < 1 || feeLst.length > MAX_FEE_RECORDS) {
        return reply(400, 'bad_request', '1010002', `Invalid request: feeLst must hold 1 to ${MAX_FEE_RECORDS} records`);
      }
      if (!feeLst.every(isObject)) return reply(400, 'bad_request', '1010002', 'Invalid request: every feeLst element must be an object');
      // Each CDR is cut out of the push byte-for-byte; the re-serialised form is only a fallback if the scan disagrees.
      const rawTexts = rawArrayElements(text, 'feeLst');
      const exact = rawTexts !== undefined && rawTexts.length === feeLst.length;
      const problems: string[] = [];
      envelopes = feeLst.map((record, index) => {
        const payload = exact ? rawTexts[index]! : JSON.stringify(record);
        const { key, source } = huaweiNaturalKey(record, payload);
        // An oversized key would reach Kafka's partitioner (seconds of hashing for 500 KB) and every key-based store.
        const problem = naturalKeyProblem(key, source) ?? recordSizeProblem(payload);
        if (problem !== null) problems.push(`feeLst[${index}]: ${problem}`);
        return {
          ...base,
          natural_key: key,
          payload,
          attributes: { ...commonAttributes, batch_size: String(feeLst.length), batch_index: String(index), key_source: source },
        };
      });
      // The whole push is refused (nothing stored): Huawei never sends such a record, and a stored half-push would be
      // re-pushed whole anyway.
      if (problems.length > 0) return reply(400, 'bad_request', '1010002', `Invalid request: ${problems[0]}`);
      topic = config.topics.fee;
      if (config.recordingLinks.enabled) {
        // Bounded by its own deadline and never throws: a slow or failing recording API costs at most timeoutMs and
        // never refuses or loses the push (see recording-links.ts for why this runs before the publish).
        const links = await resolveRecordingLinks(feeLst, { ...config.recordingLinks, appKey: app.appKey, appSecret: app.appSecret, now: ctx.now });
        links.forEach((attributes, index) => {
          if (attributes) Object.assign(envelopes[index]!.attributes, attributes);
        });
      }
    } else {
      // Any other eventType with a statusInfo object is a call event (callin/callout/alerting/answer/disconnect, or a
      // type Huawei adds later): kept raw on its own topic rather than refused into six pointless re-pushes.
      const statusInfo = doc['statusInfo'];
      if (!isObject(statusInfo)) {
        // Say why statusInfo is wanted: a mistyped "fee" reads as a call event.
        return reply(400, 'bad_request', '1010002', `Invalid request: eventType ${quote(eventType, 40)} is not "fee", so the push is a call event, whose statusInfo must be an object`);
      }
      const { key, source } = huaweiNaturalKey(statusInfo, text);
      const problem = naturalKeyProblem(key, source);
      if (problem !== null) return reply(400, 'bad_request', '1010002', `Invalid request: statusInfo: ${problem}`);
      // The whole event is the stored record, so it has a fee record's size limit (normalize would dead-letter it).
      const size = recordSizeProblem(text);
      if (size !== null) return reply(400, 'bad_request', '1010002', `Invalid request: call event: ${size}`);
      envelopes = [{ ...base, natural_key: key, payload: text, attributes: { ...commonAttributes, key_source: source } }];
      topic = config.topics.events;
    }

    try {
      await ctx.publish(envelopes, topic);
    } catch (err) {
      return failure('unavailable', push, err instanceof Error ? err.message : String(err));
    }
    // Huawei judges by HTTP 200; the VoiceCall sibling also reads this body, so it does no harm to send it.
    return reply(200, 'accepted', '0', 'Success', { records: envelopes.length });
  };

  return {
    name: 'huawei-privatenumber',
    paths: [...new Set([config.feePath, config.eventPath])],
    topics: [...new Set([config.topics.fee, config.topics.events])],
    methods: ['POST'],
    authorize,
    handle,
    failure,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
