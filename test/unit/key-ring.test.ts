// The key ring's clock on a real store (SQLite, sealed like in production), with a fake clock:
// pending keys publish before they sign, the scheduled rotation happens once per interval however
// many instances run it, and MAC secrets verify until no session can hold their tokens.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { keyTimings } from '../../packages/server/src/auth/context.js';
import { loadConfig } from '../../packages/server/src/config.js';
import { decodeRefreshToken, encodeRefreshToken } from '../../packages/server/src/domain/refresh-token.js';
import { KeyRing } from '../../packages/server/src/keys/key-ring.js';
import { openStores } from '../../packages/server/src/store/open.js';
import { tempDataDir } from '../helpers/server.js';

const DAY = 86_400_000;
const SID = 'AAAAAAAAAAAAAAAAAAAAAA';

async function rings(n: number, env: Record<string, string>) {
  const dir = tempDataDir();
  const config = loadConfig({ LATCHKEY_DATA_DIR: dir, ...env });
  let t = 1_800_000_000_000;
  const now = () => t;
  const stores = await Promise.all(Array.from({ length: n }, () => openStores(config)));
  const all = stores.map((s) => new KeyRing(s.keys, config.alg, keyTimings(config), now));
  for (const r of all) await r.init();
  return {
    all,
    config,
    advance: (ms: number) => (t += ms),
    async close() {
      await Promise.all(stores.map((s) => s.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('key ring', () => {
  it('a pending signing key is published at once and signs from its activation; the old one stays published for the access-token horizon', async () => {
    const k = await rings(1, { LATCHKEY_KEY_PUBLISH_LEAD: '3600', LATCHKEY_ACCESS_TTL: '300' });
    try {
      const [ring] = k.all as [KeyRing];
      const old = ring.signingKey().kid;
      const next = await ring.rotate();
      assert.ok(next);
      assert.equal(await ring.rotate(), null, 'a second rotation while one is pending changes nothing');
      assert.deepEqual(ring.jwks().keys.map((j) => j.kid).sort(), [old, next].sort());
      assert.ok(ring.verificationKey(next), 'pending keys verify already');
      k.advance(3600_000 - 1);
      assert.equal(ring.signingKey().kid, old);
      k.advance(1);
      assert.equal(ring.signingKey().kid, next, 'switches at the activation time without a reload');
      k.advance(305_000 - 1);
      assert.ok(ring.verificationKey(old));
      k.advance(1);
      assert.equal(ring.verificationKey(old), undefined);
      await ring.reload();
      assert.deepEqual(ring.jwks().keys.map((j) => j.kid), [next]);
    } finally {
      await k.close();
    }
  });

  it('scheduled rotation: three instances on one store rotate once per interval, signing key and MAC secret', async () => {
    const k = await rings(3, { LATCHKEY_KEY_PUBLISH_LEAD: '3600', LATCHKEY_KEY_ROTATION: String(30 * 86_400) });
    try {
      const interval = k.config.keyRotationSec! * 1000;
      const due = async () => (await Promise.all(k.all.map((r) => r.rotateIfDue(interval)))).map((r) => [r.signing !== null, r.mac !== null]);
      assert.deepEqual(await due(), [[false, false], [false, false], [false, false]], 'fresh keys are not due');
      // Due when the next key, activating one lead from now, would follow the current after one interval.
      k.advance(interval - 3600_000 - 1);
      assert.deepEqual((await due()).flat().filter(Boolean), []);
      k.advance(1);
      const r = await due();
      assert.equal(r.filter(([s]) => s).length, 1, 'exactly one instance added the signing key');
      assert.equal(r.filter(([, m]) => m).length, 1, 'exactly one instance added the MAC secret');
      assert.deepEqual((await due()).flat().filter(Boolean), [], 'nothing more while they are pending');
      for (const ring of k.all) await ring.reload();
      assert.equal(new Set(k.all.map((ring) => ring.mac.current.id)).size, 1);
      assert.equal(k.all[0]!.mac.current.id, 1, 'the new MAC secret is not used before its activation');
      assert.ok(k.all[2]!.mac.byId.has(2), 'but every instance verifies with it already');
      k.advance(3600_000);
      assert.deepEqual(k.all.map((ring) => ring.mac.current.id), [2, 2, 2]);
    } finally {
      await k.close();
    }
  });

  it('an old MAC secret verifies for a whole session lifetime after its successor took over, then is dropped', async () => {
    const k = await rings(1, { LATCHKEY_KEY_PUBLISH_LEAD: '60', LATCHKEY_SESSION_TTL: String(30 * 86_400) });
    try {
      const [ring] = k.all as [KeyRing];
      const old = encodeRefreshToken(ring.mac, { sessionId: SID, generation: 3 });
      await ring.rotateMac();
      k.advance(60_000);
      assert.equal(ring.mac.current.id, 2);
      k.advance(30 * DAY);
      assert.ok(decodeRefreshToken(ring.mac, old), 'still verifies at the session lifetime');
      k.advance(60_000 + 1);
      await ring.rotateMac({ leadMs: 0 });
      assert.equal(decodeRefreshToken(ring.mac, old), null, 'dropped after the lifetime plus the lead');
      assert.deepEqual([...ring.mac.byId.keys()], [2, 3]);
    } finally {
      await k.close();
    }
  });
});
