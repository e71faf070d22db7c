// /metrics on the management listener: parsed with a real Prometheus text-format parser, its
// counters move with the requests the test makes, names follow Prometheus conventions, and no
// label carries a user id, session id, email or token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import parsePrometheus, { type MetricFamily } from 'parse-prometheus-text-format';
import { call, refresh, signup, uniqueEmail } from '../helpers/http.js';
import { removeDir, spawnServer, startServer, tempDataDir, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let adminUrl: string;

interface Scrape {
  families: MetricFamily[];
  text: string;
}

async function scrape(): Promise<Scrape> {
  const r = await fetch(`${adminUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  // The parser throws on any line that is not valid exposition format.
  return { families: parsePrometheus(text), text };
}

/** A counter's or gauge's value; a histogram's observation count (its `_count` series). */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const f = s.families.find((x) => x.name === name);
  if (!f) return 0;
  if (f.type === 'HISTOGRAM') {
    // parse-prometheus-text-format folds a labelled histogram's series into one, so the counts
    // are read from the (already validated) text: `<name>_count{labels} N`.
    for (const line of s.text.split('\n')) {
      const m = /^(\w+)_count\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const got = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
    }
    return 0;
  }
  const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m ? Number(m.value ?? 0) : 0;
}

describe('Prometheus metrics', () => {
  before(async () => {
    srv = await startServer();
    assert.ok(srv.latchkey.admin, 'a management app exists by default');
    adminUrl = await srv.latchkey.admin.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => srv.close());

  it('counters move with the requests made: sign-ups, logins, refresh outcomes, HTTP requests', async () => {
    const before = await scrape();
    const user = await signup(srv.url);
    const taken = await call(srv.url, 'POST', '/auth/signup', { json: { email: user.email, password: user.password } });
    assert.equal(taken.status, 409);
    const ok = await call(srv.url, 'POST', '/auth/login', { json: { email: user.email, password: user.password } });
    assert.equal(ok.status, 200);
    const bad = await call(srv.url, 'POST', '/auth/login', { json: { email: user.email, password: 'wrong password!' } });
    assert.equal(bad.status, 401);
    const r1 = await refresh(srv.url, user.refresh_token);
    assert.equal(r1.status, 200);
    const r2 = await refresh(srv.url, r1.body.refresh_token);
    assert.equal(r2.status, 200);
    assert.equal((await refresh(srv.url, user.refresh_token)).status, 400, 'two generations old: reuse');
    assert.equal((await refresh(srv.url, 'A'.repeat(80))).status, 400, 'forged');
    assert.equal((await call(srv.url, 'GET', '/nowhere')).status, 404);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    assert.equal(delta('latchkey_signup_total', { outcome: 'ok' }), 1);
    assert.equal(delta('latchkey_signup_total', { outcome: 'taken' }), 1);
    assert.equal(delta('latchkey_login_total', { outcome: 'ok' }), 1);
    assert.equal(delta('latchkey_login_total', { outcome: 'failed' }), 1);
    assert.equal(delta('latchkey_refresh_total', { outcome: 'rotate' }), 2);
    assert.equal(delta('latchkey_refresh_total', { outcome: 'reuse' }), 1);
    assert.equal(delta('latchkey_refresh_total', { outcome: 'forged' }), 1);
    assert.equal(delta('latchkey_http_requests_total', { route: '/auth/token', method: 'POST', status: '200' }), 2);
    assert.equal(delta('latchkey_http_requests_total', { route: '/auth/token', method: 'POST', status: '400' }), 2);
    assert.equal(delta('latchkey_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.equal(delta('latchkey_http_request_duration_seconds', { route: '/auth/login', method: 'POST' }), 2, 'histogram count');
    assert.ok(delta('latchkey_store_operation_duration_seconds', { store: 'sqlite', operation: 'rotate', result: 'ok' }) >= 3);
    assert.equal(value(after, 'latchkey_store_up', { store: 'sqlite' }), 1);
    assert.ok(value(after, 'latchkey_revoked_sessions') >= 1, 'the reuse revoked a session');
    assert.equal(value(after, 'latchkey_password_hash_in_flight'), 0);
    assert.ok(after.families.some((f) => f.name === 'nodejs_eventloop_lag_p99_seconds'), 'event-loop delay');
  });

  it('names follow Prometheus conventions; no label holds an id, an email or a token', async () => {
    const { families, text } = await scrape();
    const ours = families.filter((f) => f.name.startsWith('latchkey_'));
    for (const m of text.matchAll(/^latchkey_\w+\{([^}]*)\}/gm)) {
      assert.doesNotMatch(m[1]!, /@|[0-9a-f]{8}-[0-9a-f]{4}-|="(?=[^"]*\d)[A-Za-z0-9_-]{20,}"/, `label values in ${m[0]}`);
    }
    assert.ok(ours.length >= 10);
    for (const f of ours) {
      assert.match(f.name, /^latchkey_[a-z0-9_]+$/);
      if (f.type === 'COUNTER') assert.match(f.name, /_total$/, f.name);
      if (f.type === 'HISTOGRAM') assert.match(f.name, /_seconds$/, f.name);
      assert.ok(f.help.length > 10, `${f.name} has help`);
      for (const m of f.metrics) {
        for (const v of Object.values(m.labels ?? {})) {
          assert.doesNotMatch(v, /@|[0-9a-f]{8}-[0-9a-f]{4}-|^(?=[^"]*\d)[A-Za-z0-9_-]{20,}$/, `${f.name} label ${v}`);
        }
      }
    }
  });

  it('is not served on the public port', async () => {
    assert.equal((await call(srv.url, 'GET', '/metrics')).status, 404);
  });

  it('LATCHKEY_ADMIN_PORT=off: no management listener', async () => {
    const off = await startServer({ LATCHKEY_ADMIN_PORT: 'off' });
    try {
      assert.equal(off.latchkey.admin, null);
      assert.equal(off.latchkey.ctx.metrics.enabled, false);
    } finally {
      await off.close();
    }
  });

  it('`latchkey start` listens on the management port and names it at start', async () => {
    const dataDir = tempDataDir();
    const child = await spawnServer({ LATCHKEY_DATA_DIR: dataDir });
    try {
      assert.ok(child.adminUrl, child.output());
      assert.notEqual(new URL(child.adminUrl).port, String(child.port));
      assert.match(child.output(), /management \(metrics, admin API\) on http:\/\/127\.0\.0\.1:\d+/);
      const r = await fetch(`${child.adminUrl}/metrics`);
      assert.equal(r.status, 200);
      assert.ok(parsePrometheus(await r.text()).some((f) => f.name === 'latchkey_http_requests_total'));
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
      removeDir(dataDir);
    }
  });
});
