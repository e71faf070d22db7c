// Issue 10 in scale-out: three instances on one Redis and one PostgreSQL, mail through a real SMTP
// server. A reset through one instance ends every session of the user: their access tokens are
// refused at once on every instance (the revocation feed), their refresh tokens get invalid_grant.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { createTestDatabase, ensurePostgres, type TestDatabase } from '../harness/postgres.js';
import { startRedis, type RedisProcess } from '../harness/redis.js';
import { startSmtp, type SmtpHarness } from '../harness/smtp.js';
import { startFleet, type Fleet } from './cluster-env.js';

let redis: RedisProcess;
let db: TestDatabase;
let smtp: SmtpHarness;
let fleet: Fleet;

describe('password reset across three instances (Redis + PostgreSQL)', { timeout: 180_000 }, () => {
  before(async () => {
    await ensurePostgres();
    [redis, db, smtp] = await Promise.all([startRedis(), createTestDatabase(), startSmtp()]);
    fleet = await startFleet(3, { LATCHKEY_REDIS_URL: redis.url, LATCHKEY_DATABASE_URL: db.url, LATCHKEY_SMTP_URL: smtp.url });
  });
  after(async () => {
    await fleet?.stop();
    await Promise.all([redis?.stop(), db?.drop(), smtp?.stop()]);
  });

  it('a reset through one instance: every session’s access token is refused at once on every instance; refresh tokens invalid_grant', async (t) => {
    const email = uniqueEmail();
    const u = await signup(fleet.instances[0]!.url, email);
    const sessions = [{ access: u.access_token, refresh: u.refresh_token }];
    for (const s of fleet.instances.slice(1)) {
      const l = await call(s.url, 'POST', '/auth/login', { json: { email, password: u.password } });
      sessions.push({ access: l.body.access_token, refresh: l.body.refresh_token });
    }
    for (const s of fleet.instances) for (const x of sessions) assert.equal((await call(s.url, 'GET', '/auth/me', { token: x.access })).status, 200);

    // Asked on one instance, reset on another: the link works wherever it is followed.
    assert.equal((await call(fleet.instances[1]!.url, 'POST', '/auth/password/forgot', { json: { email } })).status, 202);
    const mail = await smtp.waitFor(email, (m) => /Reset your/.test(m.subject));
    const sent = Date.now();
    const r = await call(fleet.instances[2]!.url, 'POST', '/auth/password/reset', { json: { token: mail.token, password: 'a fresh passphrase 77' } });
    assert.equal(r.status, 204);
    // "At once": the very first request after the reset's answer, on every instance, with every
    // session's access token, is refused (no polling, no waiting for the feed to catch up).
    const firsts = await Promise.all(
      fleet.instances.flatMap((s) => sessions.map(async (x) => ({ me: await call(s.url, 'GET', '/auth/me', { token: x.access }), ms: Date.now() - sent }))),
    );
    t.diagnostic(`first request after the reset, per instance and session: ${firsts.map((f) => `${f.me.status} in ${f.ms} ms`).join(', ')}`);
    for (const f of firsts) {
      assert.equal(f.me.status, 401);
      assert.equal(f.me.body.reason, 'session_revoked');
    }
    for (const [i, x] of sessions.entries()) {
      const rr = await refresh(fleet.instances[i]!.url, x.refresh);
      assert.equal(rr.status, 400);
      assert.equal(rr.body.error, 'invalid_grant');
    }
    assert.equal((await call(fleet.next(), 'POST', '/auth/login', { json: { email, password: 'a fresh passphrase 77' } })).status, 200);
    // The per-address reset counter (and every other key) names the address only by a hash.
    const r2 = new Redis(redis.url);
    try {
      const keys = await r2.keys('*');
      assert.ok(keys.some((k) => k.includes('forgot:email:')), 'the per-address counter exists');
      assert.ok(!keys.some((k) => k.toLowerCase().includes(email.toLowerCase())), 'no Redis key holds the address');
    } finally {
      r2.disconnect();
    }
    const reuse = await call(fleet.instances[0]!.url, 'POST', '/auth/password/reset', { json: { token: mail.token, password: 'a fresh passphrase 78' } });
    assert.equal(reuse.body.reason, 'link_token_invalid', 'used up on every instance');
  });
});
