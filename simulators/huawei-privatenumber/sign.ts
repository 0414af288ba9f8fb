// The stand-in's own Huawei PrivateNumber auth (docs/vendors.md §4 "Auth"), written from the vendor's description
// and not shared with connectors/huawei-privatenumber/aksk.ts on purpose: a mistake common to the receiver and to
// what tests it would otherwise go unnoticed. X-AKSK digest = Base64(HMAC-SHA256(key = APP_Secret, Nonce + Created)),
// legacy X-WSSE digest = Base64(SHA256(Nonce + Created + APP_Secret)); both Base64 the raw digest bytes.
import { createHash, createHmac, randomUUID } from 'node:crypto';

export type HuaweiScheme = 'aksk' | 'wsse';

export function huaweiDigest(scheme: HuaweiScheme, appSecret: string, nonce: string, created: string): string {
  return scheme === 'aksk'
    ? createHmac('sha256', Buffer.from(appSecret, 'utf8')).update(Buffer.from(nonce + created, 'utf8')).digest('base64')
    : createHash('sha256').update(Buffer.from(nonce + created + appSecret, 'utf8')).digest('base64');
}

/** The two headers a Huawei client sends; Created is UTC to the second, as `2018-02-12T15:30:20Z`. */
export function huaweiAuthHeaders(
  appKey: string,
  appSecret: string,
  opts: { scheme?: HuaweiScheme; nowMs?: number; nonce?: string } = {},
): Record<string, string> {
  const scheme = opts.scheme ?? 'aksk';
  const nonce = opts.nonce ?? randomUUID().replaceAll('-', '');
  const created = `${new Date(opts.nowMs ?? Date.now()).toISOString().slice(0, 19)}Z`;
  const digest = huaweiDigest(scheme, appSecret, nonce, created);
  return {
    authorization: `${scheme.toUpperCase()} realm="SDP",profile="UsernameToken",type="Appkey"`,
    [`x-${scheme}`]: `UsernameToken Username="${appKey}",PasswordDigest="${digest}",Nonce="${nonce}",Created="${created}"`,
  };
}

export type HuaweiAuthCheck =
  | { ok: true; appKey: string; createdMs: number }
  | { ok: false; status: 400 | 401; resultcode: string; resultdesc: string };

/** `name="value"` pairs, quotes optional (the WSSE demos leave them out). */
function pairs(text: string): Map<string, string> {
  return new Map([...text.matchAll(/(\w+)\s*=\s*"?([^",]*)"?/g)].map((m) => [m[1]!, m[2]!.trim()]));
}

/**
 * Checks X-AKSK credentials as the platform does, naming the first missing or wrong part with Huawei's result code.
 * A missing or malformed part (1023006–1023038) is HTTP 400, as the result-code table of the VoiceCall twin lists it
 * (the PrivateNumber pages give the codes without a status); the others' status is not documented: 401 is assumed.
 */
export function checkAksk(headers: Record<string, string | string[] | undefined>, secrets: ReadonlyMap<string, string>): HuaweiAuthCheck {
  const refuse = (resultcode: string, resultdesc: string): HuaweiAuthCheck => ({ ok: false, status: resultcode.startsWith('1023') ? 400 : 401, resultcode, resultdesc });
  const first = (name: string) => [headers[name]].flat()[0]?.trim() ?? '';
  const authorization = first('authorization');
  if (!/^AKSK\s/i.test(authorization)) return refuse('1023006', 'No AKSK Authorization header');
  const auth = pairs(authorization.slice(5));
  if (!auth.has('realm')) return refuse('1023007', 'No realm');
  if (!auth.has('profile')) return refuse('1023008', 'No profile');
  if (auth.get('realm') !== 'SDP') return refuse('1023009', 'realm must be SDP');
  if (auth.get('profile') !== 'UsernameToken') return refuse('1023010', 'profile must be UsernameToken');
  if (!auth.has('type')) return refuse('1023012', 'No type');
  if (auth.get('type') !== 'Appkey') return refuse('1023011', 'type must be Appkey');
  const token = first('x-aksk');
  if (token === '') return refuse('1023033', 'No X-AKSK header');
  if (!token.startsWith('UsernameToken')) return refuse('1023038', 'No UsernameToken');
  const p = pairs(token.slice('UsernameToken'.length));
  const [username, nonce, created, digest] = ['Username', 'Nonce', 'Created', 'PasswordDigest'].map((k) => p.get(k) ?? '');
  if (!username) return refuse('1023034', 'No Username');
  if (!nonce) return refuse('1023035', 'No Nonce');
  if (!created) return refuse('1023036', 'No Created');
  if (!digest) return refuse('1023037', 'No PasswordDigest');
  const createdMs = Date.parse(created);
  if (!/^[0-9A-Za-z]{1,128}$/.test(nonce) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(created) || Number.isNaN(createdMs)) {
    return refuse('1010002', 'Invalid request');
  }
  const secret = secrets.get(username);
  if (secret === undefined || huaweiDigest('aksk', secret, nonce, created) !== digest) return refuse('1010003', 'Invalid app_key');
  return { ok: true, appKey: username, createdMs };
}
