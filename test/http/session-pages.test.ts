// GET /auth/sessions pages (issue 12): keyset by (createdAt, id), `next_cursor` until null, the
// old `sessions` member kept for old clients, and a bad limit or cursor is a 400 invalid_request.
// The flood at 100k sessions is test/scaleout/session-flood-*.test.ts.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { call, signup, type Res } from '../helpers/http.js';
import { startServer } from '../helpers/server.js';

it('pages through a user’s sessions oldest first, and refuses a bad limit or cursor with 400 invalid_request', async () => {
  const srv = await startServer();
  try {
    const u = await signup(srv.url);
    for (let i = 0; i < 4; i++) {
      const r = await call(srv.url, 'POST', '/auth/login', { json: { email: u.email, password: u.password } });
      assert.equal(r.status, 200);
    }
    const all = await call(srv.url, 'GET', '/auth/sessions', { token: u.access_token });
    assert.equal(all.status, 200);
    assert.equal(all.body.sessions.length, 5);
    assert.equal(all.body.next_cursor, null);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Res = await call(srv.url, 'GET', `/auth/sessions?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: u.access_token });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.body.sessions.length <= 2);
      seen.push(...r.body.sessions.map((s: { id: string }) => s.id));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, all.body.sessions.map((s: { id: string }) => s.id));
    for (const q of ['limit=0', 'limit=1001', 'limit=x', 'limit=1.5', 'cursor=nope', `cursor=1.${'A'.repeat(21)}`, 'cursor=', 'other=1']) {
      const r = await call(srv.url, 'GET', `/auth/sessions?${q}`, { token: u.access_token });
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.body.error, 'invalid_request', q);
    }
  } finally {
    await srv.close();
  }
});
