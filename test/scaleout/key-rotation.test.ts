// Issue 12, finding 7: rotating the signing key and the refresh MAC secret logs no one out. Three
// instances on one Redis and one PostgreSQL, under a steady load of refreshes (round-robin, so a
// token minted by one instance is refreshed on the next) and access-token checks on yet another
// instance and in an external @latchkey/verify verifier. Both rotations go through the CLI, each
// asked for twice at once (exactly one wins). Short timings keep the file quick: keys reload every
// second and a new key is published 10 s before it is used.
//
// The verifier is set up as a cache that must learn keys ahead of use: JWKS refetches at most every
// 5 s, and a flood of tokens with made-up kids beside the load keeps that budget spent, so a token
// of a key the verifier has not seen yet is refused until the next refetch: it follows the new key
// without a refusal only because the key was published (10 s) before it signed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { latchkeyCli } from '../helpers/cli.js';
import { call, refresh, signup } from '../helpers/http.js';
import { TEST_SECRETS_KEY } from '../helpers/secrets.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { startFleet, type Fleet } from './cluster-env.js';
import { createVerifier, type Verifier } from '../../packages/verify/src/index.js';

const ISSUER = 'http://latchkey.test';
const LEAD_SEC = 10;

let redis: RedisProcess;
let db: TestDatabase;
let fleet: Fleet;
let env: Record<string, string>;

