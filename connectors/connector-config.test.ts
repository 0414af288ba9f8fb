// A connector's own config check (the pollers built outside a job: tests, the demo's sections): an unknown key is
// named with the key it most likely meant, and one that is no near miss, which may be a secret pasted where a key
// goes, is counted, not shown (core/zod-issues.ts).
import { describe, expect, it } from 'vitest';
import type { PullConnectorDeps } from './poller/runtime.ts';
import { createCccConnector } from './tencent-ccc/index.ts';
import { createTrtcConnector } from './tencent-trtc/index.ts';

const deps = {} as PullConnectorDeps;
const refusal = (build: () => unknown): string => {
  try {
    build();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
};

describe('a connector refusing its config', () => {
  it('tencent-ccc: a misspelt key is named with the key meant, a pasted secret is not shown', () => {
    const message = refusal(() => createCccConnector({ secretId: 'AKID', secretKey: 'x', sdkAppIds: [1400000001], secretkye: 'x', 'pasted-7Hq2xZ': 1 }, deps));
    expect(message).toMatch(/Unrecognized key: "secretkye" \(did you mean "secretKey"\?\); an unknown key \(not shown/);
    expect(message).not.toContain('pasted-7Hq2xZ');
  });

  it('tencent-trtc: the same for an app item', () => {
    const message = refusal(() => createTrtcConnector({ apps: [{ sdkAppId: 1400000001, secretKey: 'x', secretKy: 'x', 'pasted-7Hq2xZ': 1 }] }, deps));
    expect(message).toMatch(/apps\.0: Unrecognized key: "secretKy" \(did you mean "secretKey"\?\); an unknown key \(not shown/);
    expect(message).not.toContain('pasted-7Hq2xZ');
  });
});
