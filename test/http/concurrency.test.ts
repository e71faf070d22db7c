// Concurrent refreshes of one token through HTTP: the normal case for several tabs, SSR, retries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { DpopKey } from '../helpers/dpop.js';
import { startServer } from '../helpers/server.js';

describe('50 parallel refreshes of one token', () => {
  it('grace 0: exactly one 200, the rest invalid_grant, and the session revoked afterwards', async () => {
    const srv = await startServer({ LATCHKEY_REUSE_GRACE: '0' });
    try {
      const u = await signup(srv.url);
      const results = await Promise.all(Array.from({ length: 50 }, () => refresh(srv.url, u.refresh_token)));
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, results.map((r) => r.status).join(','));
      for (const r of results.filter((r) => r.status !== 200)) {
        assert.equal(r.status, 400);
        assert.equal(r.body.error, 'invalid_grant');
      }
      assert.equal((await refresh(srv.url, ok[0]!.body.refresh_token)).status, 400, 'the winner’s token died with the session');
      assert.equal((await call(srv.url, 'GET', '/auth/me', { token: ok[0]!.body.access_token })).status, 401);
      assert.equal(srv.events('session.rotated').length, 1);
      assert.ok(srv.events('session.reuse_detected').length >= 1);
    } finally {
      await srv.close();
    }
  });

  it('grace 10, a DPoP-bound session: all 50 succeed with one and the same successor, which keeps working', async () => {
    const srv = await startServer({ LATCHKEY_REUSE_GRACE: '10' });
    try {
      const key = new DpopKey();
      const u = await key.signup(srv.url, uniqueEmail());
      assert.equal(u.body.token_type, 'DPoP');
      const results = await Promise.all(Array.from({ length: 50 }, () => key.refresh(srv.url, u.body.refresh_token)));
      assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
      const successors = new Set(results.map((r) => r.body.refresh_token));
      assert.equal(successors.size, 1, 'no fork of the token family');
      assert.equal(new Set(results.map((r) => r.body.access_token)).size, 50, 'each caller gets its own access token');
      assert.equal(srv.events('session.rotated').length, 1, 'one generation advance');
      assert.equal(srv.events('session.reuse_detected').length, 0);
      const [successor] = successors;
      const next = await key.refresh(srv.url, successor!);
      assert.equal(next.status, 200);
      assert.equal((await key.resource(srv.url, 'GET', '/auth/me', next.body.access_token)).status, 200);
    } finally {
      await srv.close();
    }
  });

  it('grace 10, a Bearer session: one rotation and at most 3 grace answers share the successor; the next replay is reuse', async () => {
    const srv = await startServer({ LATCHKEY_REUSE_GRACE: '10' });
    try {
      const u = await signup(srv.url);
      const results = await Promise.all(Array.from({ length: 50 }, () => refresh(srv.url, u.refresh_token)));
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 4, results.map((r) => r.status).join(','));
      assert.equal(new Set(ok.map((r) => r.body.refresh_token)).size, 1, 'no fork of the token family');
      assert.equal(srv.events('session.rotated').length, 1, 'one generation advance');
      assert.equal(srv.events('session.grace_replay').length, 3);
      assert.equal(srv.events('session.reuse_detected').length, 1);
      assert.ok(results.filter((r) => r.status !== 200).every((r) => (r.body as { reason?: string }).reason === 'refresh_token_reused'), 'every other caller learns why');
    } finally {
      await srv.close();
    }
  });
});