const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
const macIdOf = (refreshToken: string) => Buffer.from(refreshToken, 'base64url').readUInt16BE(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface KeyRow {
  kind: string;
  id: string;
  state: string;
}

async function keysList(): Promise<KeyRow[]> {
  const r = await latchkeyCli(env, 'keys', 'list', '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as KeyRow[];
}

describe('key rotation under load on three instances (Redis + PostgreSQL)', { timeout: 120_000 }, () => {
  before(async () => {
    await ensurePostgres();
    [redis, db] = await Promise.all([startRedis(), createTestDatabase()]);
    env = {
      LATCHKEY_REDIS_URL: redis.url,
      LATCHKEY_DATABASE_URL: db.url,
      LATCHKEY_SECRETS_KEY: TEST_SECRETS_KEY,
      LATCHKEY_ISSUER: ISSUER,
      LATCHKEY_KEY_RELOAD: '1',
      LATCHKEY_KEY_PUBLISH_LEAD: String(LEAD_SEC),
    };
    fleet = await startFleet(3, env);
  });
  after(async () => {
    await fleet?.stop();
    await redis?.stop();
    await db?.drop();
  });

  it('rotate and rotate-mac via the CLI: 0 failed refreshes, 0 refused access tokens, the verifier follows the new key', async () => {
    const urls = fleet.instances.map((s) => s.url);
    const base = urls[0]!;
    const viaInstance = (input: RequestInfo | URL, init?: RequestInit) => fetch(String(input).replace(ISSUER, base), init);
    const verifier: Verifier = createVerifier({ issuer: ISSUER, audience: ISSUER, fetch: viaInstance, unknownKidCooldownMs: 5000, jwksMaxAgeMs: 5000 });
    try {
      const u0 = await signup(base);
      await verifier.verify(u0.access_token);
      const [h, p, s] = u0.access_token.split('.') as [string, string, string];
      const bogusKid = (n: number) => `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), kid: `bogus${n}`.padEnd(43, 'x') })).toString('base64url')}.${p}.${s}`;

      const before = await keysList();
      const oldKid = kidOf(u0.access_token);
      assert.deepEqual(before.map((k) => `${k.kind}:${k.state}`).sort(), ['mac:active', 'signing:active']);
      // Sessions that sit idle through the whole rotation: their MAC-1 tokens must still refresh.
      const idle = await Promise.all(Array.from({ length: 3 }, (_, i) => signup(urls[i]!)));

      const failures: string[] = [];
      const seen = { kids: new Set<string>(), macIds: new Set<number>(), verifiedKids: new Set<string>() };
      let stop = false;
      let refreshes = 0;
      const loop = async (i: number) => {
        let token = (await signup(urls[i % 3]!)).refresh_token;
        for (let n = i; !stop; n++) {
          const r = await refresh(urls[n % 3]!, token);
          refreshes++;
          if (r.status !== 200) {
            failures.push(`refresh on ${n % 3}: ${r.status} ${r.text}`);
            return;
          }
          token = r.body.refresh_token;
          seen.macIds.add(macIdOf(token));
          const access = r.body.access_token;
          seen.kids.add(kidOf(access));
          const me = await call(urls[(n + 1) % 3]!, 'GET', '/auth/me', { token: access });
          if (me.status !== 200) failures.push(`access token of ${kidOf(access).slice(0, 8)} refused by instance ${(n + 1) % 3}: ${me.status}`);
          try {
            await verifier.verify(access);
            seen.verifiedKids.add(kidOf(access));
          } catch (e) {
            failures.push(`verifier refused ${kidOf(access).slice(0, 8)}: ${(e as Error).message}`);
          }
        }
      };
      const flood = async () => {
        for (let n = 0; !stop; n++) {
          await verifier.verify(bogusKid(n)).then(
            () => failures.push('a made-up kid was accepted'),
            () => {},
          );
          await sleep(20);
        }
      };
      const load = Promise.all([flood(), ...Array.from({ length: 6 }, (_, i) => loop(i))]);
      let newKid = '';
      try {
        await sleep(1500);

        // Both rotations, each asked for twice at once: exactly one of each pair rotates.
        const [r1, r2, m1, m2] = await Promise.all([
          latchkeyCli(env, 'keys', 'rotate', '--json'),
          latchkeyCli(env, 'keys', 'rotate', '--json'),
          latchkeyCli(env, 'keys', 'rotate-mac', '--json'),
          latchkeyCli(env, 'keys', 'rotate-mac', '--json'),
        ]);
        assert.deepEqual([r1.status, r2.status].sort(), [0, 3], `${r1.stdout}${r1.stderr}${r2.stdout}${r2.stderr}`);
        assert.deepEqual([m1.status, m2.status].sort(), [0, 3], `${m1.stdout}${m1.stderr}${m2.stdout}${m2.stderr}`);
        const signingRotation = JSON.parse((r1.status === 0 ? r1 : r2).stdout) as { id: string; activatesAt: string };
        const macRotation = JSON.parse((m1.status === 0 ? m1 : m2).stdout) as { id: string };
        newKid = signingRotation.id;
        const activatesAt = Date.parse(signingRotation.activatesAt);
        assert.equal(macRotation.id, '2');

        const pending = await keysList();
        assert.ok(Date.now() < activatesAt, 'listed before the activation');
        assert.equal(pending.find((k) => k.id === newKid)?.state, 'pending');
        assert.equal(pending.find((k) => k.kind === 'mac' && k.id === '2')?.state, 'pending');
        for (const row of pending) assert.deepEqual(Object.keys(row).sort(), ['activatesAt', 'alg', 'createdAt', 'id', 'kind', 'retiredAt', 'state'], 'no key material listed');

        // Published on every instance well before it signs.
        await sleep(activatesAt - Date.now() - 1500);
        for (const url of urls) {
          const jwks = (await call(url, 'GET', '/.well-known/jwks.json')).body as { keys: Array<{ kid: string }> };
          assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort(), 'both keys published');
        }
        assert.ok(!seen.kids.has(newKid), 'nothing signed with the pending key yet');
        assert.ok(!seen.macIds.has(2), 'nothing MACed with the pending secret yet');

        // Past its activation: everything new is signed and MACed with the new keys.
        await sleep(activatesAt - Date.now() + 2500);
      } finally {
        stop = true;
        await load;
      }
      assert.deepEqual(failures, []);
      assert.ok(refreshes > 60, `steady load (${refreshes} refreshes)`);
      assert.ok(seen.kids.has(newKid) && seen.kids.has(oldKid), 'tokens of both keys were issued under load');
      assert.ok(seen.verifiedKids.has(newKid), 'the external verifier accepted new-key tokens');
      assert.deepEqual([...seen.macIds].sort(), [1, 2]);

      for (const t of idle) {
        const r = await refresh(urls[2]!, t.refresh_token);
        assert.equal(r.status, 200, 'an idle session keeps its MAC-1 token');
        assert.equal(macIdOf(r.body.refresh_token), 2);
      }
      assert.equal((await call(urls[1]!, 'GET', '/auth/me', { token: u0.access_token })).status, 200, 'an old-key access token still works');
      assert.equal((await verifier.verify(u0.access_token)).sub, u0.user.id);
      const states = Object.fromEntries((await keysList()).map((k) => [`${k.kind}:${k.id}`, k.state]));
      assert.deepEqual(states, { [`signing:${oldKid}`]: 'retired', [`signing:${newKid}`]: 'active', 'mac:1': 'retired', 'mac:2': 'active' });
    } finally {
      await verifier.close();
    }
  });
});
