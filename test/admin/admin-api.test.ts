// The admin API on the management listener, against the embedded server (SQLite): admin keys,
// users (list, search, show, disable, enable, delete), a user's sessions, keys. Disabling is the
// part that must hold under use: the user's live access tokens are refused at once, refresh and
// login fail with stable reasons, and enabling lets the user log in again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAdminKey, revokeAdminKey } from '../../packages/server/src/auth/admin.js';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let admin: string;
let key: string;
let keyId: string;

const as = (k: string | null) => (k === null ? {} : { headers: { authorization: `Bearer ${k}` } });

describe('admin API', () => {
  before(async () => {
    srv = await startServer();
    admin = await srv.latchkey.admin!.listen({ port: 0, host: '127.0.0.1' });
    // The first key is made as the CLI makes it (no API key exists yet to ask with).
    const made = await createAdminKey(srv.latchkey.ctx, 'test', 'cli');
    key = made.key;
    keyId = made.id;
  });
  after(() => srv.close());

  it('refuses calls without a key, with a malformed, unknown or revoked one, and is absent from the public port', async () => {
    for (const [label, k] of [
      ['none', null],
      ['malformed', 'hello'],
      ['unknown', `lka_${'A'.repeat(11)}_${'B'.repeat(43)}`],
      ['right id, wrong secret', `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`],
    ] as const) {
      const r = await call(admin, 'GET', '/admin/users', as(k));
      assert.equal(r.status, 401, label);
      assert.equal(r.body.reason, 'admin_key_invalid', label);
    }
    const other = await createAdminKey(srv.latchkey.ctx, 'to revoke', 'cli');
    assert.equal((await call(admin, 'GET', '/admin/users', as(other.key))).status, 200);
    assert.equal((await call(admin, 'DELETE', `/admin/admin-keys/${other.id}`, as(key))).status, 204);
    assert.equal((await call(admin, 'GET', '/admin/users', as(other.key))).status, 401, 'revoked at once');
    assert.equal((await call(srv.url, 'GET', '/admin/users', as(key))).status, 404, 'not on the public port');
    const refused = srv.events('admin.refused').map((e) => e.reason);
    for (const r of ['malformed_or_missing', 'unknown_key', 'wrong_secret', 'revoked_key']) assert.ok(refused.includes(r), r);
  });

  it('lists users a page at a time and searches by address', async () => {
    const tag = `page${Date.now()}`;
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await signup(srv.url, `${tag}-${i}@example.com`));
    const p1 = await call(admin, 'GET', `/admin/users?email=${tag}&limit=2`, as(key));
    assert.equal(p1.status, 200);
    assert.deepEqual(p1.body.users.map((u: { email: string }) => u.email), [`${tag}-0@example.com`, `${tag}-1@example.com`]);
    assert.equal(p1.body.next, `${tag}-1@example.com`);
    const p3 = await call(admin, 'GET', `/admin/users?email=${tag}&limit=2&after=${encodeURIComponent(`${tag}-3@example.com`)}`, as(key));
    assert.deepEqual(p3.body.users.map((u: { email: string }) => u.email), [`${tag}-4@example.com`]);
    assert.equal(p3.body.next, null);
    const one = await call(admin, 'GET', `/admin/users/${made[0]!.user.id}`, as(key));
    assert.equal(one.body.user.email, `${tag}-0@example.com`);
    assert.equal(one.body.user.sessions, 1);
    assert.equal(one.body.user.disabled, false);
    assert.ok(!JSON.stringify(one.body).includes('argon2'), 'no password hash in an answer');
    assert.equal((await call(admin, 'GET', '/admin/users?limit=abc', as(key))).status, 400);
    assert.equal((await call(admin, 'GET', `/admin/users/${crypto.randomUUID()}`, as(key))).status, 404);
  });

  it('disable: live access tokens refused at once, refresh and login refused; enable: login works again', async () => {
    const email = uniqueEmail();
    const u = await signup(srv.url, email);
    const second = await call(srv.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 200);
    const d = await call(admin, 'POST', `/admin/users/${u.user.id}/disable`, as(key));
    assert.equal(d.status, 200);
    assert.equal(d.body.user.disabled, true);
    assert.equal(d.body.user.sessionsEnded, 2);
    for (const t of [u.access_token, second.body.access_token]) {
      const me = await call(srv.url, 'GET', '/auth/me', { token: t });
      assert.equal(me.status, 401);
      assert.equal(me.body.reason, 'session_revoked');
    }
    const r = await refresh(srv.url, u.refresh_token);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    const login = await call(srv.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    assert.equal(login.status, 403);
    assert.deepEqual(login.body, { error: 'access_denied', error_description: 'this account is disabled', reason: 'account_disabled' });
    const wrong = await call(srv.url, 'POST', '/auth/login', { json: { email, password: 'not the password at all' } });
    assert.equal(wrong.status, 401, 'a wrong password learns nothing about the account');
    const again = await call(srv.url, 'POST', '/auth/signup', { json: { email, password: 'another good password' } });
    assert.equal(again.status, 403);
    assert.equal(again.body.reason, 'account_disabled');
    const e = await call(admin, 'POST', `/admin/users/${u.user.id}/enable`, as(key));
    assert.equal(e.body.user.disabled, false);
    assert.equal((await call(srv.url, 'POST', '/auth/login', { json: { email, password: u.password } })).status, 200);
    const events = srv.events('admin.user_disabled');
    assert.ok(events.some((x) => x.actor === `key:${keyId}` && x.targetUserId === u.user.id), 'a security event names the key');
  });

  it("a user's sessions: list, end one, end all", async () => {
    const email = uniqueEmail();
    const u = await signup(srv.url, email);
    const b = await call(srv.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    const c = await call(srv.url, 'POST', '/auth/login', { json: { email, password: u.password } });
    const list = await call(admin, 'GET', `/admin/users/${u.user.id}/sessions`, as(key));
    assert.equal(list.body.sessions.length, 3);
    const sid = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).sid as string;
    assert.equal((await call(admin, 'DELETE', `/admin/users/${u.user.id}/sessions/${sid(b.body.access_token)}`, as(key))).status, 204);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: b.body.access_token })).status, 401);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: c.body.access_token })).status, 200);
    const other = await signup(srv.url);
    assert.equal((await call(admin, 'DELETE', `/admin/users/${other.user.id}/sessions/${sid(c.body.access_token)}`, as(key))).status, 404, "another user's session");
    const all = await call(admin, 'DELETE', `/admin/users/${u.user.id}/sessions`, as(key));
    assert.equal(all.body.sessionsEnded, 2);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: c.body.access_token })).status, 401);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 401);
  });

  it('delete: the account and its sessions are gone, and the address can sign up again', async () => {
    const email = uniqueEmail();
    const u = await signup(srv.url, email);
    const del = await call(admin, 'DELETE', `/admin/users/${u.user.id}`, as(key));
    assert.equal(del.status, 200);
    assert.equal(del.body.sessionsEnded, 1);
    assert.equal((await call(srv.url, 'GET', '/auth/me', { token: u.access_token })).status, 401);
    assert.equal((await call(admin, 'GET', `/admin/users/${u.user.id}`, as(key))).status, 404);
    assert.equal((await call(srv.url, 'POST', '/auth/signup', { json: { email, password: 'a brand new password' } })).status, 201);
  });

  it('keys: states and dates, never key material; admin keys listed without their secret', async () => {
    const k = await call(admin, 'GET', '/admin/keys', as(key));
    assert.equal(k.status, 200);
    const kinds = k.body.keys.map((x: { kind: string; state: string }) => `${x.kind}:${x.state}`);
    assert.ok(kinds.includes('signing:active') && kinds.includes('mac:active'), kinds.join());
    assert.doesNotMatch(k.text, /"d"|private|secret/i);
    const made = await call(admin, 'POST', '/admin/admin-keys', { ...as(key), json: { name: 'made by the API' } });
    assert.equal(made.status, 201);
    assert.match(made.body.adminKey.key, /^lka_/);
    const list = await call(admin, 'GET', '/admin/admin-keys', as(key));
    assert.ok(list.body.adminKeys.some((x: { name: string }) => x.name === 'made by the API'));
    assert.ok(!list.text.includes(made.body.adminKey.key.slice(-43)), 'the key is shown once only');
    assert.equal((await call(admin, 'POST', '/admin/admin-keys', { ...as(key), json: { name: ' ' } })).status, 400);
    await revokeAdminKey(srv.latchkey.ctx, made.body.adminKey.id, 'cli');
    assert.equal((await call(admin, 'GET', '/admin/keys', as(made.body.adminKey.key))).status, 401);
  });

  it('keys/rotate and rotate-mac: a pending key each (201), a second call while pending rotates nothing (200), states listed', async () => {
    for (const [path, kind] of [['/admin/keys/rotate', 'signing'], ['/admin/keys/rotate-mac', 'mac']] as const) {
      const first = await call(admin, 'POST', path, as(key));
      assert.equal(first.status, 201);
      assert.equal(first.body.rotation.kind, kind);
      assert.equal(first.body.rotation.rotated, true);
      assert.ok(Date.parse(first.body.rotation.activatesAt) > Date.now() + 3500_000, 'activates one publish lead (1 h) later');
      const again = await call(admin, 'POST', path, as(key));
      assert.equal(again.status, 200);
      assert.deepEqual(again.body.rotation, { ...first.body.rotation, rotated: false });
      const listed = (await call(admin, 'GET', '/admin/keys', as(key))).body.keys as Array<{ kind: string; id: string; state: string }>;
      assert.equal(listed.find((k) => k.kind === kind && k.id === first.body.rotation.id)?.state, 'pending');
      assert.equal(srv.events('keys.rotated').filter((e) => e.keyKind === kind && e.actor === `key:${keyId}`).length, 1);
    }
    assert.equal((await call(admin, 'POST', '/admin/keys/rotate')).status, 401);
  });
});
